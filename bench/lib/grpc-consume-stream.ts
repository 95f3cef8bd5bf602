// A lean ConsumeStream client for the consume benchmarks: raw node:http2 gRPC (h2c), the request
// encoded by hand, the answers parsed from gRPC's length-prefixed frames by walking the protobuf
// wire (no message objects). For every record it reports the offset and a view of the value, and
// it checks that offsets are contiguous from the first one and that each answer's next_offset
// follows its last record: a reader that only counted bytes could not tell a gap or a duplicate.
// A Connect/protobuf-es client spent more CPU decoding a catch-up than the server spent sending it.
import http2 from "node:http2";

export type ConsumeStart = { offset: number } | { tailBack: number };

export interface ConsumeStreamRequest {
  topic: string;
  start: ConsumeStart;
  /** Records per answer asked for (0: the server's default). */
  maxRecords?: number;
}

export interface ConsumeStreamHandlers {
  /** Each record in order; `value` is a view valid during the call only. */
  onRecord(offset: number, value: Buffer): void;
  /** After each answer. Return false to end the stream (cancelled, not an error). */
  onAnswer?(records: number, nextOffset: number): boolean | undefined;
}

/** A ConsumeStream that ended with a non-zero grpc-status. */
export class GrpcStatusError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(`ConsumeStream: grpc-status ${code} ${decodeURIComponent(message)}`);
  }
}

/** Answer size per stream the server may send before the client's window update (loopback). */
const streamWindowBytes = 16 * 1024 * 1024;
const sessionWindowBytes = 64 * 1024 * 1024;

/** An h2c connection for ConsumeStreams, with large flow-control windows. */
export function connectConsumeSession(baseUrl: string): http2.ClientHttp2Session {
  const session = http2.connect(baseUrl, { settings: { initialWindowSize: streamWindowBytes } });
  session.on("connect", () => session.setLocalWindowSize(sessionWindowBytes));
  session.on("error", () => undefined);
  return session;
}

/**
 * Runs one ConsumeStream on `session` until `signal` aborts, `onAnswer` returns false (both
 * resolve), or the stream fails or ends otherwise (rejects: a ConsumeStream never ends by itself).
 */
export function consumeStream(
  session: http2.ClientHttp2Session,
  request: ConsumeStreamRequest,
  handlers: ConsumeStreamHandlers,
  signal: AbortSignal,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const stream = session.request({
      ":method": "POST",
      ":path": "/tidelog.v1.LogService/ConsumeStream",
      "content-type": "application/grpc",
      te: "trailers",
    });
    let settled = false;
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
      if (error === undefined) resolve();
      else reject(error);
    };
    const onAbort = () => finish();
    signal.addEventListener("abort", onAbort, { once: true });

    const parser = new AnswerParser(handlers, () => finish());
    let status: string | undefined;
    stream.on("response", (headers) => {
      if (headers[":status"] !== 200)
        finish(new Error(`ConsumeStream: HTTP status ${headers[":status"]}`));
      status = headers["grpc-status"] as string | undefined; // trailers-only answer
      if (status !== undefined && status !== "0")
        finish(new GrpcStatusError(Number(status), String(headers["grpc-message"] ?? "")));
    });
    stream.on("trailers", (trailers) => {
      status = trailers["grpc-status"] as string | undefined;
      if (status !== "0")
        finish(new GrpcStatusError(Number(status), String(trailers["grpc-message"] ?? "")));
    });
    stream.on("data", (chunk: Buffer) => {
      if (settled) return;
      try {
        parser.push(chunk);
      } catch (error) {
        finish(error as Error);
      }
    });
    stream.on("error", (error) => finish(error));
    stream.on("close", () => finish(new Error("ConsumeStream ended")));
    stream.end(grpcFrame(encodeConsumeRequest(request)));
  });
}

/** Reassembles gRPC frames from DATA chunks and walks each ConsumeResponse. */
class AnswerParser {
  private readonly pending: Buffer[] = [];
  private pendingBytes = 0;
  private expected: number | undefined;

  constructor(
    private readonly handlers: ConsumeStreamHandlers,
    private readonly stop: () => void,
  ) {}

  push(chunk: Buffer): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    for (;;) {
      if (this.pendingBytes < 5) return;
      const head = this.pending[0]!.length >= 5 ? this.pending[0]! : this.flatten();
      const length = head.readUInt32BE(1);
      if (head[0] !== 0) throw new Error(`unexpected gRPC frame flags ${head[0]}`);
      if (this.pendingBytes < 5 + length) return;
      const all = this.pending.length === 1 ? this.pending[0]! : this.flatten();
      const message = all.subarray(5, 5 + length);
      const rest = all.subarray(5 + length);
      this.pending.length = 0;
      this.pendingBytes = 0;
      if (rest.length > 0) {
        this.pending.push(rest);
        this.pendingBytes = rest.length;
      }
      if (!this.answer(message)) {
        this.stop();
        return;
      }
    }
  }

  private flatten(): Buffer {
    const all = Buffer.concat(this.pending, this.pendingBytes);
    this.pending.length = 0;
    this.pending.push(all);
    return all;
  }

  /** Walks one ConsumeResponse; returns false when the handler ends the stream. */
  private answer(message: Buffer): boolean {
    let at = 0;
    let records = 0;
    let nextOffset: number | undefined;
    while (at < message.length) {
      const tag = message[at++]!;
      if (tag === 0x0a) {
        const [length, start] = readVarint(message, at);
        at = start + length;
        if (at > message.length) throw new Error("truncated Record");
        this.record(message, start, at);
        records++;
      } else if (tag === 0x10) {
        [nextOffset, at] = readVarint(message, at);
      } else if (tag === 0x18) {
        [, at] = readVarint(message, at);
      } else {
        throw new Error(`unexpected ConsumeResponse tag ${tag}`);
      }
    }
    if (records === 0) throw new Error("a ConsumeStream answer without records");
    if (nextOffset !== this.expected)
      throw new Error(`next_offset ${nextOffset} after a record at ${this.expected! - 1}`);
    return this.handlers.onAnswer?.(records, this.expected!) !== false;
  }

  private record(message: Buffer, from: number, end: number): void {
    let offset = 0;
    let valueStart = from;
    let valueEnd = from;
    let at = from;
    while (at < end) {
      const tag = message[at++]!;
      switch (tag & 7) {
        case 0: {
          const [value, next] = readVarint(message, at);
          if (tag === 0x20) offset = value;
          at = next;
          break;
        }
        case 2: {
          const [length, start] = readVarint(message, at);
          if (tag === 0x0a) {
            valueStart = start;
            valueEnd = start + length;
          }
          at = start + length;
          break;
        }
        default:
          throw new Error(`unexpected Record tag ${tag}`);
      }
    }
    if (at !== end) throw new Error("Record overruns its length");
    if (this.expected !== undefined && offset !== this.expected)
      throw new Error(`record at offset ${offset}, expected ${this.expected}`);
    this.expected = offset + 1;
    this.handlers.onRecord(offset, message.subarray(valueStart, valueEnd));
  }
}

/** [value, position after it]; values below 2^53. */
function readVarint(buffer: Buffer, at: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (;;) {
    if (at >= buffer.length) throw new Error("truncated varint");
    const byte = buffer[at++]!;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return [value, at];
    scale *= 128;
  }
}

function varint(value: number): number[] {
  const bytes: number[] = [];
  while (value >= 128) {
    bytes.push((value % 128) | 128);
    value = Math.floor(value / 128);
  }
  bytes.push(value);
  return bytes;
}

/** ConsumeRequest { topic = 1; offset = 2; max_records = 3; start = 4; tail_back = 5 }. */
export function encodeConsumeRequest(request: ConsumeStreamRequest): Buffer {
  const topic = Buffer.from(request.topic, "utf8");
  const bytes: number[] = [0x0a, ...varint(topic.length), ...topic];
  if ("offset" in request.start) {
    if (request.start.offset > 0) bytes.push(0x10, ...varint(request.start.offset));
  } else {
    bytes.push(0x20, 2); // START_POSITION_TAIL
    if (request.start.tailBack > 0) bytes.push(0x28, ...varint(request.start.tailBack));
  }
  if ((request.maxRecords ?? 0) > 0) bytes.push(0x18, ...varint(request.maxRecords!));
  return Buffer.from(bytes);
}

function grpcFrame(message: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(5 + message.length);
  frame[0] = 0;
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  return frame;
}

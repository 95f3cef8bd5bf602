// Shared helpers of the reliability suite: a binary Connect client over HTTP/2, "produce these
// values and remember the offsets", "read the whole topic", an exact comparison of what was
// acknowledged against what a node serves (nothing lost, moved, duplicated, no gap), raw HTTP/2
// calls for hostile input, and the resident set size of a process.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import http2 from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import { LogService } from "../../src/gen/tidelog/v1/log_service_pb.js";
import { TopicService } from "../../src/gen/tidelog/v1/topic_service_pb.js";
import { connectClient, createNodeTransport } from "../harness/clients.js";

export interface Clients {
  log: ReturnType<typeof connectClient<typeof LogService>>;
  topics: ReturnType<typeof connectClient<typeof TopicService>>;
  close(): void;
}

export function clientsFor(baseUrl: string): Clients {
  const transport = createNodeTransport("connect-binary-h2", baseUrl);
  return {
    log: connectClient(LogService, transport.transport),
    topics: connectClient(TopicService, transport.transport),
    close: () => transport.close(),
  };
}

/** offset → value of every acknowledged record of one topic. */
export type Acknowledged = Map<number, string>;

/** Produces `values` in one request; records the offsets in `acked`; returns them. */
export async function produceValues(
  clients: Clients,
  topic: string,
  values: string[],
  acked: Acknowledged,
  timeoutMs = 10_000,
): Promise<number[]> {
  const response = await clients.log.produce(
    { topic, records: values.map((value) => ({ value: Buffer.from(value) })) },
    { timeoutMs },
  );
  const offsets = response.offsets.map(Number);
  assert.equal(offsets.length, values.length);
  offsets.forEach((offset, i) => {
    assert.ok(!acked.has(offset), `offset ${offset} acknowledged twice`);
    acked.set(offset, values[i]!);
  });
  return offsets;
}

/** Every record of `topic` from its lowest offset, bounded in calls. */
export async function readTopic(
  clients: Clients,
  topic: string,
  callsMax = 10_000,
): Promise<{ offset: number; value: string }[]> {
  const out: { offset: number; value: string }[] = [];
  let offset: bigint | undefined;
  for (let call = 0; call < callsMax; call++) {
    const response = await clients.log.consume(
      offset === undefined
        ? { topic, start: 1 /* EARLIEST */, maxRecords: 5_000 }
        : { topic, offset, maxRecords: 5_000 },
      { timeoutMs: 10_000 },
    );
    for (const record of response.records) {
      out.push({ offset: Number(record.offset), value: Buffer.from(record.value).toString() });
    }
    if (response.nextOffset >= response.highWatermark) return out;
    offset = response.nextOffset;
  }
  throw new Error(`reading ${topic} took over ${callsMax} calls`);
}

/**
 * Asserts the log served is exactly contiguous (no gap, no duplicate offset, no duplicate value)
 * and holds every acknowledged record at its offset. Returns the number of records checked.
 */
export function checkLog(
  records: { offset: number; value: string }[],
  acked: Acknowledged,
  label: string,
): number {
  const values = new Set<string>();
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!;
    if (i > 0) {
      assert.equal(record.offset, records[i - 1]!.offset + 1, `${label}: gap at ${record.offset}`);
    }
    assert.ok(!values.has(record.value), `${label}: duplicate value ${record.value}`);
    values.add(record.value);
  }
  const byOffset = new Map(records.map((record) => [record.offset, record.value]));
  for (const [offset, value] of acked) {
    assert.equal(byOffset.get(offset), value, `${label}: acknowledged offset ${offset} lost/moved`);
  }
  return records.length;
}

/** The connect code of a rejected promise (fails if it resolved). */
export async function codeOf(promise: Promise<unknown>): Promise<Code> {
  try {
    await promise;
  } catch (error) {
    return ConnectError.from(error).code;
  }
  assert.fail("the call succeeded");
}

export { Code };

/** VmRSS of a process in bytes (Linux /proc). */
export async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  if (match === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

export const MiB = 1024 * 1024;

export interface RawAnswer {
  status: number | undefined;
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders;
  body: Buffer;
  /** RST_STREAM code, or an error, if the stream ended that way. */
  reset: string | undefined;
}

/**
 * One raw HTTP/2 request on its own session: writes `chunks` (errors while writing are ignored:
 * the server may answer early and reset), optionally leaves the request unfinished, and resolves
 * with whatever came back when the stream closes or after `timeoutMs`.
 */
export function rawH2(
  address: string,
  headers: http2.OutgoingHttpHeaders,
  chunks: Buffer[],
  options: { endStream?: boolean; timeoutMs?: number } = {},
): Promise<RawAnswer> {
  const session = http2.connect(`http://${address}`);
  session.on("error", () => undefined);
  const answer: RawAnswer = {
    status: undefined,
    headers: {},
    trailers: {},
    body: Buffer.alloc(0),
    reset: undefined,
  };
  return new Promise<RawAnswer>((resolve) => {
    const parts: Buffer[] = [];
    const finish = () => {
      clearTimeout(timer);
      answer.body = Buffer.concat(parts);
      session.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => {
      answer.reset ??= "client timeout";
      finish();
    }, options.timeoutMs ?? 10_000);
    const stream = session.request({ ":method": "POST", ...headers });
    stream.on("response", (h) => {
      answer.headers = h;
      answer.status = Number(h[":status"]);
    });
    stream.on("trailers", (t) => (answer.trailers = t));
    stream.on("data", (chunk: Buffer) => {
      if (parts.reduce((n, p) => n + p.length, 0) < MiB) parts.push(chunk);
    });
    stream.on("error", (error) => (answer.reset ??= String(error)));
    stream.on("close", () => {
      if (stream.rstCode !== undefined && stream.rstCode !== 0)
        answer.reset ??= `rst ${stream.rstCode}`;
      finish();
    });
    for (const chunk of chunks) stream.write(chunk);
    if (options.endStream !== false) stream.end();
  });
}

/** A gRPC / Connect envelope: flags byte, big-endian length, payload. */
export function envelope(payload: Buffer, length = payload.length, flags = 0): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(flags, 0);
  head.writeUInt32BE(length >>> 0, 1);
  return Buffer.concat([head, payload]);
}

/** The gRPC status of a raw answer (trailers-only or trailers). */
export function grpcStatus(answer: RawAnswer): number | undefined {
  const value = answer.trailers["grpc-status"] ?? answer.headers["grpc-status"];
  return value === undefined ? undefined : Number(value);
}

/** Waits `ms` milliseconds. */
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

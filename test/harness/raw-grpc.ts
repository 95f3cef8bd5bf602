// Test harness: gRPC spoken by hand over node:http2 (and, for what Node's client never does, over
// a raw socket), so that tests choose the exact bytes, frames and headers a server receives and
// see the exact status, message and details it answers. `recordRoutes` tells which requests the
// one-port server's stream router took (the plain-gRPC paths that skip Connect).
import assert from "node:assert/strict";
import http2 from "node:http2";
import net from "node:net";
import { gunzipSync, gzipSync } from "node:zlib";
import { fromBinary } from "@bufbuild/protobuf";
import { type Status, StatusSchema } from "../../src/gen/google/rpc/status_pb.js";
import type { App } from "../../src/server/app.js";

/** One gRPC length-prefixed message: flag byte, uint32 length, payload. */
export function grpcFrame(payload: Uint8Array, flag = 0): Buffer {
  const prefix = Buffer.alloc(5);
  prefix[0] = flag;
  prefix.writeUInt32BE(payload.length, 1);
  return Buffer.concat([prefix, payload]);
}

/** A gzip-compressed gRPC message (flag 1), for requests that declare grpc-encoding: gzip. */
export function gzipFrame(payload: Uint8Array): Buffer {
  return grpcFrame(gzipSync(payload), 1);
}

/** The messages of a gRPC response body (decompressing gzip ones); fails on a torn body. */
export function cutGrpcMessages(body: Buffer): Buffer[] {
  const messages: Buffer[] = [];
  let at = 0;
  while (at < body.length) {
    assert.ok(at + 5 <= body.length, "a torn message prefix in the response");
    const length = body.readUInt32BE(at + 1);
    assert.ok(at + 5 + length <= body.length, "a torn message in the response");
    const payload = body.subarray(at + 5, at + 5 + length);
    messages.push(body[at] === 1 ? gunzipSync(payload) : payload);
    at += 5 + length;
  }
  return messages;
}

export interface GrpcAnswer {
  grpcStatus: string | undefined;
  /** grpc-message, percent-decoded. */
  grpcMessage: string;
  /** grpc-status-details-bin, decoded. */
  details: Status | undefined;
  body: Buffer;
  /** The status came in the HEADERS frame that ended the stream (a trailers-only answer). */
  trailersOnly: boolean;
  /** From the request until the stream closed. */
  elapsedMs: number;
}

export interface GrpcCallOptions {
  /** Leave the request side open after the chunks (the server must end the call itself). */
  keepOpen?: boolean;
  headers?: Record<string, string>;
  /** Write each chunk only once the previous one left (its own DATA frame). */
  writeApart?: boolean;
  /** Reuse this session (it stays open); otherwise one is made and closed for the call. */
  session?: http2.ClientHttp2Session;
  timeoutMs?: number;
}

/** Opens a plain gRPC request stream to `path` on `session` (its errors are the caller's to read). */
export function openGrpcStream(
  session: http2.ClientHttp2Session,
  path: string,
  headers: Record<string, string> = {},
): http2.ClientHttp2Stream {
  const stream = session.request({
    ":method": "POST",
    ":path": path,
    "content-type": "application/grpc",
    te: "trailers",
    ...headers,
  });
  stream.on("error", () => undefined);
  return stream;
}

/**
 * Writes `message` again and again until a write finds no room for `stallMs` (the server stopped
 * reading) or `countMax` writes; returns how many were written and whether it stalled.
 */
export async function writeUntilStalled(
  stream: http2.ClientHttp2Stream,
  message: Buffer,
  countMax: number,
  stallMs: number,
): Promise<{ written: number; stalled: boolean }> {
  let written = 0;
  let stalled = false;
  while (written < countMax && !stalled) {
    written++;
    if (stream.write(message)) continue;
    stalled = !(await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), stallMs);
      stream.once("drain", () => {
        clearTimeout(timer);
        resolve(true);
      });
    }));
  }
  return { written, stalled };
}

/** Sends `chunks` on a new gRPC stream to `path` (ending it unless `keepOpen`), reads the answer. */
export function grpcCall(
  port: number,
  path: string,
  chunks: readonly Buffer[],
  options: GrpcCallOptions = {},
): Promise<GrpcAnswer> {
  const ownSession = options.session === undefined;
  const session = options.session ?? http2.connect(`http://127.0.0.1:${port}`);
  if (ownSession) session.on("error", () => undefined);
  const started = performance.now();
  return new Promise<GrpcAnswer>((resolve, reject) => {
    const stream = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      ...options.headers,
    });
    const answer: GrpcAnswer = {
      grpcStatus: undefined,
      grpcMessage: "",
      details: undefined,
      body: Buffer.alloc(0),
      trailersOnly: false,
      elapsedMs: 0,
    };
    const read = (headers: http2.IncomingHttpHeaders) => {
      if (headers["grpc-status"] !== undefined) answer.grpcStatus = String(headers["grpc-status"]);
      if (headers["grpc-message"] !== undefined)
        answer.grpcMessage = decodeURIComponent(String(headers["grpc-message"]));
      const details = headers["grpc-status-details-bin"];
      if (details !== undefined)
        answer.details = fromBinary(StatusSchema, Buffer.from(String(details), "base64"));
    };
    stream.on("response", (headers, flags) => {
      read(headers);
      answer.trailersOnly =
        headers["grpc-status"] !== undefined &&
        (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    });
    stream.on("trailers", read);
    stream.on("data", (chunk: Buffer) => {
      answer.body = Buffer.concat([answer.body, chunk]);
    });
    stream.on("error", () => undefined);
    const timer = setTimeout(() => {
      stream.destroy();
      reject(new Error(`no answer from ${path} within ${options.timeoutMs ?? 5_000} ms`));
    }, options.timeoutMs ?? 5_000);
    stream.on("close", () => {
      clearTimeout(timer);
      answer.elapsedMs = performance.now() - started;
      if (ownSession) session.close();
      resolve(answer);
    });
    void (async () => {
      for (const chunk of chunks) {
        if (stream.destroyed || stream.closed) return;
        if (!options.writeApart) {
          stream.write(chunk);
          continue;
        }
        await new Promise((written) => stream.write(chunk, written));
        await new Promise((next) => setTimeout(next, 1));
      }
      if (!options.keepOpen && !stream.destroyed) stream.end();
    })();
  });
}

/**
 * A ConsumeStream from offset 0 of `topic` whose client never reads: it grants `windowBytes` of
 * HTTP/2 receive window (0: none at all) and pauses. `session.destroy()` ends it.
 */
export function openStalledConsumeStream(
  baseUrl: string,
  topic: string,
  contentType: string,
  windowBytes: number,
): { session: http2.ClientHttp2Session; stream: http2.ClientHttp2Stream } {
  const session = http2.connect(baseUrl, { settings: { initialWindowSize: windowBytes } });
  session.on("error", () => undefined);
  const stream = session.request({
    ":method": "POST",
    ":path": "/tidelog.v1.LogService/ConsumeStream",
    "content-type": contentType,
    te: "trailers",
  });
  stream.on("error", () => undefined);
  stream.end(grpcFrame(Buffer.from([0x0a, topic.length, ...Buffer.from(topic)])));
  stream.pause();
  return { session, stream };
}

export interface RoutedStream {
  path: string;
  /** Taken by the stream router (plain gRPC served without Connect). */
  fast: boolean;
  /** Sizes of the DATA chunks the server received on this stream (fast streams only). */
  chunks: number[];
}

/**
 * Records every HTTP/2 stream the app's server sees (until `restore()`): its path, whether the
 * stream router took it, and the chunks it received.
 */
export function recordRoutes(app: App): { streams: RoutedStream[]; restore(): void } {
  const streams: RoutedStream[] = [];
  const original = app.server.streamRouter;
  app.server.streamRouter = (stream, headers) => {
    const routed: RoutedStream = { path: String(headers[":path"]), fast: false, chunks: [] };
    streams.push(routed);
    routed.fast = original?.(stream, headers) ?? false;
    // Only once the router has its own reader on the stream: a listener before that would start
    // the flow, and the compatibility layer behind would miss what came first.
    if (routed.fast) stream.on("data", (chunk: Buffer) => routed.chunks.push(chunk.length));
    return routed.fast;
  };
  return { streams, restore: () => (app.server.streamRouter = original) };
}

// --- raw HTTP/2 frames, for what Node's client never sends ------------------------------------

/** What an HTTP/2 client sends first (RFC 9113 §3.4). */
export const h2Preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** An HTTP/2 frame: 24-bit length, type, flags, stream id, payload. */
export function h2Frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

/** A header as an HPACK literal without indexing (new name; names and values below 128 bytes). */
export function hpackLiteral(name: string, value: string): Buffer {
  return Buffer.concat([
    Buffer.from([0, name.length]),
    Buffer.from(name),
    Buffer.from([value.length]),
    Buffer.from(value),
  ]);
}

/**
 * Opens stream 1 with a gRPC POST to `path`, sends `data` (ending the request side if
 * `endStream`), waits `holdMs`, then resets the stream with RST_STREAM(NO_ERROR) and goes.
 */
export async function rawCallThenReset(
  port: number,
  path: string,
  data: Buffer,
  { endStream = false, holdMs = 100 }: { endStream?: boolean; holdMs?: number } = {},
): Promise<void> {
  const socket = net.connect(port, "127.0.0.1");
  socket.on("data", () => undefined);
  socket.on("error", () => undefined);
  await new Promise((resolve) => socket.once("connect", resolve));
  const headers = Buffer.concat([
    hpackLiteral(":method", "POST"),
    hpackLiteral(":scheme", "http"),
    hpackLiteral(":path", path),
    hpackLiteral(":authority", "127.0.0.1"),
    hpackLiteral("content-type", "application/grpc"),
  ]);
  socket.write(
    Buffer.concat([
      h2Preface,
      h2Frame(4, 0, 0, Buffer.alloc(0)), // SETTINGS
      h2Frame(1, 4, 1, headers), // HEADERS, END_HEADERS
      h2Frame(0, endStream ? 1 : 0, 1, data), // DATA
    ]),
  );
  await new Promise((resolve) => setTimeout(resolve, holdMs));
  socket.write(h2Frame(3, 0, 1, Buffer.alloc(4))); // RST_STREAM, NO_ERROR
  await new Promise((resolve) => setTimeout(resolve, 100));
  socket.destroy();
}

/**
 * Opens `streams` gRPC ConsumeStreams of `topic` from offset 0 on one raw HTTP/2 connection, all
 * in one write (the server takes them in one turn), announcing a receive window of 0: the client
 * never reads a byte of their answers. Destroy the socket to end them.
 */
export function openZeroWindowConsumeStreams(
  port: number,
  topic: string,
  streams: number,
): net.Socket {
  const socket = net.connect(port, "127.0.0.1");
  socket.on("data", () => undefined);
  socket.on("error", () => undefined);
  const headers = Buffer.concat([
    hpackLiteral(":method", "POST"),
    hpackLiteral(":scheme", "http"),
    hpackLiteral(":path", "/tidelog.v1.LogService/ConsumeStream"),
    hpackLiteral(":authority", "127.0.0.1"),
    hpackLiteral("content-type", "application/grpc"),
    hpackLiteral("te", "trailers"),
  ]);
  const request = grpcFrame(Buffer.from([0x0a, topic.length, ...Buffer.from(topic)]));
  const initialWindowZero = Buffer.from([0, 4, 0, 0, 0, 0]); // SETTINGS_INITIAL_WINDOW_SIZE = 0
  const frames = [
    h2Preface,
    h2Frame(4, 0, 0, initialWindowZero), // SETTINGS
    h2Frame(4, 1, 0, Buffer.alloc(0)), // SETTINGS ACK (of the server's)
  ];
  for (let i = 0; i < streams; i++) {
    const id = 1 + 2 * i;
    frames.push(h2Frame(1, 4, id, headers), h2Frame(0, 1, id, request)); // END_HEADERS; END_STREAM
  }
  socket.write(Buffer.concat(frames));
  return socket;
}

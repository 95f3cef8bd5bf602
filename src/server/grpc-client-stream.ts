// A gRPC client-streaming method served straight on the HTTP/2 stream, for the one internal hot
// path that needs it: RaftService.StepStream between peers (see app.ts for which requests come
// here; everything else, including other clients of the same method, goes through Connect).
// Messages are cut from the DATA chunks by their 5-byte prefixes, bounded in size, and handed
// over in order; while a handler's promise is pending the stream is paused (HTTP/2 flow control
// holds the sender back). The answer is one empty message and grpc-status 0 once the client has
// ended its side, or a trailers-only error.
import http2, { type ServerHttp2Stream } from "node:http2";
import type { ErrorLogger } from "../api/connect-error.js";
import { toConnectError } from "../api/connect-error.js";
import { TidelogError } from "../errors.js";

export interface ClientStreamMethod {
  /** A message larger than this fails the call with resource_exhausted. */
  messageBytesMax: number;
  /** Handles one message; called in order, the next only after a returned promise settled. */
  onMessage(message: Buffer): undefined | Promise<void>;
}

const prefixBytes = 5;
const emptyMessage = Buffer.alloc(prefixBytes);

export function serveClientStream(
  stream: ServerHttp2Stream,
  method: ClientStreamMethod,
  shutdown: AbortSignal,
  logError: ErrorLogger,
): void {
  let chunks: Buffer[] = [];
  let buffered = 0;
  let busy = false;
  let ended = false;
  let answered = false;

  /**
   * Whether the stream can still take an answer. A client's RST_STREAM(NO_ERROR) closes it
   * without destroying it, and Node then still emits 'end'; respond() would throw.
   */
  const gone = () => stream.closed || stream.destroyed;

  /** Runs an answer's HTTP/2 calls; a stream closed under them has nobody left to answer. */
  const answer = (write: () => void) => {
    try {
      write();
    } catch {
      if (!stream.destroyed) stream.destroy();
    }
  };

  const fail = (error: unknown) => {
    if (answered) return;
    answered = true;
    const connectError = toConnectError(error, logError);
    if (gone()) return;
    answer(() => {
      if (!stream.headersSent) {
        stream.respond(
          {
            ":status": 200,
            "content-type": "application/grpc",
            "grpc-status": String(connectError.code),
            "grpc-message": encodeURIComponent(connectError.rawMessage),
          },
          { endStream: true },
        );
      }
    });
    // The client may still be sending: tell it to stop (RFC 9113 §8.1), after the answer left.
    setImmediate(() => {
      if (!gone()) stream.close(http2.constants.NGHTTP2_NO_ERROR);
    });
  };

  const succeed = () => {
    if (answered || gone()) return;
    answered = true;
    answer(() => {
      stream.respond(
        { ":status": 200, "content-type": "application/grpc" },
        { waitForTrailers: true },
      );
      stream.once("wantTrailers", () => answer(() => stream.sendTrailers({ "grpc-status": "0" })));
      stream.end(emptyMessage);
    });
  };

  /** The next complete message, or undefined when more bytes are needed. */
  const nextMessage = (): Buffer | undefined => {
    if (buffered < prefixBytes) return undefined;
    if (chunks[0]!.length < prefixBytes) chunks = [Buffer.concat(chunks, buffered)];
    const head = chunks[0]!;
    if (head[0] !== 0) {
      throw new TidelogError("internal", "a compressed message, but no grpc-encoding was agreed");
    }
    const length = head.readUInt32BE(1);
    if (length > method.messageBytesMax) {
      throw new TidelogError(
        "resource_exhausted",
        `a message of ${length} bytes exceeds the limit of ${method.messageBytesMax}`,
      );
    }
    const total = prefixBytes + length;
    if (buffered < total) return undefined;
    buffered -= total;
    if (head.length >= total) {
      if (head.length > total) chunks[0] = head.subarray(total);
      else chunks.shift();
      return head.subarray(prefixBytes, total);
    }
    const whole = Buffer.concat(chunks);
    chunks = whole.length > total ? [whole.subarray(total)] : [];
    return whole.subarray(prefixBytes, total);
  };

  const drain = () => {
    try {
      while (!answered) {
        const message = nextMessage();
        if (message === undefined) break;
        const pending = method.onMessage(message);
        if (pending !== undefined) {
          busy = true;
          stream.pause();
          pending.then(() => {
            busy = false;
            stream.resume();
            drain();
          }, fail);
          return;
        }
      }
    } catch (error) {
      fail(error);
      return;
    }
    if (ended && !answered) {
      if (buffered > 0) fail(new TidelogError("invalid_argument", "the stream ended mid-message"));
      else succeed();
    }
  };

  const onShutdown = () => fail(new TidelogError("unavailable", "server is shutting down"));
  shutdown.addEventListener("abort", onShutdown, { once: true });
  stream.once("close", () => shutdown.removeEventListener("abort", onShutdown));
  stream.on("error", () => undefined);
  // Reset by the client: nobody is left to answer, and nothing more is handed over.
  stream.once("aborted", () => {
    answered = true;
  });
  stream.on("data", (chunk: Buffer) => {
    if (answered) return;
    chunks.push(chunk);
    buffered += chunk.length;
    if (!busy) drain();
  });
  stream.once("end", () => {
    ended = true;
    if (!busy) drain();
  });
}

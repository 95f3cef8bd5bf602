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
import {
  GrpcMessageCutter,
  grpcPrefixBytes,
  incompleteMessageError,
} from "./grpc-message-cutter.js";

export interface ClientStreamMethod {
  /** A message larger than this fails the call with resource_exhausted. */
  messageBytesMax: number;
  /** Handles one message; called in order, the next only after a returned promise settled. */
  onMessage(message: Buffer): undefined | Promise<void>;
}

const emptyMessage = Buffer.alloc(grpcPrefixBytes);

export function serveClientStream(
  stream: ServerHttp2Stream,
  method: ClientStreamMethod,
  shutdown: AbortSignal,
  logError: ErrorLogger,
): void {
  const cutter = new GrpcMessageCutter(method.messageBytesMax);
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

  const drain = () => {
    try {
      while (!answered) {
        const message = cutter.next();
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
      if (cutter.buffered > 0) fail(incompleteMessageError());
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
    cutter.push(chunk);
    if (!busy) drain();
  });
  stream.once("end", () => {
    ended = true;
    if (!busy) drain();
  });
}

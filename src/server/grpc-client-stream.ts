// A gRPC client-streaming method served straight on the HTTP/2 stream, for the one internal hot
// path that needs it: RaftService.StepStream between peers (see app.ts for which requests come
// here; everything else, including other clients of the same method, goes through Connect).
// The call's mechanics are GrpcServerCall's (grpc-server-call.ts): messages cut by their
// prefixes and bounded in size, a bounded input queue with HTTP/2 flow control behind it, one
// end with Connect's error encoding, resets and closed streams handled once. Messages are handed
// over in order, the next only once the previous handler's promise settled. The answer is one
// empty message and grpc-status 0 once the client has ended its side; shutdown ends the stream
// with unavailable at once (a peer reconnects to whoever is serving).
import type { IncomingHttpHeaders, ServerHttp2Stream } from "node:http2";
import type { ErrorLogger } from "../api/connect-error.js";
import { TidelogError } from "../errors.js";
import { GrpcServerCall } from "./grpc-server-call.js";

export interface ClientStreamMethod {
  /** A message larger than this fails the call with resource_exhausted. */
  messageBytesMax: number;
  /** Handles one message; called in order, the next only after a returned promise settled. */
  onMessage(message: Buffer): undefined | Promise<void>;
}

const emptyMessage = Buffer.alloc(0);

export function serveClientStream(
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  method: ClientStreamMethod,
  shutdown: AbortSignal,
  logError: ErrorLogger,
): void {
  const call = new GrpcServerCall(stream, headers, {
    messageBytesMax: method.messageBytesMax,
    shutdown,
    logError,
  });
  const onShutdown = () => call.finish(new TidelogError("unavailable", "server is shutting down"));
  shutdown.addEventListener("abort", onShutdown, { once: true });
  const serve = async () => {
    for await (const message of call.messages()) {
      const pending = method.onMessage(message);
      if (pending !== undefined) await pending;
    }
    await call.send([emptyMessage]);
  };
  serve().then(
    () => call.finish(),
    (error: unknown) => call.finish(error),
  );
  stream.once("close", () => shutdown.removeEventListener("abort", onShutdown));
}

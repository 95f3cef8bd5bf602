// Writes a Connect universal response (a handler's status, headers, body chunks and trailers) to
// a Node response, one chunk at a time: the next chunk is pulled from the handler only once the
// response can take more, so a client that does not read holds one answer, not its topic.
//
// This replaces connect-node's universalResponseToNodeResponse (used by connect-fastify), whose
// write waits for 'drain' or 'error' only. An HTTP/1.1 response whose client leaves while a write
// waits gets neither: Node completes the pending write's callback without an error once the
// socket is destroyed, and the response only emits 'close'. The call then never finished; its
// stream slot, tail reader and last answer (megabytes) stayed held for the life of the process.
// Here 'close' before the end settles the wait as the client having gone.
import type { ServerResponse } from "node:http";
import type { Http2ServerResponse } from "node:http2";
import type { UniversalServerResponse } from "@connectrpc/connect/protocol";
import { ClientGoneError } from "../api/client-gone.js";

export type NodeResponse = ServerResponse | Http2ServerResponse;

export async function writeUniversalResponse(
  universal: UniversalServerResponse,
  response: NodeResponse,
): Promise<void> {
  // Node may report a write's failure as an 'error' event after its wait settled (or after the
  // call ended): without a listener that would be an uncaught exception.
  if (response.listenerCount("error") === 0) response.on("error", () => undefined);
  const body = universal.body?.[Symbol.asyncIterator]();
  try {
    if (body !== undefined) {
      // Headers go out with the first chunk: the handler may still set some until then.
      let chunk = await body.next();
      response.writeHead(universal.status, nodeHeaders(universal.header));
      for (; chunk.done !== true; chunk = await body.next()) {
        try {
          await write(response, chunk.value);
        } catch (error) {
          // The handler learns that its answers go nowhere (Connect aborts the call's signal).
          body.throw?.(error).catch(() => undefined);
          throw error;
        }
      }
    }
    if (!response.headersSent) response.writeHead(universal.status, nodeHeaders(universal.header));
    if (universal.trailer !== undefined) response.addTrailers(nodeHeaders(universal.trailer));
    await end(response);
  } finally {
    body?.return?.().catch(() => undefined);
  }
}

function clientGone(): ClientGoneError {
  return new ClientGoneError("the client went away before the response was complete");
}

/** Settles once `response` can take more (or has taken `chunk` whole), or the client left. */
function write(response: NodeResponse, chunk: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    if (response.destroyed) {
      reject(response.errored ?? clientGone());
      return;
    }
    const settle = (error?: Error) => {
      response.off("drain", onDrain);
      response.off("error", onError);
      response.off("close", onClose);
      if (error === undefined) resolve();
      else reject(error);
    };
    const onDrain = () => settle();
    const onError = (error: Error) => settle(error);
    const onClose = () => settle(clientGone());
    response.once("error", onError);
    response.once("close", onClose);
    // The callback's error (EPIPE, ECONNRESET) is the one the socket reports; 'close' follows.
    const flushed = (response as ServerResponse).write(chunk, (error) => {
      if (error) settle(error);
    });
    if (flushed) settle();
    else response.once("drain", onDrain);
  });
}

function end(response: NodeResponse): Promise<void> {
  return new Promise((resolve, reject) => {
    if (response.destroyed) {
      reject(response.errored ?? clientGone());
      return;
    }
    const onClose = () => {
      if (!response.writableFinished) reject(clientGone());
    };
    response.once("close", onClose);
    response.end(() => {
      response.off("close", onClose);
      resolve();
    });
  });
}

function nodeHeaders(headers: Headers | undefined): Record<string, string | string[]> {
  const result: Record<string, string | string[]> = {};
  if (headers === undefined) return result;
  for (const [name, value] of headers) {
    if (name === "set-cookie") result[name] = headers.getSetCookie();
    else result[name] = value;
  }
  return result;
}

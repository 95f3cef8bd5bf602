// Connect routes (gRPC, gRPC-Web, Connect) on fastify: connect-fastify's plugin, with the response
// written by connect-response-writer.ts and failures reported through the node's structured log.
// connect-fastify's own plugin waits forever on an HTTP/1.1 client that leaves mid-write (see the
// writer), and prints what it cannot deliver with console.error, as multi-line text, a client
// that went away (EPIPE) included. gRPC-Web text calls are translated (grpc-web-text.ts).

import type { DescMethod } from "@bufbuild/protobuf";
import {
  type ConnectRouter,
  type ConnectRouterOptions,
  createConnectRouter,
  createContextValues,
} from "@connectrpc/connect";
import * as protoConnect from "@connectrpc/connect/protocol-connect";
import * as protoGrpc from "@connectrpc/connect/protocol-grpc";
import * as protoGrpcWeb from "@connectrpc/connect/protocol-grpc-web";
import { universalRequestFromNodeRequest } from "@connectrpc/connect-node";
import type { FastifyInstance, FastifyReply } from "fastify";
import { answerHoldKey } from "../api/answer-budget.js";
import { isClientGoneError } from "../api/client-gone.js";
import type { ErrorLogger } from "../api/connect-error.js";
import { clientSignalKey } from "../api/leader-forwarder.js";
import { boundedGzip } from "./bounded-compression.js";
import { writeUniversalResponse } from "./connect-response-writer.js";
import { DecompressionGate } from "./decompression-gate.js";
import { fromGrpcWebText } from "./grpc-web-text.js";

/**
 * Request decompressions of this process (every node and router in it): 4 at once, as many as
 * libuv runs zlib work at once; up to 256 more wait (a flood of bombs delays them by about
 * 256 × 20 ms / 4, not more). Only gzip: brotli is not accepted (docs/DECISIONS.md).
 */
const decompressions = new DecompressionGate({ activeMax: 4, waitingMax: 256 });

/**
 * Connect allocates a unary Connect-protocol request's whole body from its Content-Length
 * (readAllBytes' length hint) before a byte of the body has arrived, up to readMaxBytes (9 MiB).
 * A client that claims a large body and trickles it held that much per connection: with the
 * connection cap churning under a slowloris flood (outside probe P2, 2,048 connections claiming
 * 1 MB each), a leader's RSS went from 0.2 to 2.3 GB. Above this size the hint is withheld, and
 * Connect collects the body as it arrives (still bounded by readMaxBytes); below it, the one
 * allocation is kept. A length over readMaxBytes stays: Connect refuses it at once, unallocated.
 */
const contentLengthHintBytesMax = 64 * 1024;

export interface ConnectRoutesOptions extends ConnectRouterOptions {
  routes: (router: ConnectRouter) => void;
  logError: ErrorLogger;
  /**
   * Sees every request message's bytes (binary or JSON) before Connect decodes them, and may
   * refuse them by throwing a ConnectError (patches/@connectrpc+connect: checkRequest).
   */
  checkRequest?: (method: DescMethod, bytes: Uint8Array, binary: boolean) => void;
}

/** A fastify plugin (register it unwrapped: its content type parsers stay in its scope). */
export async function connectRoutes(
  instance: FastifyInstance,
  { routes, logError, ...options }: ConnectRoutesOptions,
): Promise<void> {
  const router = createConnectRouter({
    acceptCompression: [boundedGzip(decompressions)],
    ...options,
  });
  routes(router);
  const readMaxBytes = options.readMaxBytes ?? Number.POSITIVE_INFINITY;
  // Connect reads request bodies itself.
  instance.addContentTypeParser(
    [
      protoConnect.contentTypeUnaryJson,
      protoConnect.contentTypeStreamJson,
      protoGrpcWeb.contentTypeProto,
      protoGrpcWeb.contentTypeJson,
      protoGrpc.contentTypeProto,
      protoGrpc.contentTypeJson,
    ],
    ignoreBody,
  );
  instance.addContentTypeParser(protoGrpc.contentTypeRegExp, ignoreBody);
  instance.addContentTypeParser(protoGrpcWeb.contentTypeRegExp, ignoreBody);
  instance.addContentTypeParser(protoConnect.contentTypeRegExp, ignoreBody);
  for (const handler of router.handlers) {
    const rpc = `${handler.service.typeName}/${handler.method.name}`;
    instance.all(handler.requestPath, async (request, reply) => {
      let universalRequest: ReturnType<typeof universalRequestFromNodeRequest>;
      try {
        // Answer room a handler holds (answer-budget.ts) goes back once the answer is written or
        // the client is gone: 'close' comes after the last byte, or on a connection's end.
        const values = createContextValues().set(answerHoldKey, (release) => {
          if (reply.raw.closed) release();
          else reply.raw.once("close", release);
        });
        universalRequest = universalRequestFromNodeRequest(
          request.raw,
          reply.raw,
          undefined,
          values,
        );
        values.set(clientSignalKey, universalRequest.signal);
      } catch (error) {
        // No URL can be made of the request's Host or :authority ("a b", "x:abc", none in
        // HTTP/1.0): the client's fault, answered as such. Left to fastify, it was an empty 200
        // and an error logged per request.
        refuseRequest(reply.raw, `cannot make a URL of this request: ${String(error)}`);
        return;
      }
      // Connect's own copy of the headers: the node request keeps its Content-Length.
      const claimed = Number(universalRequest.header.get("content-length") ?? 0);
      if (claimed > contentLengthHintBytesMax && claimed <= readMaxBytes) {
        universalRequest.header.delete("content-length");
      }
      normalizeEncodings(universalRequest.header);
      try {
        // Bodies are left unparsed (ignoreBody): Connect reads the raw request. gRPC-Web text,
        // which Connect does not speak, is translated to and from binary gRPC-Web.
        const text = fromGrpcWebText(universalRequest);
        const universal =
          text === undefined
            ? await handler(universalRequest)
            : text.answer(await handler(text.request));
        // Fastify keeps headers set by hooks (CORS) on the reply until reply.send, which is not
        // used here: they move to the raw response by hand.
        for (const [name, value] of Object.entries(reply.getHeaders())) {
          if (value !== undefined) reply.raw.setHeader(name, value);
        }
        // Answered before its body was read whole (a message over the size limit is refused at
        // its length prefix): Node dumps an unread body only if nothing began to read it, and
        // Connect had, so the connection waited for a reader forever and the client's next
        // request on it was never answered. Such an HTTP/1.1 connection closes after the answer.
        if (request.raw.httpVersionMajor === 1 && !request.raw.complete) {
          reply.raw.setHeader("connection", "close");
        }
        await writeUniversalResponse(universal, reply.raw);
      } catch (error) {
        // A client that left mid-answer is no failure of the server: nothing to report.
        if (isClientGoneError(error) || reply.raw.destroyed) return;
        logError(`writing the answer of ${rpc} failed`, error);
      }
    });
  }
}

/** The headers naming a request's compression, in each protocol. */
const encodingHeaders = ["content-encoding", "connect-content-encoding", "grpc-encoding"];

/**
 * Content codings are case-insensitive (RFC 9110 §8.4.1), and an empty list names none; Connect
 * looks them up as they are, so "GZIP" and "" were answered unimplemented (outside probe P9).
 */
function normalizeEncodings(header: Headers): void {
  for (const name of encodingHeaders) {
    const value = header.get(name);
    if (value === null) continue;
    const coding = value.trim().toLowerCase();
    if (coding === "") header.delete(name);
    else if (coding !== value) header.set(name, coding);
  }
}

/** A 400 with a Connect error body (invalid_argument), for requests Connect cannot even read. */
function refuseRequest(response: FastifyReply["raw"], message: string): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const body = JSON.stringify({ code: "invalid_argument", message });
  response.writeHead(400, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
  });
  response.end(body);
}

function ignoreBody(_request: unknown, _payload: unknown, done: (error: null) => void): void {
  done(null);
}

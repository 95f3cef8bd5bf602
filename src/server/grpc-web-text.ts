// gRPC-Web text mode (application/grpc-web-text[+proto]), the default of the official grpc-web
// browser client and the mode it needs for server streaming: the same framing as binary gRPC-Web,
// base64 encoded both ways. connect-es serves only binary gRPC-Web (415 for text), so a text call
// is translated in front of it: the request is handed to Connect as binary gRPC-Web, its body
// decoded as it arrives (base64-chunks.ts), and each chunk of the answer (a message, or the
// trailer frame) is encoded on its own as it is written, so a ConsumeStream is delivered as it
// goes. The protocol allows such independently padded chunks; the client decodes them in groups
// of 4 characters. Decoded bytes go through Connect's gRPC-Web reader unchanged, so the message
// size limit (readMaxBytes) holds as for binary requests.
import { Code, ConnectError } from "@connectrpc/connect";
import type { UniversalServerRequest, UniversalServerResponse } from "@connectrpc/connect/protocol";
import { Base64ChunkDecoder, Base64Error } from "./base64-chunks.js";

const textContentType = /^application\/grpc-web-text(?=$|\+)/i;
const binaryContentType = /^application\/grpc-web(?=$|\+)/i;

export interface GrpcWebTextCall {
  /** The request as binary gRPC-Web, its body decoded as it is read. */
  request: UniversalServerRequest;
  /** Connect's answer to `request`, as gRPC-Web text. */
  answer(response: UniversalServerResponse): UniversalServerResponse;
}

/** The translation of a gRPC-Web text call; undefined for any other request. */
export function fromGrpcWebText(request: UniversalServerRequest): GrpcWebTextCall | undefined {
  const contentType = request.header.get("content-type");
  if (contentType === null || !textContentType.test(contentType)) return undefined;
  const body = request.body;
  if (!isByteStream(body)) return undefined;
  const header = new Headers(request.header);
  header.set("content-type", contentType.replace(textContentType, "application/grpc-web"));
  return {
    request: { ...request, header, body: decodeBody(body) },
    answer: toText,
  };
}

function isByteStream(body: UniversalServerRequest["body"]): body is AsyncIterable<Uint8Array> {
  return typeof body === "object" && body !== null && Symbol.asyncIterator in body;
}

async function* decodeBody(body: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const decoder = new Base64ChunkDecoder();
  try {
    for await (const chunk of body) {
      const bytes = decoder.push(chunk);
      if (bytes.length > 0) yield bytes;
    }
    decoder.end();
  } catch (error) {
    if (!(error instanceof Base64Error)) throw error;
    throw new ConnectError(`gRPC-Web text request body: ${error.message}`, Code.InvalidArgument);
  }
}

/** A gRPC-Web answer in text; any other (405, say) goes back as it is. */
function toText(response: UniversalServerResponse): UniversalServerResponse {
  const contentType = response.header?.get("content-type");
  if (response.header === undefined || !contentType || !binaryContentType.test(contentType)) {
    return response;
  }
  const header = new Headers(response.header);
  header.set("content-type", contentType.replace(binaryContentType, "application/grpc-web-text"));
  return {
    ...response,
    header,
    body: response.body === undefined ? undefined : encodeBody(response.body),
  };
}

/**
 * Each chunk in base64 as it is pulled. throw() and return() reach Connect's iterator, which
 * aborts the call when the client went away (connect-response-writer.ts).
 */
function encodeBody(body: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  return {
    [Symbol.asyncIterator]() {
      const inner = body[Symbol.asyncIterator]();
      const encode = async (
        result: Promise<IteratorResult<Uint8Array>>,
      ): Promise<IteratorResult<Uint8Array>> => {
        const next = await result;
        return next.done === true ? next : { done: false, value: base64(next.value) };
      };
      return {
        next: () => encode(inner.next()),
        throw: (error?: unknown) =>
          encode(inner.throw === undefined ? Promise.reject(error) : inner.throw(error)),
        return: (value?: unknown) =>
          encode(
            inner.return === undefined
              ? Promise.resolve({ done: true, value })
              : inner.return(value),
          ),
      };
    },
  };
}

function base64(chunk: Uint8Array): Buffer {
  const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  return Buffer.from(bytes.toString("base64"), "latin1");
}

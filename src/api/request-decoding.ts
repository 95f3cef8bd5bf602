// A request message decoded and validated as the Connect routes do it (the patched parse error of
// patches/@connectrpc+connect, @connectrpc/validate's interceptor), for the routes that serve
// plain gRPC without Connect (server/fast-grpc-routes.ts): the same codes, messages and details.
// A ProduceRequest (decodeValidProduceRequest) is first tried with the hand decoder
// (api/produce-request-wire.ts); what it declines takes protobuf-es's fromBinary, which decodes it
// or raises the parse error. Both are preceded by the elements bound the Connect routes apply.
import { type DescMessage, fromBinary, type MessageShape } from "@bufbuild/protobuf";
import { type Validator, violationsToProto } from "@bufbuild/protovalidate";
import { Code, ConnectError } from "@connectrpc/connect";
import { type ProduceRequest, ProduceRequestSchema } from "../gen/tidelog/v1/log_service_pb.js";
import type { ApiLimits } from "./limits.js";
import { decodeProduceRequestFast } from "./produce-request-wire.js";
import { checkRequestElements } from "./request-elements.js";

/** A ProduceRequest, through the hand decoder where it can (see decodeValidRequest). */
export function decodeValidProduceRequest(
  bytes: Uint8Array,
  validator: Validator,
  limits: ApiLimits,
): ProduceRequest {
  return decodeValidRequest(
    ProduceRequestSchema,
    bytes,
    validator,
    limits,
    decodeProduceRequestFast,
  );
}

/**
 * `bytes` as a `schema` message, validated; `fastDecode` may decode it first (undefined: it
 * declines, and protobuf-es decides). A message that would take more decoding than `limits`
 * allow is refused before anything is decoded (request-elements.ts).
 */
export function decodeValidRequest<Desc extends DescMessage>(
  schema: Desc,
  bytes: Uint8Array,
  validator: Validator,
  limits: ApiLimits,
  fastDecode?: (bytes: Uint8Array) => MessageShape<Desc> | undefined,
): MessageShape<Desc> {
  checkRequestElements(schema, bytes, true, limits);
  let message = fastDecode?.(bytes);
  try {
    message ??= fromBinary(schema, bytes);
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    throw new ConnectError(
      `parse binary: ${text}`,
      Code.InvalidArgument,
      undefined,
      undefined,
      error,
    );
  }
  const result = validator.validate(schema, message as never);
  if (result.kind === "valid") return message;
  const details = [];
  if (result.violations !== undefined) {
    const [value, desc] = violationsToProto(result.violations);
    details.push({ desc, value });
  }
  throw new ConnectError(
    result.error.message,
    Code.InvalidArgument,
    undefined,
    details,
    result.error,
  );
}

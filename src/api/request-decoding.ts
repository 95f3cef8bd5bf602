// A request message decoded and validated as the Connect routes do it (the patched parse error of
// patches/@connectrpc+connect, @connectrpc/validate's interceptor), for the routes that serve
// plain gRPC without Connect (server/fast-grpc-routes.ts): the same codes, messages and details.
// A ProduceRequest (decodeValidProduceRequest) is first tried with the hand decoder
// (api/produce-request-wire.ts); what it declines takes protobuf-es's fromBinary, which decodes it
// or raises the parse error.
import { type DescMessage, fromBinary, type MessageShape } from "@bufbuild/protobuf";
import { type Validator, violationsToProto } from "@bufbuild/protovalidate";
import { Code, ConnectError } from "@connectrpc/connect";
import { type ProduceRequest, ProduceRequestSchema } from "../gen/tidelog/v1/log_service_pb.js";
import { countRecordHeaders, decodeProduceRequestFast } from "./produce-request-wire.js";
import { tooManyHeaders } from "./producer.js";

/**
 * A ProduceRequest, through the hand decoder where it can; one of more than `headersMax` record
 * headers is refused before it is decoded.
 */
export function decodeValidProduceRequest(
  bytes: Uint8Array,
  validator: Validator,
  headersMax: number,
): ProduceRequest {
  if (countRecordHeaders(bytes, headersMax) > headersMax) throw tooManyHeaders(headersMax);
  return decodeValidRequest(ProduceRequestSchema, bytes, validator, decodeProduceRequestFast);
}

/**
 * `bytes` as a `schema` message, validated; `fastDecode` may decode it first (undefined: it
 * declines, and protobuf-es decides).
 */
export function decodeValidRequest<Desc extends DescMessage>(
  schema: Desc,
  bytes: Uint8Array,
  validator: Validator,
  fastDecode?: (bytes: Uint8Array) => MessageShape<Desc> | undefined,
): MessageShape<Desc> {
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

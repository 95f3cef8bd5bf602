// A request message decoded and validated as the Connect routes do it (the patched parse error of
// patches/@connectrpc+connect, @connectrpc/validate's interceptor), for the routes that serve
// plain gRPC without Connect (server/fast-grpc-routes.ts): the same codes, messages and details.
import { type DescMessage, fromBinary, type MessageShape } from "@bufbuild/protobuf";
import { type Validator, violationsToProto } from "@bufbuild/protovalidate";
import { Code, ConnectError } from "@connectrpc/connect";

export function decodeValidRequest<Desc extends DescMessage>(
  schema: Desc,
  bytes: Uint8Array,
  validator: Validator,
): MessageShape<Desc> {
  let message: MessageShape<Desc>;
  try {
    message = fromBinary(schema, bytes);
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

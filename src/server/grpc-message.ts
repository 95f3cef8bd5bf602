// The grpc-message header, percent-encoded as the gRPC spec says (PROTOCOL-HTTP2.md,
// "Status-Message"): only bytes outside printable ASCII, and "%". encodeURIComponent also encodes
// ":", "/", ";" and the like, which grpc-js (decodeURI) shows to its users as they are. The
// Connect routes get the same encoding from patches/@connectrpc+connect+2.1.2.patch.
export function encodeGrpcMessage(message: string): string {
  let encoded = "";
  for (const byte of new TextEncoder().encode(message)) {
    encoded +=
      byte < 0x20 || byte > 0x7e || byte === 0x25
        ? `%${byte.toString(16).toUpperCase().padStart(2, "0")}`
        : String.fromCharCode(byte);
  }
  return encoded;
}

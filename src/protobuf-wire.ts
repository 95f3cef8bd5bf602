// Protobuf wire helpers for the few messages tidelog encodes by hand (see src/api/record-wire.ts
// and src/raft/driver/entry-wire.ts). Values are non-negative integers below 2^53.

/** gRPC length prefix: one flag byte (0: not compressed) and the message length, big-endian. */
export const grpcPrefixBytes = 5;

/** Bytes of `value` as a varint. */
export function varintBytes(value: number): number {
  let bytes = 1;
  while (value >= 128) {
    value = Math.floor(value / 128);
    bytes++;
  }
  return bytes;
}

/** Writes `value` as a varint at `at`; returns the position after it. */
export function writeVarint(buffer: Buffer, at: number, value: number): number {
  while (value >= 128) {
    buffer[at++] = (value % 128) | 128;
    value = Math.floor(value / 128);
  }
  buffer[at++] = value;
  return at;
}

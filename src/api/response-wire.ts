// Hand encoders of the two answers the plain-gRPC routes send most (server/fast-grpc-routes.ts):
// the same bytes protobuf-es writes for these messages (test/api/response-wire.test.ts), without
// building message objects.
import { varintBytes, writeVarint } from "../protobuf-wire.js";
import type { WireAnswer } from "./consume-handlers.js";

/** ProduceResponse { repeated uint64 offsets = 1 } (packed), offsets below 2^53. */
export function encodeProduceResponse(offsets: readonly number[]): Buffer {
  if (offsets.length === 0) return Buffer.alloc(0);
  let packed = 0;
  for (const offset of offsets) packed += varintBytes(offset);
  const out = Buffer.allocUnsafe(1 + varintBytes(packed) + packed);
  out[0] = 0x0a;
  let at = writeVarint(out, 1, packed);
  for (const offset of offsets) at = writeVarint(out, at, offset);
  return out;
}

/**
 * ConsumeResponse as parts to send back to back: the records' wire bytes (field 1, each record
 * with its tag), then next_offset = 2 and high_watermark = 3.
 */
export function consumeResponseParts(answer: WireAnswer): Buffer[] {
  const tail = Buffer.allocUnsafe(
    2 + varintBytes(answer.nextOffset) + varintBytes(answer.highWatermark),
  );
  let at = 0;
  if (answer.nextOffset !== 0) {
    tail[at++] = 0x10;
    at = writeVarint(tail, at, answer.nextOffset);
  }
  if (answer.highWatermark !== 0) {
    tail[at++] = 0x18;
    at = writeVarint(tail, at, answer.highWatermark);
  }
  return [answer.records, tail.subarray(0, at)];
}

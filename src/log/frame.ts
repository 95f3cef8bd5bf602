// A store frame: one record on disk.
//
//   payloadLength u32 · crc32c u32 · batchPosition u16 · batchRemaining u16 · payload
//
// The CRC covers the batch fields and the payload, so a torn or corrupt frame is detected. The
// batch fields make a batch atomic across crashes: recovery drops a trailing batch whose last
// frame still expects more (batchRemaining > 0). All integers are little-endian.
import { assert } from "../assert.js";
import { crc32c } from "./crc32c.js";

export const frameHeaderBytes = 12;
/** The largest payload a frame may carry; a larger length in a header means corruption. */
export const framePayloadBytesMax = 64 * 1024 * 1024;
/** The most records one atomic batch may hold (batch fields are u16). */
export const batchRecordsMax = 0xffff;

export interface FrameHeader {
  payloadLength: number;
  crc: number;
  batchPosition: number;
  batchRemaining: number;
}

/** Encodes payloads as one contiguous, atomic batch of frames. */
export function encodeBatch(payloads: readonly Uint8Array[]): Buffer {
  assert(payloads.length > 0, "encodeBatch: empty batch");
  assert(payloads.length <= batchRecordsMax, "encodeBatch: batch too large");
  let total = 0;
  for (const payload of payloads) {
    assert(payload.length <= framePayloadBytesMax, "encodeBatch: payload too large");
    total += frameHeaderBytes + payload.length;
  }
  const buffer = Buffer.allocUnsafe(total);
  let position = 0;
  for (let i = 0; i < payloads.length; i++) {
    const payload = payloads[i]!;
    buffer.writeUInt32LE(payload.length, position);
    buffer.writeUInt16LE(i, position + 8);
    buffer.writeUInt16LE(payloads.length - 1 - i, position + 10);
    buffer.set(payload, position + frameHeaderBytes);
    const end = position + frameHeaderBytes + payload.length;
    buffer.writeUInt32LE(crc32c(buffer, position + 8, end), position + 4);
    position = end;
  }
  return buffer;
}

export function frameBytes(payloadLength: number): number {
  return frameHeaderBytes + payloadLength;
}

/** Reads a header at `position`; undefined when fewer than frameHeaderBytes remain. */
export function readFrameHeader(buffer: Uint8Array, position: number): FrameHeader | undefined {
  if (position + frameHeaderBytes > buffer.length) return undefined;
  const view = Buffer.from(buffer.buffer, buffer.byteOffset, buffer.length);
  return {
    payloadLength: view.readUInt32LE(position),
    crc: view.readUInt32LE(position + 4),
    batchPosition: view.readUInt16LE(position + 8),
    batchRemaining: view.readUInt16LE(position + 10),
  };
}

/**
 * True when the frame at `position`, whose header says `payloadLength` and `crc`, lies whole
 * inside `buffer` and its CRC matches: the one check every reader of frames makes.
 */
export function frameIntact(
  buffer: Uint8Array,
  position: number,
  payloadLength: number,
  crc: number,
): boolean {
  if (payloadLength < 0 || payloadLength > framePayloadBytesMax) return false;
  const end = position + frameHeaderBytes + payloadLength;
  if (end > buffer.length) return false;
  return crc32c(buffer, position + 8, end) === crc;
}

/** True when the whole frame at `position` is inside `buffer` and its CRC matches. */
export function frameIsValid(buffer: Uint8Array, position: number, header: FrameHeader): boolean {
  return frameIntact(buffer, position, header.payloadLength, header.crc);
}

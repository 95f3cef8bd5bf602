// A store frame: one record on disk.
//
//   payloadLength u32 · crc32c u32 · batchPosition u16 · batchRemaining u16 · payload
//
// The CRC covers the batch fields and the payload, so a torn or corrupt frame is detected. The
// batch fields make a batch atomic across crashes: recovery drops a trailing batch whose last
// frame still expects more (batchRemaining > 0). All integers are little-endian.
import { assert } from "../assert.js";
import { crc32c, crc32cRanges } from "./crc32c.js";

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

/** Reusable scratch for the CRC ranges of encodeBatch and checkFrameRun (grown to the largest run). */
let crcStarts = new Int32Array(128);
let crcEnds = new Int32Array(128);
let crcValues = new Uint32Array(128);

function growCrcScratch(count: number): void {
  if (crcStarts.length >= count) return;
  crcStarts = new Int32Array(count);
  crcEnds = new Int32Array(count);
  crcValues = new Uint32Array(count);
}

/** Writes payload `index` at `at` and returns the position after it (see writeBatch). */
export type PayloadWriter = (buffer: Buffer, at: number, index: number) => number;

/** Bytes of one batch whose payloads have these lengths. */
export function batchBytes(lengths: readonly number[]): number {
  let total = 0;
  for (let i = 0; i < lengths.length; i++) total += frameHeaderBytes + lengths[i]!;
  return total;
}

/**
 * Lays out one contiguous, atomic batch of frames in `buffer` from `at` (batchBytes(lengths) of
 * room): each header written in place, payload i (lengths[i] bytes) written by `writePayload`
 * straight into its frame, then the CRCs of all frames computed in one call (see crc32cRanges).
 * Returns the position after the batch. `writePayload` must not itself encode or check frames:
 * the CRC scratch is this module's, shared.
 */
export function writeBatch(
  buffer: Buffer,
  at: number,
  lengths: readonly number[],
  writePayload: PayloadWriter,
): number {
  const count = lengths.length;
  assert(count > 0, "writeBatch: empty batch");
  assert(count <= batchRecordsMax, "writeBatch: batch too large");
  growCrcScratch(count);
  let position = at;
  for (let i = 0; i < count; i++) {
    const length = lengths[i]!;
    assert(length <= framePayloadBytesMax, "writeBatch: payload too large");
    const remaining = count - 1 - i;
    buffer[position] = length;
    buffer[position + 1] = length >>> 8;
    buffer[position + 2] = length >>> 16;
    buffer[position + 3] = length >>> 24;
    buffer[position + 8] = i;
    buffer[position + 9] = i >>> 8;
    buffer[position + 10] = remaining;
    buffer[position + 11] = remaining >>> 8;
    const payloadAt = position + frameHeaderBytes;
    position = payloadAt + length;
    assert(writePayload(buffer, payloadAt, i) === position, "writeBatch: payload length");
    crcStarts[i] = payloadAt - 4;
    crcEnds[i] = position;
  }
  crc32cRanges(buffer, crcStarts, crcEnds, count, crcValues);
  for (let i = 0; i < count; i++) {
    const crcAt = crcStarts[i]! - 4;
    const crc = crcValues[i]!;
    buffer[crcAt] = crc;
    buffer[crcAt + 1] = crc >>> 8;
    buffer[crcAt + 2] = crc >>> 16;
    buffer[crcAt + 3] = crc >>> 24;
  }
  return position;
}

/**
 * Encodes payloads as one batch (see writeBatch) in a buffer of its own. `allocate` provides the
 * buffer (the log takes it from its pool, see buffer-pool.ts).
 */
export function encodeBatch(
  payloads: readonly Uint8Array[],
  allocate: (bytes: number) => Buffer = Buffer.allocUnsafe,
): Buffer {
  const lengths = payloads.map((payload) => payload.length);
  const buffer = allocate(batchBytes(lengths));
  writeBatch(buffer, 0, lengths, copyPayloads(payloads));
  return buffer;
}

/** The writer that copies `payloads[i]` as payload i. */
export function copyPayloads(payloads: readonly Uint8Array[]): PayloadWriter {
  return (buffer, at, i) => {
    const payload = payloads[i]!;
    buffer.set(payload, at);
    return at + payload.length;
  };
}

/**
 * Why `bytes` is not one whole batch of `count` frames as writeBatch lays them out (lengths in
 * bounds, batch fields numbering the frames, nothing after the last), or undefined when it is.
 * CRCs are not checked: readers check them.
 */
export function batchLayoutFault(bytes: Uint8Array, count: number): string | undefined {
  if (count < 1 || count > batchRecordsMax) return `a batch of ${count} frames`;
  let position = 0;
  for (let i = 0; i < count; i++) {
    if (position + frameHeaderBytes > bytes.length) return `frame ${i} of ${count} is missing`;
    const length =
      (bytes[position]! | (bytes[position + 1]! << 8) | (bytes[position + 2]! << 16)) +
      bytes[position + 3]! * 0x1000000;
    const batchPosition = bytes[position + 8]! | (bytes[position + 9]! << 8);
    const batchRemaining = bytes[position + 10]! | (bytes[position + 11]! << 8);
    if (batchPosition !== i || batchRemaining !== count - 1 - i)
      return `frame ${i} of ${count} is numbered ${batchPosition} with ${batchRemaining} to come`;
    if (length > framePayloadBytesMax) return `frame ${i} has a payload of ${length} bytes`;
    position += frameHeaderBytes + length;
  }
  return position === bytes.length
    ? undefined
    : `${count} frames end at byte ${position} of ${bytes.length}`;
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
 * Checks `count` consecutive frames from the start of `buffer` (the read path: a range read from
 * the store): each must lie whole inside it and match its CRC, the CRCs computed in one call (see
 * crc32cRanges). Writes each frame's payload bounds to `payloadStarts`/`payloadEnds` (at least
 * `count` long) and returns -1, or the index of the first frame that is not intact.
 */
export function checkFrameRun(
  buffer: Buffer,
  count: number,
  payloadStarts: Int32Array,
  payloadEnds: Int32Array,
): number {
  growCrcScratch(count);
  let at = 0;
  let walked = 0;
  for (; walked < count; walked++) {
    if (at + frameHeaderBytes > buffer.length) break;
    const payloadLength = buffer.readUInt32LE(at);
    const end = at + frameHeaderBytes + payloadLength;
    if (payloadLength > framePayloadBytesMax || end > buffer.length) break;
    crcStarts[walked] = at + 8;
    crcEnds[walked] = end;
    payloadStarts[walked] = at + frameHeaderBytes;
    payloadEnds[walked] = end;
    at = end;
  }
  crc32cRanges(buffer, crcStarts, crcEnds, walked, crcValues);
  for (let i = 0; i < walked; i++) {
    if (buffer.readUInt32LE(crcStarts[i]! - 4) !== crcValues[i]) return i;
  }
  return walked < count ? walked : -1;
}

/**
 * True when the whole frame at `position` is inside `buffer` and its CRC matches: the check of a
 * single frame (recovery); range reads check theirs together with checkFrameRun.
 */
export function frameIsValid(buffer: Uint8Array, position: number, header: FrameHeader): boolean {
  const { payloadLength } = header;
  if (payloadLength < 0 || payloadLength > framePayloadBytesMax) return false;
  const end = position + frameHeaderBytes + payloadLength;
  if (end > buffer.length) return false;
  return crc32c(buffer, position + 8, end) === header.crc;
}

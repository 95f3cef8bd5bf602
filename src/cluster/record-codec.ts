// The bytes of one record in a topic log (the log layer stores them as an opaque payload; the
// offset is the record's position in the log and is not repeated here). Little-endian:
//
//   version u8 (=1) · timeMs f64 · keyLength u32 · key · headerCount u32 ·
//   (nameLength u32 · name utf8 · valueLength u32 · value utf8)* · value (the rest)
//
// record-transcoder.ts transcodes stored records straight into the protobuf wire of the public
// tidelog.v1.Record, without decoding them into objects first: consumers' answers are built from
// it.
import { TidelogError } from "../errors.js";

export interface RecordInput {
  value: Uint8Array;
  key: Uint8Array;
  headers: { [name: string]: string };
}

export interface DecodedRecord extends RecordInput {
  offset: number;
  timeMs: number;
}

/** The format version in a stored record's first byte. */
export const storedRecordVersion = 1;
/** version, timeMs, keyLength and headerCount: the smallest stored record. */
export const storedRecordFixedBytes = 1 + 8 + 4 + 4;
const version = storedRecordVersion;
const fixedBytes = storedRecordFixedBytes;

export function malformedRecord(offset: number): TidelogError {
  return new TidelogError("data_loss", `record at offset ${offset} is malformed`, { offset });
}

/** Bytes `record` takes stored. */
export function storedRecordBytes(record: RecordInput): number {
  let size = fixedBytes + record.key.length + record.value.length;
  for (const [name, value] of Object.entries(record.headers))
    size += 8 + Buffer.byteLength(name) + Buffer.byteLength(value);
  return size;
}

/** Writes `record` stored at `at` (storedRecordBytes of room); returns the position after it. */
export function writeStoredRecord(
  buffer: Buffer,
  at: number,
  record: RecordInput,
  timeMs: number,
): number {
  buffer[at++] = version;
  at = buffer.writeDoubleLE(timeMs, at);
  at = buffer.writeUInt32LE(record.key.length, at);
  buffer.set(record.key, at);
  at += record.key.length;
  const countAt = at;
  at += 4;
  let count = 0;
  // Own entries only, read as entries: a header named "__proto__" is data, not a prototype.
  for (const [name, value] of Object.entries(record.headers)) {
    for (const text of [name, value]) {
      const length = buffer.write(text, at + 4, "utf8");
      at = buffer.writeUInt32LE(length, at) + length;
    }
    count++;
  }
  buffer.writeUInt32LE(count, countAt);
  buffer.set(record.value, at);
  return at + record.value.length;
}

export function encodeRecord(record: RecordInput, timeMs: number): Buffer {
  const buffer = Buffer.allocUnsafe(storedRecordBytes(record));
  writeStoredRecord(buffer, 0, record, timeMs);
  return buffer;
}

/** Headers a consume answer decodes at most (past one record's own: a record is never split). */
export const decodedHeadersMax = 10_000;

/** Where a stored record's key length and key are (after version u8 and timeMs f64). */
export const storedKeyLengthAt = 1 + 8;
export const storedKeyAt = storedKeyLengthAt + 4;

/** The header count of a stored record, read without decoding it (0 when malformed). */
export function storedHeaderCount(payload: Buffer): number {
  if (payload.length < fixedBytes) return 0;
  const keyLength = payload.readUInt32LE(storedKeyLengthAt);
  const at = storedKeyAt + keyLength;
  return at + 4 <= payload.length ? payload.readUInt32LE(at) : 0;
}

export function decodeRecord(offset: number, payload: Buffer): DecodedRecord {
  const fail = () => malformedRecord(offset);
  if (payload.length < fixedBytes || payload.readUInt8(0) !== version) throw fail();
  let at = 1;
  const timeMs = payload.readDoubleLE(at);
  at += 8;
  const keyLength = payload.readUInt32LE(at);
  at += 4;
  if (at + keyLength + 4 > payload.length) throw fail();
  const key = payload.subarray(at, at + keyLength);
  at += keyLength;
  const headerCount = payload.readUInt32LE(at);
  at += 4;
  const headers: { [name: string]: string } = {};
  for (let i = 0; i < headerCount; i++) {
    if (at + 4 > payload.length) throw fail();
    const nameLength = payload.readUInt32LE(at);
    at += 4;
    if (at + nameLength + 4 > payload.length) throw fail();
    const name = payload.toString("utf8", at, at + nameLength);
    at += nameLength;
    const valueLength = payload.readUInt32LE(at);
    at += 4;
    if (at + valueLength > payload.length) throw fail();
    // Defined, not assigned: a header named "__proto__" would otherwise set the prototype.
    Object.defineProperty(headers, name, {
      value: payload.toString("utf8", at, at + valueLength),
      enumerable: true,
      writable: true,
      configurable: true,
    });
    at += valueLength;
  }
  return { offset, timeMs, key, value: payload.subarray(at), headers };
}

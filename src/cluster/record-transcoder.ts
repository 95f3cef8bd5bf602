// Stored records (record-codec.ts) transcoded straight into the protobuf wire of the public
// tidelog.v1.Record, as the `repeated Record records = 1` field of ConsumeResponse: consumers'
// answers are built from it (topic-tail.ts, api/record-wire.ts), so it is the per-record hot path
// of a catch-up.
//
// Per record it allocates nothing and makes one builtin call (Uint8Array#set; keys and header
// strings over 32 B add a Buffer#copy). A first pass walks each payload by element reads (a
// Buffer's byteOffset and buffer getters cost 20–30 ns each, its length ~3) and sizes its wire, so
// the answer is allocated once at its exact size; records appended together share their time, so
// its split into seconds and nanos, and its wire bytes, are reused. A second pass writes the records from the last to
// the first: each payload is copied WHOLE so that its value (a payload's last field) lands where
// the wire wants it (~20 ns for 100 B, against ~80 for copying the value alone with Buffer#copy,
// which makes a view and checks its arguments). The stored fields in front of the value land on
// the wire's bytes before it, written right after, and on the records before it, written later;
// a little slack in front of the first record takes what would fall before the answer.
import { varintBytes, writeVarint } from "../protobuf-wire.js";
import {
  malformedRecord,
  storedKeyAt,
  storedKeyLengthAt,
  storedRecordFixedBytes,
  storedRecordVersion,
} from "./record-codec.js";

/** Records as the protobuf wire of a Record field each, with the positions of each record. */
export interface RecordsWire {
  /** `0x0a · length · Record` for each record, back to back. */
  bytes: Buffer;
  /** Where each record's field ends in `bytes`. */
  ends: number[];
  /** Stored payload bytes up to and including each record (consume byte limits count these). */
  payloadEnds: number[];
}

/** Keys, header names and values up to this long are copied by a byte loop, longer by copy. */
const byteLoopMaxBytes = 32;

/** What the first pass learns of each record (grown as needed, reused). */
let valueStarts = new Int32Array(1024);
let sizes = new Int32Array(1024);
let seconds = new Float64Array(1024);
let nanos = new Float64Array(1024);

function growScratch(count: number): void {
  if (valueStarts.length >= count) return;
  valueStarts = new Int32Array(count);
  sizes = new Int32Array(count);
  seconds = new Float64Array(count);
  nanos = new Float64Array(count);
}

const float64 = new Float64Array(1);
const float64Bytes = new Uint8Array(float64.buffer);
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function readFloat64LE(source: Buffer, at: number): number {
  if (littleEndian) {
    for (let i = 0; i < 8; i++) float64Bytes[i] = source[at + i]!;
  } else {
    for (let i = 0; i < 8; i++) float64Bytes[7 - i] = source[at + i]!;
  }
  return float64[0]!;
}

/** The caller has checked that source[at, at + 4) exists. */
function readUint32LE(source: Buffer, at: number): number {
  return (
    (source[at]! | (source[at + 1]! << 8) | (source[at + 2]! << 16)) + source[at + 3]! * 0x1000000
  );
}

/** Bytes of a varint (`value` a non-negative integer). */
function varintSize(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  if (value < 0x800000000) return 5;
  if (value < 0x40000000000) return 6;
  if (value < 0x2000000000000) return 7;
  return varintBytes(value);
}

/** Writes `value` as a varint at `at`; returns the position after it. Small enough to inline. */
function putVarint(target: Buffer, at: number, value: number): number {
  if (value < 0x80) {
    target[at] = value;
    return at + 1;
  }
  return putLongVarint(target, at, value);
}

function putLongVarint(target: Buffer, at: number, value: number): number {
  if (value > 0xffffffff) return writeVarint(target, at, value);
  let rest = value;
  while (rest > 0x7f) {
    target[at++] = (rest & 0x7f) | 0x80;
    rest >>>= 7;
  }
  target[at++] = rest;
  return at;
}

/** Copies source[from, from + length) to target at `at`; returns the position after it. */
function putBytes(
  target: Buffer,
  at: number,
  source: Buffer,
  from: number,
  length: number,
): number {
  if (length > byteLoopMaxBytes) return at + source.copy(target, at, from, from + length);
  for (let i = from; i < from + length; i++) target[at++] = source[i]!;
  return at;
}

/** Bytes of one header's map entry message (name = 1, value = 2), without its tag and length. */
function headerEntryBytes(nameLength: number, valueLength: number): number {
  return 2 + varintSize(nameLength) + nameLength + varintSize(valueLength) + valueLength;
}

/** Wire bytes of a record's field in front of its value: `0x0a · size`, then `0x0a · length`. */
function bytesBeforeValue(size: number, valueLength: number): number {
  return 1 + varintSize(size) + 1 + varintSize(valueLength);
}

/** Writes the key and headers fields of a stored record that has either; returns the end. */
function putKeyAndHeaders(buffer: Buffer, at: number, payload: Buffer): number {
  const keyLength = readUint32LE(payload, storedKeyLengthAt);
  if (keyLength > 0) {
    buffer[at++] = 0x12;
    at = putVarint(buffer, at, keyLength);
    at = putBytes(buffer, at, payload, storedKeyAt, keyLength);
  }
  let from = storedKeyAt + keyLength;
  const headerCount = readUint32LE(payload, from);
  from += 4;
  for (let h = 0; h < headerCount; h++) {
    const nameLength = readUint32LE(payload, from);
    const nameStart = from + 4;
    const valueLength = readUint32LE(payload, nameStart + nameLength);
    const valueStart = nameStart + nameLength + 4;
    from = valueStart + valueLength;
    buffer[at++] = 0x1a;
    at = putVarint(buffer, at, headerEntryBytes(nameLength, valueLength));
    buffer[at++] = 0x0a;
    at = putVarint(buffer, at, nameLength);
    at = putBytes(buffer, at, payload, nameStart, nameLength);
    buffer[at++] = 0x12;
    at = putVarint(buffer, at, valueLength);
    at = putBytes(buffer, at, payload, valueStart, valueLength);
  }
  return at;
}

/** The wire of the last time written (`0x2a · length · seconds · nanos`), reused while equal. */
const timeField = Buffer.alloc(32);
let timeFieldLength = 0;
let timeFieldSeconds = Number.NaN;
let timeFieldNanos = Number.NaN;

function setTimeField(timeSeconds: number, timeNanos: number): void {
  timeFieldSeconds = timeSeconds;
  timeFieldNanos = timeNanos;
  timeField[0] = 0x2a;
  let at = putVarint(
    timeField,
    1,
    (timeSeconds > 0 ? 1 + varintSize(timeSeconds) : 0) +
      (timeNanos > 0 ? 1 + varintSize(timeNanos) : 0),
  );
  if (timeSeconds > 0) {
    timeField[at++] = 0x08;
    at = putVarint(timeField, at, timeSeconds);
  }
  if (timeNanos > 0) {
    timeField[at++] = 0x10;
    at = putVarint(timeField, at, timeNanos);
  }
  timeFieldLength = at;
}

/**
 * Transcodes stored records (offset + payload in record-codec.ts's format) into the wire of
 * `repeated tidelog.v1.Record records = 1`, field by field as protobuf-es would write them:
 *
 *   Record { bytes value = 1; bytes key = 2; map<string,string> headers = 3; uint64 offset = 4;
 *            google.protobuf.Timestamp time = 5; }
 *
 * Empty value, key and zero offset are left out (proto3 defaults); the time field is always
 * present. Header names and values are copied as the UTF-8 bytes they were stored as. A payload
 * that does not walk (the checks of decodeRecord) is data_loss. The bytes are written into
 * `allocate(n)` (at least n bytes; a fresh buffer by default).
 */
export function encodeRecordsWire(
  records: readonly { offset: number; payload: Buffer }[],
  allocate: (bytes: number) => Buffer = Buffer.allocUnsafe,
): RecordsWire {
  const count = records.length;
  growScratch(count);
  const ends: number[] = new Array(count);
  const payloadEnds: number[] = new Array(count);
  // First pass: check and size every record; `total` is the wire so far.
  let total = 0;
  let slack = 0;
  let payloadTotal = 0;
  // Records appended together share their time: the last one's split is kept.
  let lastTimeMs = Number.NaN;
  let timeSeconds = 0;
  let timeNanos = 0;
  let timeBytes = 0;
  for (let i = 0; i < count; i++) {
    const { offset, payload } = records[i]!;
    const length = payload.length;
    if (length < storedRecordFixedBytes || payload[0] !== storedRecordVersion) {
      throw malformedRecord(offset);
    }
    const keyLength = readUint32LE(payload, storedKeyLengthAt);
    let at = storedKeyAt;
    if (at + keyLength + 4 > length) throw malformedRecord(offset);
    at += keyLength;
    const headerCount = readUint32LE(payload, at);
    at += 4;
    let headersWire = 0;
    for (let h = 0; h < headerCount; h++) {
      if (at + 4 > length) throw malformedRecord(offset);
      const nameLength = readUint32LE(payload, at);
      at += 4;
      if (at + nameLength + 4 > length) throw malformedRecord(offset);
      at += nameLength;
      const valueLength = readUint32LE(payload, at);
      at += 4;
      if (at + valueLength > length) throw malformedRecord(offset);
      at += valueLength;
      const entry = headerEntryBytes(nameLength, valueLength);
      headersWire += 1 + varintSize(entry) + entry;
    }
    const valueLength = length - at;
    const timeMs = readFloat64LE(payload, 1);
    if (timeMs !== lastTimeMs) {
      lastTimeMs = timeMs;
      timeSeconds = Math.floor(timeMs / 1000);
      timeNanos = Math.round((timeMs - timeSeconds * 1000) * 1_000_000);
      timeBytes =
        (timeSeconds > 0 ? 1 + varintSize(timeSeconds) : 0) +
        (timeNanos > 0 ? 1 + varintSize(timeNanos) : 0);
    }
    let size = 1 + varintSize(timeBytes) + timeBytes + headersWire;
    if (valueLength > 0) size += 1 + varintSize(valueLength) + valueLength;
    if (keyLength > 0) size += 1 + varintSize(keyLength) + keyLength;
    if (offset > 0) size += 1 + varintSize(offset);
    if (valueLength > 0) {
      // The whole payload is copied so that its value ends where the wire's does.
      const copyStart = total + bytesBeforeValue(size, valueLength) - at;
      if (-copyStart > slack) slack = -copyStart;
    }
    valueStarts[i] = at;
    sizes[i] = size;
    seconds[i] = timeSeconds;
    nanos[i] = timeNanos;
    total += 1 + varintSize(size) + size;
    ends[i] = total;
    payloadTotal += length;
    payloadEnds[i] = payloadTotal;
  }

  // Second pass, last record first: a record's payload copy only overwrites bytes in front of
  // its value, which belong to itself (written just after) or to records not written yet.
  const buffer = allocate(Math.max(slack + total, 1));
  for (let i = count - 1; i >= 0; i--) {
    const { offset, payload } = records[i]!;
    const length = payload.length;
    const valueStart = valueStarts[i]!;
    const valueLength = length - valueStart;
    const size = sizes[i]!;
    let at = slack + (i === 0 ? 0 : ends[i - 1]!);
    if (valueLength > 0) {
      buffer.set(payload, at + bytesBeforeValue(size, valueLength) - valueStart);
    }
    buffer[at++] = 0x0a;
    at = putVarint(buffer, at, size);
    if (valueLength > 0) {
      buffer[at++] = 0x0a;
      at = putVarint(buffer, at, valueLength);
      at += valueLength;
    }
    if (valueStart > storedRecordFixedBytes) at = putKeyAndHeaders(buffer, at, payload);
    if (offset > 0) {
      buffer[at++] = 0x20;
      at = putVarint(buffer, at, offset);
    }
    if (seconds[i] !== timeFieldSeconds || nanos[i] !== timeFieldNanos) {
      setTimeField(seconds[i]!, nanos[i]!);
    }
    for (let t = 0; t < timeFieldLength; t++) buffer[at++] = timeField[t]!;
  }
  return { bytes: buffer.subarray(slack, slack + total), ends, payloadEnds };
}

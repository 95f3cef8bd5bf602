// The bytes of one record in a topic log (the log layer stores them as an opaque payload; the
// offset is the record's position in the log and is not repeated here). Little-endian:
//
//   version u8 (=1) · timeMs f64 · keyLength u32 · key · headerCount u32 ·
//   (nameLength u32 · name utf8 · valueLength u32 · value utf8)* · value (the rest)
//
// encodeRecordsWire transcodes stored records straight into the protobuf wire of the public
// tidelog.v1.Record (as the `repeated Record records = 1` field of ConsumeResponse), without
// decoding them into objects first: consumers' answers are built from it.
import { TidelogError } from "../errors.js";
import { varintBytes, writeVarint } from "../protobuf-wire.js";

export interface RecordInput {
  value: Uint8Array;
  key: Uint8Array;
  headers: { [name: string]: string };
}

export interface DecodedRecord extends RecordInput {
  offset: number;
  timeMs: number;
}

const version = 1;
const fixedBytes = 1 + 8 + 4 + 4;

export function encodeRecord(record: RecordInput, timeMs: number): Buffer {
  const headerEntries = Object.entries(record.headers);
  let size = fixedBytes + record.key.length + record.value.length;
  const encodedHeaders: Buffer[] = [];
  for (const [name, value] of headerEntries) {
    const nameBytes = Buffer.from(name, "utf8");
    const valueBytes = Buffer.from(value, "utf8");
    encodedHeaders.push(nameBytes, valueBytes);
    size += 8 + nameBytes.length + valueBytes.length;
  }
  const buffer = Buffer.allocUnsafe(size);
  let at = buffer.writeUInt8(version, 0);
  at = buffer.writeDoubleLE(timeMs, at);
  at = buffer.writeUInt32LE(record.key.length, at);
  buffer.set(record.key, at);
  at += record.key.length;
  at = buffer.writeUInt32LE(headerEntries.length, at);
  for (const part of encodedHeaders) {
    at = buffer.writeUInt32LE(part.length, at);
    part.copy(buffer, at);
    at += part.length;
  }
  buffer.set(record.value, at);
  return buffer;
}

export function decodeRecord(offset: number, payload: Buffer): DecodedRecord {
  const fail = () =>
    new TidelogError("data_loss", `record at offset ${offset} is malformed`, { offset });
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
    headers[name] = payload.toString("utf8", at, at + valueLength);
    at += valueLength;
  }
  return { offset, timeMs, key, value: payload.subarray(at), headers };
}

/** What a record's payload holds, found by walking it once (positions into the payload). */
interface StoredLayout {
  timeMs: number;
  keyLength: number;
  headerCount: number;
  headersStart: number;
  /** Bytes of the headers as map<string,string> entries on the wire, tags included. */
  headersWireBytes: number;
  valueStart: number;
}

function malformed(offset: number): TidelogError {
  return new TidelogError("data_loss", `record at offset ${offset} is malformed`, { offset });
}

/** Walks a stored payload with the same checks as decodeRecord, without copying anything. */
function storedLayout(offset: number, payload: Buffer): StoredLayout {
  const length = payload.length;
  if (length < fixedBytes || payload[0] !== version) throw malformed(offset);
  const timeMs = payload.readDoubleLE(1);
  const keyLength = payload.readUInt32LE(9);
  let at = 13;
  if (at + keyLength + 4 > length) throw malformed(offset);
  at += keyLength;
  const headerCount = payload.readUInt32LE(at);
  at += 4;
  const headersStart = at;
  let headersWireBytes = 0;
  for (let i = 0; i < headerCount; i++) {
    if (at + 4 > length) throw malformed(offset);
    const nameLength = payload.readUInt32LE(at);
    at += 4;
    if (at + nameLength + 4 > length) throw malformed(offset);
    at += nameLength;
    const valueLength = payload.readUInt32LE(at);
    at += 4;
    if (at + valueLength > length) throw malformed(offset);
    at += valueLength;
    const entry = 2 + varintBytes(nameLength) + nameLength + varintBytes(valueLength) + valueLength;
    headersWireBytes += 1 + varintBytes(entry) + entry;
  }
  return { timeMs, keyLength, headerCount, headersStart, headersWireBytes, valueStart: at };
}

/** A stored record as the protobuf wire of a Record field: wire positions of each record. */
export interface RecordsWire {
  /** `0x0a · length · Record` for each record, back to back. */
  bytes: Buffer;
  /** Where each record's field ends in `bytes`. */
  ends: number[];
  /** Stored payload bytes up to and including each record (consume byte limits count these). */
  payloadEnds: number[];
}

/**
 * Transcodes stored records (offset + payload in this file's format) into the wire of
 * `repeated tidelog.v1.Record records = 1`, field by field as protobuf-es would write them:
 *
 *   Record { bytes value = 1; bytes key = 2; map<string,string> headers = 3; uint64 offset = 4;
 *            google.protobuf.Timestamp time = 5; }
 *
 * Empty value, key and zero offset are left out (proto3 defaults); the time field is always
 * present. Header names and values are copied as the UTF-8 bytes they were stored as.
 */
export function encodeRecordsWire(
  records: readonly { offset: number; payload: Buffer }[],
): RecordsWire {
  let estimate = 0;
  for (const record of records) estimate += record.payload.length + 32;
  let buffer = Buffer.allocUnsafe(Math.max(estimate, 64));
  const ends: number[] = new Array(records.length);
  const payloadEnds: number[] = new Array(records.length);
  let at = 0;
  let payloadTotal = 0;
  for (let i = 0; i < records.length; i++) {
    const { offset, payload } = records[i]!;
    const layout = storedLayout(offset, payload);
    const valueLength = payload.length - layout.valueStart;
    const keyLength = layout.keyLength;
    const seconds = Math.floor(layout.timeMs / 1000);
    const nanos = Math.round((layout.timeMs - seconds * 1000) * 1_000_000);
    const timeBytes =
      (seconds > 0 ? 1 + varintBytes(seconds) : 0) + (nanos > 0 ? 1 + varintBytes(nanos) : 0);
    let size = 1 + varintBytes(timeBytes) + timeBytes + layout.headersWireBytes;
    if (valueLength > 0) size += 1 + varintBytes(valueLength) + valueLength;
    if (keyLength > 0) size += 1 + varintBytes(keyLength) + keyLength;
    if (offset > 0) size += 1 + varintBytes(offset);
    const fieldBytes = 1 + varintBytes(size) + size;
    if (at + fieldBytes > buffer.length) {
      const grown = Buffer.allocUnsafe(Math.max(buffer.length * 2, at + fieldBytes));
      buffer.copy(grown, 0, 0, at);
      buffer = grown;
    }
    buffer[at++] = 0x0a;
    at = writeVarint(buffer, at, size);
    if (valueLength > 0) {
      buffer[at++] = 0x0a;
      at = writeVarint(buffer, at, valueLength);
      at += payload.copy(buffer, at, layout.valueStart);
    }
    if (keyLength > 0) {
      buffer[at++] = 0x12;
      at = writeVarint(buffer, at, keyLength);
      at += payload.copy(buffer, at, 13, 13 + keyLength);
    }
    let from = layout.headersStart;
    for (let h = 0; h < layout.headerCount; h++) {
      const nameLength = payload.readUInt32LE(from);
      const nameStart = from + 4;
      const valueLengthOfHeader = payload.readUInt32LE(nameStart + nameLength);
      const valueStart = nameStart + nameLength + 4;
      buffer[at++] = 0x1a;
      at = writeVarint(
        buffer,
        at,
        2 +
          varintBytes(nameLength) +
          nameLength +
          varintBytes(valueLengthOfHeader) +
          valueLengthOfHeader,
      );
      buffer[at++] = 0x0a;
      at = writeVarint(buffer, at, nameLength);
      at += payload.copy(buffer, at, nameStart, nameStart + nameLength);
      buffer[at++] = 0x12;
      at = writeVarint(buffer, at, valueLengthOfHeader);
      at += payload.copy(buffer, at, valueStart, valueStart + valueLengthOfHeader);
      from = valueStart + valueLengthOfHeader;
    }
    if (offset > 0) {
      buffer[at++] = 0x20;
      at = writeVarint(buffer, at, offset);
    }
    buffer[at++] = 0x2a;
    at = writeVarint(buffer, at, timeBytes);
    if (seconds > 0) {
      buffer[at++] = 0x08;
      at = writeVarint(buffer, at, seconds);
    }
    if (nanos > 0) {
      buffer[at++] = 0x10;
      at = writeVarint(buffer, at, nanos);
    }
    ends[i] = at;
    payloadTotal += payload.length;
    payloadEnds[i] = payloadTotal;
  }
  return { bytes: buffer.subarray(0, at), ends, payloadEnds };
}

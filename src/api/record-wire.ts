// Encodes a record as a tidelog.v1.Record in protobuf binary, by hand. Consume answers in a
// binary protocol carry these bytes as field 1 (`repeated Record records`) of ConsumeResponse
// through protobuf-es's unknown fields, which it writes verbatim: the wire is exactly that of the
// declared message, without building a message object per record (reflection-based encoding cost
// ~10 µs per record, most of a catch-up's CPU). JSON answers use the declared fields.
//
// Consumers' answers carry whole batches transcoded from the stored records in one buffer
// (record-codec.ts encodeRecordsWire, `0x0a · length · Record` per record): recordsAsUnknownField
// hands such a buffer to protobuf-es as ONE unknown field, which writes the first tag itself and
// the rest verbatim: the bytes on the wire are exactly those of the repeated field.
//
//   Record { bytes value = 1; bytes key = 2; map<string,string> headers = 3; uint64 offset = 4;
//            google.protobuf.Timestamp time = 5; }
import type { UnknownField } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import type { DecodedRecord } from "../cluster/broker.js";
import { varintBytes, writeVarint } from "../protobuf-wire.js";

function lengthDelimitedBytes(length: number): number {
  return 1 + varintBytes(length) + length;
}

/**
 * The record as the payload of an unknown length-delimited field: its length prefix followed by
 * the Record message bytes (protobuf-es writes the tag itself).
 */
export function recordAsUnknownField(record: DecodedRecord): UnknownField {
  const seconds = Math.floor(record.timeMs / 1000);
  const nanos = Math.round((record.timeMs - seconds * 1000) * 1_000_000);
  const timeBytes =
    (seconds > 0 ? 1 + varintBytes(seconds) : 0) + (nanos > 0 ? 1 + varintBytes(nanos) : 0);
  const headers: [Buffer, Buffer][] = [];
  let size = 0;
  if (record.value.length > 0) size += lengthDelimitedBytes(record.value.length);
  if (record.key.length > 0) size += lengthDelimitedBytes(record.key.length);
  for (const name in record.headers) {
    const entry: [Buffer, Buffer] = [
      Buffer.from(name, "utf8"),
      Buffer.from(record.headers[name]!, "utf8"),
    ];
    headers.push(entry);
    size += lengthDelimitedBytes(
      lengthDelimitedBytes(entry[0].length) + lengthDelimitedBytes(entry[1].length),
    );
  }
  if (record.offset > 0) size += 1 + varintBytes(record.offset);
  size += lengthDelimitedBytes(timeBytes);
  const buffer = Buffer.allocUnsafe(varintBytes(size) + size);
  let at = writeVarint(buffer, 0, size);
  const writeBytes = (tag: number, data: Uint8Array) => {
    buffer[at++] = tag;
    at = writeVarint(buffer, at, data.length);
    buffer.set(data, at);
    at += data.length;
  };
  if (record.value.length > 0) writeBytes(0x0a, record.value);
  if (record.key.length > 0) writeBytes(0x12, record.key);
  for (const [name, value] of headers) {
    buffer[at++] = 0x1a;
    at = writeVarint(
      buffer,
      at,
      lengthDelimitedBytes(name.length) + lengthDelimitedBytes(value.length),
    );
    writeBytes(0x0a, name);
    writeBytes(0x12, value);
  }
  if (record.offset > 0) {
    buffer[at++] = 0x20;
    at = writeVarint(buffer, at, record.offset);
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
  return { no: 1, wireType: WireType.LengthDelimited, data: buffer.subarray(0, at) };
}

/**
 * `repeated Record records = 1` wire bytes (each record with its 0x0a tag, at least one record) as
 * one unknown field of ConsumeResponse: protobuf-es writes the tag 0x0a, then `data`, which is the
 * buffer without its first tag byte.
 */
export function recordsAsUnknownField(recordsWire: Buffer): UnknownField {
  if (recordsWire.length === 0 || recordsWire[0] !== 0x0a) {
    throw new Error("records wire must start with the tag of field 1, length-delimited");
  }
  return { no: 1, wireType: WireType.LengthDelimited, data: recordsWire.subarray(1) };
}

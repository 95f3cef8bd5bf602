// A hand decoder of tidelog.v1.ProduceRequest for the plain-gRPC Produce routes
// (server/fast-grpc-routes.ts, through api/request-decoding.ts). protobuf-es's fromBinary decodes
// by reflection (a field lookup, a reflect wrapper and a generic reader call per field): it cost
// ~7% of the leader's CPU when producing small records. This reads the shape producers send
// straight into the plain objects protobuf-es builds: messages `{ $typeName, ...fields }`, map
// fields as plain objects, bytes as views (subarray) into the input, as fromBinary returns them.
//
// protobuf-es stays the reference and the error path: anything outside that shape (an unknown
// field, another wire type or a non-minimal tag, a varint longer than its type, a length past its
// message, invalid UTF-8, a "__proto__" header, ...) answers undefined, and the caller runs
// fromBinary, which decodes it or throws its own error. test/api/produce-request-wire.test.ts holds
// the two to each other.
import { isUtf8 } from "node:buffer";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import type { ProduceRequest } from "../gen/tidelog/v1/log_service_pb.js";
import type { Record as LogRecord } from "../gen/tidelog/v1/record_pb.js";

/**
 * Absent bytes fields get a new empty Uint8Array, like protobuf-es's zero value; on this shared
 * empty ArrayBuffer it costs a third of `new Uint8Array(0)`, which allocates a buffer each time.
 */
const noBytes = new ArrayBuffer(0);

/**
 * The request `bytes` decoded as fromBinary(ProduceRequestSchema, bytes) would, or undefined for
 * fromBinary to decide. Never throws.
 */
export function decodeProduceRequestFast(bytes: Uint8Array): ProduceRequest | undefined {
  const reader = new Reader(bytes);
  const end = bytes.length;
  let topic = "";
  const records: LogRecord[] = [];
  while (reader.pos < end) {
    const tag = bytes[reader.pos++];
    if (tag === 0x0a) {
      const text = reader.string(end);
      if (text === undefined) return undefined;
      topic = text; // the last one wins, as in protobuf
    } else if (tag === 0x12) {
      const record = reader.record(end);
      if (record === undefined) return undefined;
      records.push(record);
    } else return undefined;
  }
  return { $typeName: "tidelog.v1.ProduceRequest", topic, records };
}

/** Reads at `pos`; every method answers undefined (or -1, false) for what it does not accept. */
class Reader {
  pos = 0;
  /** The same bytes as a Buffer, to decode strings. */
  private readonly buffer: Buffer;

  constructor(private readonly bytes: Uint8Array) {
    this.buffer = Buffer.isBuffer(bytes)
      ? bytes
      : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /**
   * Reads a length prefix (at most 5 bytes); the end of the data, or -1 if it passes `end` (as
   * does any length of 2^32 or more, whose upper bits protobuf-es would drop).
   */
  delimited(end: number): number {
    let length = 0;
    // 128^i kept by multiplication: `2 ** shift` with a variable exponent is a Math.pow call.
    for (let i = 0, scale = 1; i < 5; i++, scale *= 128) {
      if (this.pos >= end) return -1;
      const byte = this.bytes[this.pos++]!;
      length += (byte & 0x7f) * scale;
      if (byte < 0x80) return length <= end - this.pos ? this.pos + length : -1;
    }
    return -1;
  }

  /** A varint as uint64; undefined past `end` or beyond 2^64 - 1 (which protobuf-es truncates). */
  uint64(end: number): bigint | undefined {
    let low = 0; // bits 0 to 48 (bytes 1 to 7): exact in a double
    let high = 0; // bits 49 to 63 (bytes 8 to 10)
    for (let i = 0, scale = 1; i < 10; i++, scale = i === 7 ? 1 : scale * 128) {
      if (this.pos >= end) return undefined;
      const byte = this.bytes[this.pos++]!;
      if (i < 7) low += (byte & 0x7f) * scale;
      else if (i < 9 || byte <= 1) high += (byte & 0x7f) * scale;
      else return undefined;
      if (byte < 0x80) return high === 0 ? BigInt(low) : (BigInt(high) << 49n) | BigInt(low);
    }
    return undefined;
  }

  /** A length-delimited view into the input, as protobuf-es's reader.bytes() (subarray). */
  view(end: number): Uint8Array | undefined {
    const stop = this.delimited(end);
    if (stop < 0) return undefined;
    const start = this.pos;
    this.pos = stop;
    return this.bytes.subarray(start, stop);
  }

  /** A length-delimited UTF-8 string, decoded as protobuf-es's TextDecoder does. */
  string(end: number): string | undefined {
    const stop = this.delimited(end);
    if (stop < 0) return undefined;
    const start = this.pos;
    this.pos = stop;
    if (stop - start <= 12) {
      // Short ASCII (header names, topics) is quickest built by hand.
      let text = "";
      for (let at = start; at < stop; at++) {
        const byte = this.bytes[at]!;
        if (byte >= 0x80) return this.utf8(start, stop);
        text += String.fromCharCode(byte);
      }
      return text;
    }
    return this.utf8(start, stop);
  }

  private utf8(start: number, stop: number): string | undefined {
    // Buffer decoding replaces every invalid sequence with U+FFFD, so only a text holding one
    // needs the check that the bytes are UTF-8 (protobuf-es throws on invalid UTF-8).
    const text = this.buffer.toString("utf8", start, stop);
    if (text.includes("\uFFFD") && !isUtf8(this.bytes.subarray(start, stop))) return undefined;
    // protobuf-es's TextDecoder drops one leading byte order mark.
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  }

  record(end: number): LogRecord | undefined {
    const stop = this.delimited(end);
    if (stop < 0) return undefined;
    let value: Uint8Array | undefined;
    let key: Uint8Array | undefined;
    const headers: { [key: string]: string } = {};
    let offset = 0n;
    let time: Timestamp | undefined;
    while (this.pos < stop) {
      switch (this.bytes[this.pos++]) {
        case 0x0a:
          if ((value = this.view(stop)) === undefined) return undefined;
          break;
        case 0x12:
          if ((key = this.view(stop)) === undefined) return undefined;
          break;
        case 0x1a:
          if (!this.header(stop, headers)) return undefined;
          break;
        case 0x20: {
          const read = this.uint64(stop);
          if (read === undefined) return undefined;
          offset = read;
          break;
        }
        case 0x2a:
          if ((time = this.timestamp(stop, time)) === undefined) return undefined;
          break;
        default:
          return undefined;
      }
    }
    // `time` is absent unless set, as in protobuf-es's messages.
    const record: LogRecord = {
      $typeName: "tidelog.v1.Record",
      value: value ?? new Uint8Array(noBytes),
      key: key ?? new Uint8Array(noBytes),
      headers,
      offset,
    };
    if (time !== undefined) record.time = time;
    return record;
  }

  /** One map entry into `headers`: key 1, value 2, either missing meaning "". */
  header(end: number, headers: { [key: string]: string }): boolean {
    const stop = this.delimited(end);
    if (stop < 0) return false;
    let key: string | undefined = "";
    let value: string | undefined = "";
    while (this.pos < stop) {
      const tag = this.bytes[this.pos++];
      if (tag === 0x0a) key = this.string(stop);
      else if (tag === 0x12) value = this.string(stop);
      else return false;
      if (key === undefined || value === undefined) return false;
    }
    // An assignment of "__proto__" on a plain object would set the prototype: protobuf-es
    // (patched, docs/DECISIONS.md) defines that key as an own property; it decodes this request.
    if (key === "__proto__") return false;
    headers[key] = value; // a later duplicate wins
    return true;
  }

  /** google.protobuf.Timestamp, merged into `time` when the field repeats, as protobuf does. */
  timestamp(end: number, time: Timestamp | undefined): Timestamp | undefined {
    const stop = this.delimited(end);
    if (stop < 0) return undefined;
    const merged = time ?? { $typeName: "google.protobuf.Timestamp", seconds: 0n, nanos: 0 };
    while (this.pos < stop) {
      const tag = this.bytes[this.pos++];
      if (tag !== 0x08 && tag !== 0x10) return undefined;
      const read = this.uint64(stop);
      if (read === undefined) return undefined;
      // seconds is an int64, nanos an int32 (the low 32 bits of the varint, as protobuf-es).
      if (tag === 0x08) merged.seconds = BigInt.asIntN(64, read);
      else merged.nanos = Number(BigInt.asIntN(32, read));
    }
    return merged;
  }
}

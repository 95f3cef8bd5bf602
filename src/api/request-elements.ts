// A bound on the work of decoding a request, checked on its bytes before they are decoded.
//
// Bytes bound a request only loosely: a field, a record or a JSON value takes two bytes, and each
// costs microseconds to decode (protobuf-es builds an object or a map entry for it; JSON.parse and
// fromJson more). An outside probe's one 8 MB ProduceRequest of 4 million empty records held a
// leader's loop for 7.4 s over Connect (10 s as JSON), enough to cost it its office, and the same
// bytes as unknown fields cost any method as much. So every request message from a client is
// counted first: its protobuf wire (each field, map entry and nested message's fields, by the
// schema) or its JSON (each member and array element, outside strings). A ProduceRequest may hold
// as many as its limits allow (records, headers); any other request at most
// requestElementsMax, far above what any of them needs. Counting stops past the bound, so it
// costs microseconds; a malformed message stops it too, and the decoder reports that.
//
// The Raft service's binary messages are not counted: members send them (a leader's append holds
// as many entries as fit its size), and their cluster id, the members' credential, is checked on
// the wire before anything is decoded (cluster/raft-service.ts, checkClusterOnWire). Members do
// not send JSON: as JSON they are bounded as any other request.
import { type DescMessage, ScalarType } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { ApiLimits } from "./limits.js";

/** Elements (fields, entries, JSON members and values) of any request but a ProduceRequest. */
export const requestElementsMax = 4096;

const produceRequestTypeName = "tidelog.v1.ProduceRequest";
const peerPackagePrefix = "tidelog.raft.";

/**
 * Elements a ProduceRequest within `limits` may take: on the wire a record is at most 6 (value,
 * key, offset, time and its 2 fields) and a header 3 (the map entry, its key and value); as JSON
 * a record is at most 8 (braces, members, commas) and a header 2.
 */
export function produceElementsMax(limits: ApiLimits): number {
  return 8 * limits.requestRecordsMax + 3 * limits.requestHeadersMax + 64;
}

/** A RaftService request: members send it, in binary (their cluster id is checked on its wire). */
export function isPeerRequest(input: DescMessage): boolean {
  return input.typeName.startsWith(peerPackagePrefix);
}

function tooMany(what: string): ConnectError {
  return new ConnectError(what, Code.ResourceExhausted);
}

/**
 * Throws resource_exhausted when the request message `bytes` of type `input` (binary protobuf, or
 * JSON) would take more decoding than its limits allow. Connect's routes call it through the
 * checkRequest option (patches/@connectrpc+connect), the plain gRPC routes before they decode.
 */
export function checkRequestElements(
  input: DescMessage,
  bytes: Uint8Array,
  binary: boolean,
  limits: ApiLimits,
): void {
  if (binary && isPeerRequest(input)) return;
  const produce = input.typeName === produceRequestTypeName;
  const max = produce ? produceElementsMax(limits) : requestElementsMax;
  const counts = binary ? countWire(input, bytes, max) : countJson(bytes, max);
  if (produce) {
    if (counts.records > limits.requestRecordsMax)
      throw tooMany(`a produce request holds at most ${limits.requestRecordsMax} records`);
    if (counts.headers > limits.requestHeadersMax)
      throw tooMany(
        `a produce request holds at most ${limits.requestHeadersMax} record headers, all records together`,
      );
  }
  if (counts.elements > max)
    throw tooMany(
      `the request message holds more than ${max} fields and values, too many to decode`,
    );
}

export interface ElementCounts {
  /** Fields (at any depth) or JSON members and values, stopping past the bound. */
  elements: number;
  /** Of a ProduceRequest: its records, and their headers. */
  records: number;
  headers: number;
}

/** Nested messages deeper than this are not looked into (the decoder refuses such nesting). */
const depthMax = 64;

class WireCounter {
  elements = 0;
  records = 0;
  headers = 0;
  /** Past the bound, or the wire did not parse: stop. */
  stopped = false;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly max: number,
    private readonly produce: boolean,
  ) {}

  private pos = 0;

  /** A varint of at most 10 bytes, as a number (exact below 2^53); -1 when malformed or past end. */
  private varint(end: number): number {
    let value = 0;
    for (let i = 0, scale = 1; i < 10; i++, scale *= 128) {
      if (this.pos >= end) return -1;
      const byte = this.bytes[this.pos++]!;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
    }
    return -1;
  }

  /**
   * Counts the fields of a `desc` message in [pos, end); depth 0 is the request itself. A map
   * entry has no desc: its value (field 2) is a `mapValue` message, if any.
   */
  message(desc: DescMessage | undefined, end: number, depth: number, mapValue?: DescMessage): void {
    while (this.pos < end && !this.stopped) {
      const tag = this.varint(end);
      if (tag < 0 || ++this.elements > this.max) {
        this.stopped = true;
        return;
      }
      const wireType = tag % 8;
      const number = Math.floor(tag / 8);
      if (wireType === 0) {
        if (this.varint(end) < 0) this.stopped = true;
      } else if (wireType === 1 || wireType === 5) {
        this.pos += wireType === 1 ? 8 : 4;
        if (this.pos > end) this.stopped = true;
      } else if (wireType === 2) {
        const length = this.varint(end);
        if (length < 0 || length > end - this.pos) {
          this.stopped = true;
          return;
        }
        const stop = this.pos + length;
        if (desc === undefined) {
          if (number === 2 && mapValue !== undefined && depth < depthMax)
            this.message(mapValue, stop, depth + 1);
        } else this.delimited(desc, number, stop, depth);
        this.pos = stop;
      } else if (wireType !== 3 && wireType !== 4) {
        // Groups' fields are counted where they stand; anything else does not parse.
        this.stopped = true;
      }
    }
  }

  private delimited(desc: DescMessage, number: number, stop: number, depth: number) {
    const field = desc.fields.find((candidate) => candidate.number === number);
    if (field === undefined || depth >= depthMax) return;
    if (this.produce && depth === 0 && number === 2) this.records++;
    if (this.produce && depth === 1 && number === 3) this.headers++;
    if (
      field.fieldKind === "message" ||
      (field.fieldKind === "list" && field.listKind === "message")
    )
      this.message(field.message, stop, depth + 1);
    else if (field.fieldKind === "map")
      this.message(
        undefined,
        stop,
        depth + 1,
        field.mapKind === "message" ? field.message : undefined,
      );
    else if (
      field.fieldKind === "list" &&
      (field.listKind === "enum" ||
        (field.scalar !== ScalarType.STRING && field.scalar !== ScalarType.BYTES))
    ) {
      // Packed numbers: at most one per byte.
      this.elements += stop - this.pos;
      if (this.elements > this.max) this.stopped = true;
    }
  }
}

/** The elements of a protobuf message `desc` on the wire, stopping past `max`. */
export function countWire(desc: DescMessage, bytes: Uint8Array, max: number): ElementCounts {
  const counter = new WireCounter(bytes, max, desc.typeName === produceRequestTypeName);
  counter.message(desc, bytes.length, 0);
  return counter;
}

const quote = 0x22;
const backslash = 0x5c;

/**
 * The members and values of a JSON text (each comma, colon and opening bracket outside strings),
 * stopping past `max`. For a ProduceRequest, the objects in its array (records: depth 2) and the
 * members at depth 4 (headers) are counted too; nothing else in a valid one sits there.
 */
export function countJson(bytes: Uint8Array, max: number): ElementCounts {
  const buffer = Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const counts: ElementCounts = { elements: 0, records: 0, headers: 0 };
  let depth = 0;
  for (let pos = 0; pos < buffer.length; pos++) {
    const byte = buffer[pos]!;
    if (byte === quote) {
      // Skip the string: the next quote not escaped by an odd run of backslashes.
      for (;;) {
        const close = buffer.indexOf(quote, pos + 1);
        if (close < 0) return counts; // unterminated: JSON.parse reports it
        let slashes = 0;
        while (buffer[close - 1 - slashes] === backslash) slashes++;
        pos = close;
        if (slashes % 2 === 0) break;
      }
      continue;
    }
    if (byte === 0x7b || byte === 0x5b) {
      if (byte === 0x7b && depth === 2) counts.records++;
      depth++;
    } else if (byte === 0x7d || byte === 0x5d) {
      depth--;
      continue;
    } else if (byte === 0x3a) {
      if (depth === 4) counts.headers++;
    } else if (byte !== 0x2c) continue;
    if (++counts.elements > max) return counts;
  }
  return counts;
}

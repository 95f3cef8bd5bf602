// Consume answers in a binary protocol carry their records as bytes transcoded straight from the
// stored records (cluster/record-transcoder.ts encodeRecordsWire, `0x0a · length · Record` per
// record), not as message objects: reflection-based encoding cost ~10 µs per record, most of a
// catch-up's CPU.
// recordsAsUnknownField hands such a buffer to protobuf-es as ONE unknown field, which writes the
// first tag itself and the rest verbatim: the bytes on the wire are exactly those of
// `repeated Record records = 1` of ConsumeResponse. JSON answers use the declared fields.
import type { UnknownField } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";

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

// encodeRecordsWire (cluster/record-transcoder.ts) writes each record by copying its whole stored
// payload so that the value lands in place, last record first, and shares one record's time split
// with the next. These properties hold it to protobuf-es byte for byte, on payloads laid out as a
// range read returns them (subarrays of one buffer, frame headers between them), with keys and
// headers long enough that a payload's front reaches back over several records before it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { recordsAsUnknownField } from "../../src/api/record-wire.js";
import type { DecodedRecord } from "../../src/cluster/broker.js";
import { encodeRecord } from "../../src/cluster/record-codec.js";
import { encodeRecordsWire } from "../../src/cluster/record-transcoder.js";
import { ConsumeResponseSchema } from "../../src/gen/tidelog/v1/log_service_pb.js";
import { notProtoKey, recordMessage } from "../harness/protobuf-reference.js";

const bytes = (maxLength: number) =>
  fc.uint8Array({ maxLength }).map((array) => Buffer.from(array));

const recordArbitrary: fc.Arbitrary<DecodedRecord> = fc.record({
  value: fc.oneof(bytes(4), bytes(150), bytes(3_000)),
  key: fc.oneof(fc.constant(Buffer.alloc(0)), bytes(20), bytes(600)),
  headers: fc.oneof(
    fc.constant({}),
    fc.dictionary(fc.string({ maxLength: 40 }).filter(notProtoKey), fc.string({ maxLength: 300 }), {
      maxKeys: 6,
    }),
  ),
  offset: fc.oneof(
    fc.constant(0),
    fc.nat(),
    fc.integer({ min: 2 ** 32 - 2, max: 2 ** 32 + 2 }),
    fc.constant(Number.MAX_SAFE_INTEGER),
  ),
  timeMs: fc.oneof(
    fc.constant(0),
    fc.constant(1_700_000_000_000),
    fc.integer({ min: 1, max: 999 }),
    fc.integer({ min: 1, max: 4_102_444_800_000 }),
  ),
});

/** The answer protobuf-es writes for these records from the declared fields. */
function declaredBytes(records: DecodedRecord[]): Uint8Array {
  return toBinary(
    ConsumeResponseSchema,
    create(ConsumeResponseSchema, {
      records: records.map(recordMessage),
    }),
  );
}

/** Payloads as one range read returns them: subarrays of one buffer, 12-byte gaps between. */
function asRangeRead(payloads: Buffer[], lead: number): Buffer[] {
  const parts: Buffer[] = [Buffer.alloc(lead, 0xee)];
  for (const payload of payloads) parts.push(Buffer.alloc(12, 0xdd), payload);
  const read = Buffer.concat(parts);
  const views: Buffer[] = [];
  let at = lead;
  for (const payload of payloads) {
    at += 12;
    views.push(read.subarray(at, at + payload.length));
    at += payload.length;
  }
  return views;
}

test("records transcoded from a range read's buffer are protobuf-es's bytes, sources untouched", () => {
  fc.assert(
    fc.property(
      fc.array(recordArbitrary, { minLength: 1, maxLength: 30 }),
      fc.boolean(),
      fc.nat({ max: 100 }),
      (records, sameTime, lead) => {
        if (sameTime) for (const record of records) record.timeMs = records[0]!.timeMs;
        const payloads = asRangeRead(
          records.map((record) => encodeRecord(record, record.timeMs)),
          lead,
        );
        const before = Buffer.concat(payloads);
        const wire = encodeRecordsWire(
          records.map((record, i) => ({ offset: record.offset, payload: payloads[i]! })),
        );
        assert.deepEqual(Buffer.concat(payloads), before);
        const fast = create(ConsumeResponseSchema, {});
        fast.$unknown = [recordsAsUnknownField(wire.bytes)];
        assert.deepEqual(
          Buffer.from(toBinary(ConsumeResponseSchema, fast)),
          Buffer.from(declaredBytes(records)),
        );
        // Each record's field alone (cut at `ends`) is that record's bytes.
        wire.ends.forEach((end, i) => {
          const one = create(ConsumeResponseSchema, {});
          one.$unknown = [recordsAsUnknownField(wire.bytes.subarray(wire.ends[i - 1] ?? 0, end))];
          assert.deepEqual(
            Buffer.from(toBinary(ConsumeResponseSchema, one)),
            Buffer.from(declaredBytes([records[i]!])),
          );
        });
        let payloadTotal = 0;
        payloads.forEach((payload, i) => {
          payloadTotal += payload.length;
          assert.equal(wire.payloadEnds[i], payloadTotal);
        });
      },
    ),
    { numRuns: 400 },
  );
});

test("one call's output is not changed by the next call", () => {
  const make = (fill: number) =>
    encodeRecordsWire(
      Array.from({ length: 50 }, (_, i) => ({
        offset: i,
        payload: encodeRecord(
          { value: Buffer.alloc(100, fill), key: Buffer.alloc(0), headers: {} },
          1_700_000_000_000 + i,
        ),
      })),
    );
  const first = make(1);
  const copy = Buffer.from(first.bytes);
  make(2);
  assert.deepEqual(first.bytes, copy);
});

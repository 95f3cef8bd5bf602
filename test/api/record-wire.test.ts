import assert from "node:assert/strict";
import { test } from "node:test";
import { create, equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import fc from "fast-check";
import { recordAsUnknownField } from "../../src/api/record-wire.js";
import type { DecodedRecord } from "../../src/cluster/broker.js";
import { ConsumeResponseSchema } from "../../src/gen/tidelog/v1/log_service_pb.js";
import { RecordSchema } from "../../src/gen/tidelog/v1/record_pb.js";

const recordArbitrary: fc.Arbitrary<DecodedRecord> = fc.record({
  value: fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
  key: fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes)),
  headers: fc.dictionary(fc.string({ maxLength: 20 }), fc.string({ maxLength: 200 }), {
    maxKeys: 4,
  }),
  offset: fc.oneof(fc.constant(0), fc.nat(), fc.constant(Number.MAX_SAFE_INTEGER)),
  timeMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 4_102_444_800_000 })),
});

function declared(records: DecodedRecord[]) {
  return create(ConsumeResponseSchema, {
    records: records.map((record) =>
      create(RecordSchema, {
        value: record.value,
        key: record.key,
        headers: record.headers,
        offset: BigInt(record.offset),
        time: timestampFromMs(record.timeMs),
      }),
    ),
    nextOffset: 7n,
    highWatermark: 9n,
  });
}

test("hand-encoded records decode to the same ConsumeResponse as the declared fields", () => {
  fc.assert(
    fc.property(fc.array(recordArbitrary, { maxLength: 20 }), (records) => {
      const fast = create(ConsumeResponseSchema, { nextOffset: 7n, highWatermark: 9n });
      fast.$unknown = records.map(recordAsUnknownField);
      const decoded = fromBinary(ConsumeResponseSchema, toBinary(ConsumeResponseSchema, fast));
      assert.equal(decoded.$unknown, undefined);
      assert.ok(equals(ConsumeResponseSchema, decoded, declared(records)));
    }),
    { numRuns: 300 },
  );
});

test("a record with every field empty is an empty time field only", () => {
  const field = recordAsUnknownField({
    value: Buffer.alloc(0),
    key: Buffer.alloc(0),
    headers: {},
    offset: 0,
    timeMs: 0,
  });
  assert.deepEqual([...field.data], [2, 0x2a, 0]);
});

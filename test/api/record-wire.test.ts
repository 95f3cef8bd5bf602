import assert from "node:assert/strict";
import { test } from "node:test";
import { create, equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { recordsAsUnknownField } from "../../src/api/record-wire.js";
import type { DecodedRecord } from "../../src/cluster/broker.js";
import { encodeRecord } from "../../src/cluster/record-codec.js";
import { encodeRecordsWire } from "../../src/cluster/record-transcoder.js";
import { TidelogError } from "../../src/errors.js";
import { ConsumeResponseSchema } from "../../src/gen/tidelog/v1/log_service_pb.js";
import { RecordSchema } from "../../src/gen/tidelog/v1/record_pb.js";
import { notProtoKey, recordMessage } from "../harness/protobuf-reference.js";

const recordArbitrary: fc.Arbitrary<DecodedRecord> = fc.record({
  value: fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
  key: fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes)),
  headers: fc.dictionary(
    fc.string({ maxLength: 20 }).filter(notProtoKey),
    fc.string({ maxLength: 200 }),
    {
      maxKeys: 4,
    },
  ),
  offset: fc.oneof(fc.constant(0), fc.nat(), fc.constant(Number.MAX_SAFE_INTEGER)),
  timeMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 4_102_444_800_000 })),
});

function declared(records: DecodedRecord[]) {
  return create(ConsumeResponseSchema, {
    records: records.map(recordMessage),
    nextOffset: 7n,
    highWatermark: 9n,
  });
}

test("a record with every field empty is an empty time field only", () => {
  const payload = encodeRecord({ value: Buffer.alloc(0), key: Buffer.alloc(0), headers: {} }, 0);
  const wire = encodeRecordsWire([{ offset: 0, payload }]);
  assert.deepEqual([...recordsAsUnknownField(wire.bytes).data], [2, 0x2a, 0]);
});

test("records transcoded from their stored bytes decode to the same ConsumeResponse as the declared fields", () => {
  fc.assert(
    fc.property(fc.array(recordArbitrary, { maxLength: 20 }), (records) => {
      const stored = records.map((record) => ({
        offset: record.offset,
        payload: encodeRecord(record, record.timeMs),
      }));
      const wire = encodeRecordsWire(stored);
      assert.equal(wire.ends.length, records.length);
      assert.equal(wire.ends.at(-1) ?? 0, wire.bytes.length);
      let payloadTotal = 0;
      stored.forEach((record, i) => {
        payloadTotal += record.payload.length;
        assert.equal(wire.payloadEnds[i], payloadTotal);
      });
      const fast = create(ConsumeResponseSchema, { nextOffset: 7n, highWatermark: 9n });
      if (records.length > 0) fast.$unknown = [recordsAsUnknownField(wire.bytes)];
      const decoded = fromBinary(ConsumeResponseSchema, toBinary(ConsumeResponseSchema, fast));
      assert.equal(decoded.$unknown, undefined);
      assert.ok(equals(ConsumeResponseSchema, decoded, declared(records)));
      // Each record's field alone (cut at `ends`) is that record.
      wire.ends.forEach((end, i) => {
        const start = i === 0 ? 0 : wire.ends[i - 1]!;
        const one = create(ConsumeResponseSchema, {});
        one.$unknown = [recordsAsUnknownField(wire.bytes.subarray(start, end))];
        const single = fromBinary(ConsumeResponseSchema, toBinary(ConsumeResponseSchema, one));
        assert.ok(equals(RecordSchema, single.records[0]!, declared([records[i]!]).records[0]!));
      });
    }),
    { numRuns: 300 },
  );
});

test("transcoding refuses a malformed stored record as data_loss", () => {
  const good = encodeRecord(
    { value: Buffer.from("v"), key: Buffer.from("k"), headers: { a: "b" } },
    1,
  );
  for (const payload of [
    Buffer.alloc(3),
    Buffer.concat([Buffer.from([2]), good.subarray(1)]),
    good.subarray(0, 20),
    (() => {
      const badKey = Buffer.from(good);
      badKey.writeUInt32LE(1_000, 9);
      return badKey;
    })(),
  ]) {
    assert.throws(
      () => encodeRecordsWire([{ offset: 5, payload }]),
      (error: unknown) => error instanceof TidelogError && error.code === "data_loss",
    );
  }
});

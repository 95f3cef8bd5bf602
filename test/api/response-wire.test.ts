// The hand encoders of the plain-gRPC routes (src/api/response-wire.ts) held to protobuf-es: the
// same bytes for ProduceResponse, and ConsumeResponse parts that decode (and encode) as the
// generated schema does, for values from 0 to 2^53 - 1 and empty answers.
import assert from "node:assert/strict";
import { test } from "node:test";
import { create, equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import fc from "fast-check";
import { consumeResponseParts, encodeProduceResponse } from "../../src/api/response-wire.js";
import {
  ConsumeResponseSchema,
  ProduceResponseSchema,
} from "../../src/gen/tidelog/v1/log_service_pb.js";
import { RecordSchema } from "../../src/gen/tidelog/v1/record_pb.js";
import { notProtoKey } from "../harness/protobuf-reference.js";

/** Offsets below 2^53, weighted towards the varint length boundaries and the extremes. */
const offsetArbitrary = fc.oneof(
  fc.constantFrom(
    0,
    1,
    127,
    128,
    16_383,
    16_384,
    2 ** 21 - 1,
    2 ** 21,
    2 ** 28,
    2 ** 31 - 1,
    2 ** 31,
    2 ** 32 - 1,
    2 ** 32,
    2 ** 35,
    2 ** 42,
    2 ** 49 - 1,
    2 ** 49,
    2 ** 52,
    Number.MAX_SAFE_INTEGER,
  ),
  fc.nat(),
  fc.maxSafeNat(),
);

const recordArbitrary = fc
  .record({
    value: fc.uint8Array({ maxLength: 200 }),
    key: fc.uint8Array({ maxLength: 30 }),
    headers: fc.dictionary(fc.string({ maxLength: 12 }).filter(notProtoKey), fc.string(), {
      maxKeys: 3,
    }),
    offset: offsetArbitrary,
    timeMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 4_102_444_800_000 })),
  })
  .map(({ offset, timeMs, ...fields }) =>
    create(RecordSchema, { ...fields, offset: BigInt(offset), time: timestampFromMs(timeMs) }),
  );

test("encodeProduceResponse writes protobuf-es's bytes for any offsets below 2^53", () => {
  fc.assert(
    fc.property(fc.array(offsetArbitrary, { maxLength: 300 }), (offsets) => {
      const expected = toBinary(
        ProduceResponseSchema,
        create(ProduceResponseSchema, { offsets: offsets.map(BigInt) }),
      );
      const encoded = encodeProduceResponse(offsets);
      assert.deepEqual(new Uint8Array(encoded), expected);
      const decoded = fromBinary(ProduceResponseSchema, encoded);
      assert.deepEqual(decoded.offsets, offsets.map(BigInt));
    }),
    { numRuns: 500 },
  );
});

test("no offsets is the empty message, and offset 0 is still written", () => {
  assert.equal(encodeProduceResponse([]).length, 0);
  assert.deepEqual([...encodeProduceResponse([0])], [0x0a, 1, 0]);
  assert.deepEqual(
    [...encodeProduceResponse([Number.MAX_SAFE_INTEGER])],
    [0x0a, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f],
  );
});

test("consumeResponseParts decodes to the same records, next offset and high watermark", () => {
  fc.assert(
    fc.property(
      fc.array(recordArbitrary, { maxLength: 12 }),
      offsetArbitrary,
      offsetArbitrary,
      (records, nextOffset, highWatermark) => {
        // The records' wire as ConsumeStream has it: `0x0a · length · Record` each, which is
        // what protobuf-es writes for a ConsumeResponse holding only the records.
        const recordsWire = Buffer.from(
          toBinary(ConsumeResponseSchema, create(ConsumeResponseSchema, { records })),
        );
        const parts = consumeResponseParts({ records: recordsWire, nextOffset, highWatermark });
        const message = Buffer.concat(parts);
        const expected = create(ConsumeResponseSchema, {
          records,
          nextOffset: BigInt(nextOffset),
          highWatermark: BigInt(highWatermark),
        });
        const decoded = fromBinary(ConsumeResponseSchema, message);
        assert.equal(decoded.$unknown, undefined);
        assert.ok(equals(ConsumeResponseSchema, decoded, expected));
        assert.equal(decoded.nextOffset, BigInt(nextOffset));
        assert.equal(decoded.highWatermark, BigInt(highWatermark));
        assert.equal(decoded.records.length, records.length);
        // protobuf-es writes fields in number order and skips zeros: the very same bytes.
        assert.deepEqual(new Uint8Array(message), toBinary(ConsumeResponseSchema, expected));
      },
    ),
    { numRuns: 300 },
  );
});

test("an empty caught-up answer at offset 0 is the empty message", () => {
  const parts = consumeResponseParts({ records: Buffer.alloc(0), nextOffset: 0, highWatermark: 0 });
  assert.equal(Buffer.concat(parts).length, 0);
  const atFive = Buffer.concat(
    consumeResponseParts({ records: Buffer.alloc(0), nextOffset: 5, highWatermark: 5 }),
  );
  assert.deepEqual([...atFive], [0x10, 5, 0x18, 5]);
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { createValidator } from "@bufbuild/protovalidate";
import fc from "fast-check";
import { createFastValidator } from "../../src/api/fast-validator.js";
import {
  ConsumeRequestSchema,
  ProduceRequestSchema,
} from "../../src/gen/tidelog/v1/log_service_pb.js";

const topics = fc.oneof(
  fc.constantFrom(
    "",
    ".",
    "..",
    "...",
    "a",
    "default",
    "a/b",
    "é",
    "a b",
    "x".repeat(249),
    "x".repeat(250),
  ),
  fc.string({ maxLength: 260 }),
  fc.stringMatching(/^[A-Za-z0-9._-]{0,260}$/),
);

test("the fast path agrees with protovalidate on every ProduceRequest", () => {
  const fast = createFastValidator();
  const full = createValidator();
  fc.assert(
    fc.property(
      topics,
      fc.array(fc.uint8Array({ maxLength: 16 }), { maxLength: 3 }),
      (topic, values) => {
        const request = create(ProduceRequestSchema, {
          topic,
          records: values.map((value) => ({ value })),
        });
        assert.equal(
          fast.validate(ProduceRequestSchema, request).kind,
          full.validate(ProduceRequestSchema, request).kind,
        );
      },
    ),
    { numRuns: 2000 },
  );
});

test("the fast path agrees with protovalidate on every ConsumeRequest", () => {
  const fast = createFastValidator();
  const full = createValidator();
  fc.assert(
    fc.property(
      topics,
      fc.oneof(fc.constantFrom(0, 1, 9_999, 10_000, 10_001, 2 ** 32 - 1), fc.nat(20_000)),
      fc.oneof(fc.constantFrom(0, 1, 2, 3, -1), fc.integer({ min: -5, max: 10 })),
      fc.bigUint64Array({ maxLength: 2 }),
      (topic, maxRecords, start, numbers) => {
        const request = create(ConsumeRequestSchema, {
          topic,
          maxRecords,
          start,
          offset: numbers[0] ?? 0n,
          tailBack: numbers[1] ?? 0n,
        });
        assert.equal(
          fast.validate(ConsumeRequestSchema, request).kind,
          full.validate(ConsumeRequestSchema, request).kind,
          JSON.stringify({ topic, maxRecords, start }),
        );
      },
    ),
    { numRuns: 2000 },
  );
});

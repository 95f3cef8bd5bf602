import assert from "node:assert/strict";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { createValidator } from "@bufbuild/protovalidate";
import fc from "fast-check";
import { createFastValidator } from "../../src/api/fast-validator.js";
import { ProduceRequestSchema } from "../../src/gen/tidelog/v1/log_service_pb.js";

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

// Append commands as the leader writes them (encodeAppendRecords: every record stored in one
// buffer) against the per-record encoding they replace, and read back through decodeCommand and
// decodeRecord, which share no code with the writers.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { decodeCommand, encodeAppend, encodeAppendRecords } from "../../src/cluster/commands.js";
import { decodeRecord, encodeRecord, type RecordInput } from "../../src/cluster/record-codec.js";

const bytes = (maxLength: number) =>
  fc.uint8Array({ maxLength }).map((array) => Buffer.from(array));

const record: fc.Arbitrary<RecordInput> = fc.record({
  value: fc.oneof(bytes(8), bytes(2_000)),
  key: fc.oneof(fc.constant(Buffer.alloc(0)), bytes(40)),
  headers: fc.oneof(
    fc.constant({}),
    fc.dictionary(
      fc.string({ maxLength: 12, unit: "grapheme" }),
      fc.string({ maxLength: 40, unit: "grapheme" }),
      {
        maxKeys: 4,
      },
    ),
  ),
});

test("an append command written in one buffer is the one written record by record", () => {
  fc.assert(
    fc.property(
      fc.string({ minLength: 1, maxLength: 30 }),
      fc.boolean(),
      fc.array(record, { maxLength: 12 }),
      fc.integer({ min: 0, max: 4_102_444_800_000 }),
      (topic, createIfMissing, records, timeMs) => {
        const written = encodeAppendRecords(topic, createIfMissing, records, timeMs);
        const expected = encodeAppend({
          topic,
          createIfMissing,
          records: records.map((input) => encodeRecord(input, timeMs)),
        });
        assert.deepEqual(written, expected);
        const command = decodeCommand(written);
        assert.equal(command.kind, "append");
        if (command.kind !== "append") return;
        assert.equal(command.append.topic, topic);
        assert.equal(command.append.createIfMissing, createIfMissing);
        assert.equal(command.append.records.length, records.length);
        for (const [i, payload] of command.append.records.entries()) {
          const decoded = decodeRecord(i, payload);
          assert.equal(decoded.timeMs, timeMs);
          assert.deepEqual(Buffer.from(decoded.value), Buffer.from(records[i]!.value));
          assert.deepEqual(Buffer.from(decoded.key), Buffer.from(records[i]!.key));
          assert.deepEqual({ ...decoded.headers }, { ...records[i]!.headers });
        }
      },
    ),
    { numRuns: 300 },
  );
});

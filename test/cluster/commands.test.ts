// Append commands as the leader writes them (encodeAppendRecords: every record encoded straight
// into its topic-log frame) against the per-record encoding and the log's own batch layout, read
// back through checkFrameRun, decodeCommand and decodeRecord; and kind-1 appends of older Raft logs.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { decodeCommand, encodeAppendRecords } from "../../src/cluster/commands.js";
import { decodeRecord, encodeRecord, type RecordInput } from "../../src/cluster/record-codec.js";
import { TidelogError } from "../../src/errors.js";
import { checkFrameRun, encodeBatch } from "../../src/log/frame.js";

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

/** A kind-1 append, as Raft logs written before framed appends hold them. */
function legacyAppend(topic: string, createIfMissing: boolean, records: Buffer[]): Buffer {
  const name = Buffer.from(topic, "utf8");
  const head = Buffer.alloc(8 + name.length);
  head[0] = 1;
  head[1] = createIfMissing ? 1 : 0;
  head.writeUInt16LE(name.length, 2);
  name.copy(head, 4);
  head.writeUInt32LE(records.length, 4 + name.length);
  const parts: Buffer[] = [head];
  for (const record of records) {
    const length = Buffer.alloc(4);
    length.writeUInt32LE(record.length);
    parts.push(length, record);
  }
  return Buffer.concat(parts);
}

/** The payloads of a batch of frames, each frame's CRC checked. */
function payloadsOf(frames: Buffer, count: number): Buffer[] {
  const starts = new Int32Array(count);
  const ends = new Int32Array(count);
  assert.equal(checkFrameRun(frames, count, starts, ends), -1);
  return [...starts].map((start, i) => frames.subarray(start, ends[i]));
}

test("an append command holds its records as the topic log's frames, each encoded once", () => {
  fc.assert(
    fc.property(
      fc.string({ minLength: 1, maxLength: 30 }),
      fc.boolean(),
      fc.array(record, { minLength: 1, maxLength: 12 }),
      fc.integer({ min: 0, max: 4_102_444_800_000 }),
      (topic, createIfMissing, records, timeMs) => {
        const encoded = records.map((input) => encodeRecord(input, timeMs));
        const written = encodeAppendRecords(topic, createIfMissing, records, timeMs);
        const command = decodeCommand(written);
        assert.equal(command.kind, "append");
        if (command.kind !== "append") return;
        assert.equal(command.append.topic, topic);
        assert.equal(command.append.createIfMissing, createIfMissing);
        assert.equal(command.append.count, records.length);
        // Byte for byte what the log lays out for those payloads.
        assert.deepEqual(command.append.frames, encodeBatch(encoded));
        for (const [i, payload] of payloadsOf(command.append.frames, records.length).entries()) {
          const decoded = decodeRecord(i, payload);
          assert.equal(decoded.timeMs, timeMs);
          assert.deepEqual(Buffer.from(decoded.value), Buffer.from(records[i]!.value));
          assert.deepEqual(Buffer.from(decoded.key), Buffer.from(records[i]!.key));
          assert.deepEqual({ ...decoded.headers }, { ...records[i]!.headers });
        }
        // A Raft log written before framed appends gives the same command.
        const legacy = decodeCommand(legacyAppend(topic, createIfMissing, encoded));
        assert.deepEqual(legacy, command);
      },
    ),
    { numRuns: 300 },
  );
});

test("an append whose frames are not one whole batch is refused as data loss", () => {
  const written = encodeAppendRecords(
    "t",
    false,
    [
      { value: Buffer.from("one"), key: Buffer.alloc(0), headers: {} },
      { value: Buffer.from("two"), key: Buffer.alloc(0), headers: {} },
    ],
    1,
  );
  const countAt = 4 + 1;
  const cases: [string, Buffer][] = [
    [
      "count too high",
      Buffer.concat([written.subarray(0, countAt), u32(3), written.subarray(countAt + 4)]),
    ],
    [
      "count too low",
      Buffer.concat([written.subarray(0, countAt), u32(1), written.subarray(countAt + 4)]),
    ],
    ["a byte more", Buffer.concat([written, Buffer.from([0])])],
    ["a byte less", written.subarray(0, written.length - 1)],
    ["no frames", written.subarray(0, countAt + 4)],
  ];
  for (const [what, bytes] of cases) {
    assert.throws(
      () => decodeCommand(bytes),
      (error: unknown) =>
        error instanceof TidelogError &&
        error.code === "data_loss" &&
        /malformed command/.test(error.message),
      what,
    );
  }
});

function u32(value: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32LE(value);
  return bytes;
}

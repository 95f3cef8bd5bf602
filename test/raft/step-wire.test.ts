// The hand codec of StepRequest (src/raft/driver/step-wire.ts) against the generated schema:
// what one writes, the other reads back unchanged, in both directions; damaged bytes are refused
// with invalid_argument, never misread into a different batch.
import assert from "node:assert/strict";
import { test } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { TidelogError } from "../../src/errors.js";
import { StepRequestSchema } from "../../src/gen/tidelog/raft/v1/raft_pb.js";
import { grpcPrefixBytes } from "../../src/protobuf-wire.js";
import { messageFromProto, messageToProto } from "../../src/raft/driver/message-codec.js";
import {
  decodeStepRequest,
  encodeStepFrame,
  encodeStepFrames,
  type StepBatch,
  stepFrameBytesMax,
} from "../../src/raft/driver/step-wire.js";
import type { Entry, Message } from "../../src/raft/index.js";

const count = fc.oneof(fc.nat(), fc.constant(Number.MAX_SAFE_INTEGER));
const id = fc.oneof(fc.constantFrom("n1", "n2"), fc.string({ minLength: 1, maxLength: 12 }));

const entry: fc.Arbitrary<Entry> = fc.record({
  index: count,
  term: count,
  type: fc.constantFrom("normal" as const, "confChange" as const),
  data: fc.uint8Array({ maxLength: 64 }),
});

const header = { from: id, to: id, term: count };

const message: fc.Arbitrary<Message> = fc.oneof(
  fc.record({
    type: fc.constant("append" as const),
    ...header,
    prevLogIndex: count,
    prevLogTerm: count,
    entries: fc.array(entry, { maxLength: 8 }),
    commit: count,
  }),
  fc.record({
    type: fc.constant("appendResponse" as const),
    ...header,
    index: count,
    reject: fc.boolean(),
    hintIndex: count,
    hintTerm: count,
  }),
  fc.record({
    type: fc.constantFrom("vote" as const, "preVote" as const),
    ...header,
    lastLogIndex: count,
    lastLogTerm: count,
    transfer: fc.boolean(),
  }),
  fc.record({
    type: fc.constantFrom("voteResponse" as const, "preVoteResponse" as const),
    ...header,
    reject: fc.boolean(),
  }),
  fc.record({ type: fc.constant("heartbeat" as const), ...header, commit: count }),
  fc.record({
    type: fc.constantFrom("heartbeatResponse" as const, "timeoutNow" as const),
    ...header,
  }),
);

const batch: fc.Arbitrary<StepBatch> = fc.record({
  clusterId: fc.string({ maxLength: 40 }),
  senderAddress: fc.string({ maxLength: 40 }),
  messages: fc.array(message, { maxLength: 6 }),
  refusingEntries: fc.boolean(),
});

/**
 * Entry data compared as plain Uint8Arrays (the decoders return views or copies), and every
 * object as a plain one (fast-check's records have no prototype).
 */
function normalized(value: StepBatch): StepBatch {
  return {
    ...value,
    messages: value.messages.map((m) =>
      m.type === "append"
        ? { ...m, entries: m.entries.map((e) => ({ ...e, data: new Uint8Array(e.data) })) }
        : { ...m },
    ),
  };
}

test("frames written by hand read back through the generated schema unchanged", () => {
  fc.assert(
    fc.property(batch, (original) => {
      const frame = encodeStepFrame(original);
      assert.equal(frame[0], 0);
      assert.equal(frame.readUInt32BE(1), frame.length - grpcPrefixBytes);
      const proto = fromBinary(StepRequestSchema, frame.subarray(grpcPrefixBytes));
      const decoded: StepBatch = {
        clusterId: proto.clusterId,
        senderAddress: proto.senderAddress,
        messages: proto.messages.map(messageFromProto),
        refusingEntries: proto.refusingEntries,
      };
      assert.deepEqual(normalized(decoded), normalized(original));
      assert.deepEqual(
        normalized(decodeStepRequest(frame.subarray(grpcPrefixBytes))),
        normalized(original),
      );
    }),
    { numRuns: 500 },
  );
});

test("requests written by the generated schema read back by hand unchanged", () => {
  fc.assert(
    fc.property(batch, (original) => {
      const wire = toBinary(
        StepRequestSchema,
        create(StepRequestSchema, {
          clusterId: original.clusterId,
          senderAddress: original.senderAddress,
          messages: original.messages.map(messageToProto),
          refusingEntries: original.refusingEntries,
        }),
      );
      assert.deepEqual(normalized(decodeStepRequest(wire)), normalized(original));
    }),
    { numRuns: 500 },
  );
});

function refused(bytes: Uint8Array): boolean {
  try {
    decodeStepRequest(bytes);
    return false;
  } catch (error) {
    assert.ok(error instanceof TidelogError, `not a TidelogError: ${error}`);
    assert.equal(error.code, "invalid_argument");
    return true;
  }
}

test("damaged requests are refused with invalid_argument or read as what the schema reads", () => {
  fc.assert(
    fc.property(
      batch,
      fc.nat(),
      fc.integer({ min: 0, max: 255 }),
      fc.boolean(),
      (original, at, byte, truncate) => {
        const wire = encodeStepFrame(original).subarray(grpcPrefixBytes);
        if (wire.length === 0) return;
        const damaged = Buffer.from(wire);
        const position = at % damaged.length;
        const bytes = truncate ? damaged.subarray(0, position) : damaged;
        if (!truncate) damaged[position] = byte;
        if (refused(bytes)) return;
        // Accepted: the generated decoder must read the same batch (or refuse what the hand
        // decoder, stricter on purpose, accepted only when the schema would have).
        let proto: ReturnType<typeof fromBinary<typeof StepRequestSchema>>;
        try {
          proto = fromBinary(StepRequestSchema, bytes);
        } catch {
          assert.fail("the hand decoder accepted bytes the generated decoder refuses");
        }
        const expected = {
          clusterId: proto.clusterId,
          senderAddress: proto.senderAddress,
          messages: proto.messages.map(messageFromProto),
          refusingEntries: proto.refusingEntries,
        };
        assert.deepEqual(normalized(decodeStepRequest(bytes)), normalized(expected));
      },
    ),
    { numRuns: 2000 },
  );
});

test("snapshots are refused on the stream in both directions", () => {
  const snapshot: Message = {
    type: "snapshot",
    from: "n1",
    to: "n2",
    term: 3,
    snapshot: {
      metadata: { index: 5, term: 3, confState: { voters: ["n1"], learners: [] } },
      data: new Uint8Array([1]),
    },
  };
  assert.throws(() =>
    encodeStepFrame({
      clusterId: "c",
      senderAddress: "",
      messages: [snapshot],
      refusingEntries: false,
    }),
  );
  const wire = toBinary(
    StepRequestSchema,
    create(StepRequestSchema, { clusterId: "c", messages: [messageToProto(snapshot)] }),
  );
  assert.ok(refused(wire));
});

test("a backlog is split into frames within the limit, in order, none lost", () => {
  const append = (index: number, bytes: number): Message => ({
    type: "append",
    from: "n1",
    to: "n2",
    term: 2,
    prevLogIndex: index - 1,
    prevLogTerm: 2,
    entries: [{ index, term: 2, type: "normal", data: new Uint8Array(bytes) }],
    commit: index - 1,
  });
  // A joining node's backlog: 26 appends of ~800 KiB (21 MB), one of 6 MiB, heartbeats.
  const messages: Message[] = [];
  for (let i = 1; i <= 26; i++) messages.push(append(i, 800 * 1024));
  messages.push(append(27, 6 * 1024 * 1024));
  messages.push({ type: "heartbeat", from: "n1", to: "n2", term: 2, commit: 26 });
  const shape = (message: Message) =>
    message.type === "append"
      ? message.entries.map((entry) => [entry.index, entry.data.length])
      : message.type;
  const batch = { clusterId: "c", senderAddress: "127.0.0.1:1", messages, refusingEntries: true };
  const decodedRuns = encodeStepFrames(batch).map((frame) =>
    decodeStepRequest(frame.subarray(grpcPrefixBytes)),
  );
  const runs = decodedRuns.map((run) => run.messages);
  // Each frame is a whole StepRequest: every one says the sender refuses entries.
  assert.ok(decodedRuns.every((run) => run.refusingEntries));
  // In order, none lost, none twice.
  assert.equal(runs.flat().length, messages.length);
  assert.deepEqual(runs.flat().map(shape), messages.map(shape));
  for (const [i, frame] of encodeStepFrames(batch).entries()) {
    const payload = frame.length - grpcPrefixBytes;
    // Within the limit, unless a single message is larger than it by itself.
    assert.ok(payload <= stepFrameBytesMax + 64 || runs[i]!.length === 1, `${payload} bytes`);
  }
  assert.ok(runs.length >= 6, `${runs.length} frames`);
  assert.deepEqual(encodeStepFrames({ ...batch, messages: [] }), []);
});

test("refusing_entries is field 4, a varint, on the wire of both codecs, and false when absent", () => {
  const heartbeat: Message = { type: "heartbeatResponse", from: "n2", to: "n1", term: 4 };
  const plain = { clusterId: "c", senderAddress: "127.0.0.1:2", messages: [heartbeat] };
  const refusing = encodeStepFrame({ ...plain, refusingEntries: true }).subarray(grpcPrefixBytes);
  const taking = encodeStepFrame({ ...plain, refusingEntries: false }).subarray(grpcPrefixBytes);
  // The flag costs two bytes (tag 0x20, value 1) when set and none when clear, as proto3 writes it.
  assert.deepEqual([...refusing.subarray(taking.length)], [0x20, 0x01]);
  assert.deepEqual(refusing.subarray(0, taking.length), taking);
  const generated = toBinary(
    StepRequestSchema,
    create(StepRequestSchema, {
      clusterId: "c",
      senderAddress: "127.0.0.1:2",
      messages: [messageToProto(heartbeat)],
      refusingEntries: true,
    }),
  );
  // protobuf-es writes the field last too (the messages' inner field order differs).
  assert.deepEqual([...generated.subarray(generated.length - 2)], [0x20, 0x01]);
  assert.equal(fromBinary(StepRequestSchema, refusing).refusingEntries, true);
  assert.equal(fromBinary(StepRequestSchema, taking).refusingEntries, false);
  assert.equal(decodeStepRequest(generated).refusingEntries, true);
  assert.equal(decodeStepRequest(taking).refusingEntries, false);
  // An older sender, which knows no such field, is read as taking entries.
  assert.equal(decodeStepRequest(new Uint8Array(0)).refusingEntries, false);
  // Any nonzero varint is true, as protobuf reads a bool; a wrong wire type is refused.
  assert.equal(decodeStepRequest(Buffer.from([0x20, 0x02])).refusingEntries, true);
  assert.ok(refused(Buffer.from([0x22, 0x01, 0x01])));
});

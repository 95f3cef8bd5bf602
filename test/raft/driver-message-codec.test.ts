import assert from "node:assert/strict";
import { test } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { StepRequestSchema } from "../../src/gen/tidelog/raft/v1/raft_pb.js";
import { messageFromProto, messageToProto } from "../../src/raft/driver/message-codec.js";
import type { Entry, Message } from "../../src/raft/index.js";

const entry: fc.Arbitrary<Entry> = fc.record({
  index: fc.oneof(fc.nat(), fc.constant(Number.MAX_SAFE_INTEGER)),
  term: fc.nat(),
  type: fc.constantFrom("normal" as const, "confChange" as const),
  data: fc.uint8Array({ maxLength: 64 }),
});

test("append messages with hand-encoded entries survive the wire unchanged", () => {
  fc.assert(
    fc.property(
      fc.array(entry, { maxLength: 30 }),
      fc.nat(),
      fc.nat(),
      fc.nat(),
      (entries, term, prev, commit) => {
        const message: Message = {
          type: "append",
          from: "n1",
          to: "n2",
          term,
          prevLogIndex: prev,
          prevLogTerm: term,
          entries,
          commit,
        };
        const wire = toBinary(
          StepRequestSchema,
          create(StepRequestSchema, { clusterId: "c", messages: [messageToProto(message)] }),
        );
        const [decoded] = fromBinary(StepRequestSchema, wire).messages.map(messageFromProto);
        assert.deepEqual(decoded, {
          ...message,
          entries: entries.map((e) => ({ ...e, data: new Uint8Array(e.data) })),
        });
      },
    ),
    { numRuns: 300 },
  );
});

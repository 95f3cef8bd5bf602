// Commands whose bytes are not one: decodeCommand says why (data_loss), and the state machine
// applies such a committed entry as a no-op on every replica alike, instead of stopping.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { decodeCommand, encodeAdmin, encodeAppendRecords } from "../../src/cluster/commands.js";
import { encodeSnapshotState } from "../../src/cluster/snapshot-state.js";
import { TopicStateMachine } from "../../src/cluster/topic-state-machine.js";
import { TidelogError } from "../../src/errors.js";
import type { Entry } from "../../src/raft/index.js";

const admin = (json: string) => Buffer.from([2, ...Buffer.from(json, "utf8")]);

const malformedAdmins = [
  admin("{not json"),
  admin("null"),
  admin('{"op":"dropEverything"}'),
  admin('{"op":"createTopic","name":"t"}'),
  admin('{"op":"updateTopic","name":"t","config":{"retentionBytes":"0"}}'),
  admin(
    '{"op":"updateTopic","name":"t","config":{"retentionBytes":0,"retentionMs":0,"segmentBytes":0},"fields":["name"]}',
  ),
  admin(
    '{"op":"updateTopic","name":"t","config":{"retentionBytes":0,"retentionMs":0,"segmentBytes":0},"fields":"retentionMs"}',
  ),
  admin('{"op":"deleteTopic"}'),
  admin('{"op":"registerServer","id":"x","address":"not an address"}'),
  admin('{"op":"unregisterServer","id":7}'),
];

test("admin commands without the fields of their op are refused as data loss", () => {
  for (const data of malformedAdmins) {
    assert.throws(
      () => decodeCommand(data),
      (error: unknown) =>
        error instanceof TidelogError &&
        error.code === "data_loss" &&
        /malformed command/.test(error.message),
      data.toString("utf8", 1),
    );
  }
  const create = encodeAdmin({
    op: "createTopic",
    name: "t",
    config: { retentionBytes: 0, retentionMs: 0, segmentBytes: 0 },
  });
  assert.equal(decodeCommand(create).kind, "admin");
  const register = encodeAdmin({ op: "registerServer", id: "n2", address: "127.0.0.1:8082" });
  assert.deepEqual(decodeCommand(register), {
    kind: "admin",
    admin: { op: "registerServer", id: "n2", address: "127.0.0.1:8082" },
  });
});

test("a committed entry that is not a command is a no-op, and the entries after it apply", async () => {
  const directory = await mkdtemp(join(tmpdir(), "tidelog-sm-"));
  const machine = await TopicStateMachine.open(directory, {
    metadata: { index: 0, term: 0, confState: { voters: ["n1"], learners: [] } },
    data: encodeSnapshotState({ topics: [], servers: [] }),
  });
  try {
    const append = (index: number, value: string): Entry => ({
      index,
      term: 1,
      type: "normal",
      data: encodeAppendRecords(
        "t",
        true,
        [{ value: Buffer.from(value), key: Buffer.alloc(0), headers: {} }],
        1_000,
      ),
    });
    const entries: Entry[] = [
      append(1, "first"),
      { index: 2, term: 1, type: "normal", data: Buffer.from("ff00ff00", "hex") },
      ...malformedAdmins.map((data, i): Entry => ({ index: 3 + i, term: 1, type: "normal", data })),
      append(3 + malformedAdmins.length, "after"),
    ];
    const outcomes = await machine.applyBatch(entries);
    assert.deepEqual(outcomes[0], { ok: true, result: 0 });
    for (const outcome of outcomes.slice(1, -1)) {
      assert.equal(outcome.ok, false);
      assert.ok(!outcome.ok && outcome.error instanceof TidelogError);
      assert.equal(!outcome.ok && (outcome.error as TidelogError).code, "data_loss");
    }
    assert.deepEqual(outcomes.at(-1), { ok: true, result: 1 });
    assert.equal(machine.registry.get("t")?.log.nextOffset, 2);
    assert.deepEqual([...machine.servers], []);
  } finally {
    await machine.close();
    await rm(directory, { recursive: true, force: true });
  }
});

test("a committed create over the topic limit is refused alike, not fatal", async () => {
  const directory = await mkdtemp(join(tmpdir(), "tidelog-sm-"));
  const snapshot = {
    metadata: { index: 0, term: 0, confState: { voters: ["n1"], learners: [] } },
    data: encodeSnapshotState({ topics: [], servers: [] }),
  };
  const open = () => TopicStateMachine.open(directory, snapshot, {}, new Set(), { topicsMax: 2 });
  const config = { retentionBytes: 0, retentionMs: 0, segmentBytes: 0 };
  const entry = (index: number, data: Buffer): Entry => ({ index, term: 1, type: "normal", data });
  const createEntry = (index: number, name: string) =>
    entry(index, encodeAdmin({ op: "createTopic", name, config }));
  const produceEntry = (index: number, name: string) =>
    entry(
      index,
      encodeAppendRecords(
        name,
        true,
        [{ value: Buffer.from("v"), key: Buffer.alloc(0), headers: {} }],
        1,
      ),
    );
  // Two creates passed the leader's check at once: both were committed, the second is one too
  // many. So is a produce that would create a third topic.
  const entries = [
    createEntry(1, "a"),
    createEntry(2, "b"),
    createEntry(3, "c"),
    produceEntry(4, "d"),
    produceEntry(5, "a"),
  ];
  let machine = await open();
  try {
    const outcomes = await machine.applyBatch(entries);
    assert.equal(outcomes[0]!.ok && outcomes[1]!.ok, true);
    for (const outcome of outcomes.slice(2, 4)) {
      assert.ok(!outcome.ok && outcome.error instanceof TidelogError);
      assert.equal(!outcome.ok && (outcome.error as TidelogError).code, "resource_exhausted");
    }
    assert.deepEqual(outcomes[4], { ok: true, result: 0 });
    assert.deepEqual(
      machine.registry.list().map((topic) => topic.name),
      ["a", "b"],
    );
    assert.throws(
      () => machine.registry.checkRoomFor("e"),
      (error: unknown) => error instanceof TidelogError && error.code === "resource_exhausted",
    );
    machine.registry.checkRoomFor("a");
  } finally {
    await machine.close();
  }
  // A restart replays the same entries (a fresh state machine from the same snapshot): the same
  // outcomes, where the refusal used to stop the node again.
  await rm(directory, { recursive: true, force: true });
  machine = await open();
  try {
    const outcomes = await machine.applyBatch(entries);
    assert.deepEqual(
      outcomes.map((outcome) => outcome.ok),
      [true, true, false, false, true],
    );
  } finally {
    await machine.close();
    await rm(directory, { recursive: true, force: true });
  }
});

test("a checkpoint is due after 1,000 topic changes; a reopen drops the topics after it", async () => {
  // A restart drops every topic created after the last checkpoint and replays its creation:
  // with thousands of them that took a minute. A checkpoint is now due after 1,000 changes.
  const directory = await mkdtemp(join(tmpdir(), "tidelog-sm-"));
  const empty = {
    metadata: { index: 0, term: 0, confState: { voters: ["n1"], learners: [] } },
    data: encodeSnapshotState({ topics: [], servers: [] }),
  };
  const config = { retentionBytes: 0, retentionMs: 0, segmentBytes: 0 };
  const create = (index: number, name: string): Entry => ({
    index,
    term: 1,
    type: "normal",
    data: encodeAdmin({ op: "createTopic", name, config }),
  });
  let machine = await TopicStateMachine.open(directory, empty);
  try {
    await machine.applyBatch(Array.from({ length: 999 }, (_, i) => create(i + 1, `t${i}`)));
    assert.equal(machine.wantsCheckpoint(), false);
    const [outcome] = await machine.applyBatch([
      {
        index: 1_000,
        term: 1,
        type: "normal",
        data: encodeAppendRecords(
          "auto",
          true,
          [{ value: Buffer.from("v"), key: new Uint8Array(0), headers: {} }],
          Date.now(),
        ),
      },
    ]);
    assert.equal(outcome?.ok, true);
    assert.equal(machine.wantsCheckpoint(), true, "an auto-created topic counts too");
    const data = await machine.checkpoint();
    assert.equal(machine.wantsCheckpoint(), false);
    await machine.applyBatch([create(1_001, "after")]);
    await machine.close();
    // Reopened from the checkpoint: the 1,000 topics stay, the one created after it is dropped
    // (all at once, with one directory sync) for the Raft log to replay.
    machine = await TopicStateMachine.open(directory, {
      metadata: { index: 1_000, term: 1, confState: { voters: ["n1"], learners: [] } },
      data,
    });
    assert.equal(machine.registry.list().length, 1_000);
    assert.equal(machine.registry.get("after"), undefined);
    assert.equal(machine.registry.get("auto")?.log.nextOffset, 1);
  } finally {
    await machine.close();
    await rm(directory, { recursive: true, force: true });
  }
});

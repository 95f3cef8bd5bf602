// Each snapshot is prepared in its own staging directory. With one shared directory, a leader's
// next snapshot, prepared while Raft was about to install the one before, emptied the directory
// under that install: the node stopped ("storage failed", a rename of a missing directory) and
// never started again (outside probe 11, R3, in a SIGKILL loop with small snapshot intervals).
// Here two real state machines: the source serves its topic's records to the fetcher straight
// from its log (the FetchSnapshot service's read, without the network).
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { encodeAppendRecords } from "../../src/cluster/commands.js";
import { encodeSnapshotState } from "../../src/cluster/snapshot-state.js";
import { type SnapshotFetcher, TopicStateMachine } from "../../src/cluster/topic-state-machine.js";
import type { Entry, Snapshot } from "../../src/raft/index.js";

const confState = { voters: ["n1", "n2"], learners: [] };
const empty: Snapshot = {
  metadata: { index: 0, term: 0, confState },
  data: encodeSnapshotState({ topics: [], servers: [] }),
};
const message = { from: "n1", to: "n2", senderAddress: "127.0.0.1:1" };

function append(index: number, values: string[]): Entry {
  const records = values.map((value) => ({
    value: Buffer.from(value),
    key: Buffer.alloc(0),
    headers: {},
  }));
  return { index, term: 1, type: "normal", data: encodeAppendRecords("t", true, records, 1_000) };
}

async function values(machine: TopicStateMachine): Promise<string[]> {
  const log = machine.registry.get("t")?.log;
  if (log === undefined) return [];
  const out: string[] = [];
  for await (const batch of log.stream({ fromOffset: log.lowestOffset, endOffset: log.nextOffset }))
    for (const record of batch) out.push(Buffer.from(record.payload).subarray(-1).toString());
  return out;
}

test("a snapshot prepared while Raft installs an earlier one leaves that one whole", async () => {
  const root = await mkdtemp(join(tmpdir(), "tidelog-staging-"));
  const source = await TopicStateMachine.open(join(root, "source"), empty);
  const target = await TopicStateMachine.open(join(root, "target"), empty);
  try {
    const fetch: SnapshotFetcher = (request) => {
      const log = source.registry.require(request.topic).log;
      return log.stream({ fromOffset: request.fromOffset, endOffset: request.endOffset });
    };
    await source.applyBatch([append(1, ["a", "b", "c"])]);
    const first: Snapshot = {
      metadata: { index: 1, term: 1, confState },
      data: await source.checkpoint(),
    };
    await source.applyBatch([append(2, ["d", "e"])]);
    const second: Snapshot = {
      metadata: { index: 2, term: 1, confState },
      data: await source.checkpoint(),
    };

    // The same snapshot sent again while it is prepared waits for the first preparation.
    const [once, again] = await Promise.all([
      target.prepareSnapshot(first, message, fetch),
      target.prepareSnapshot(first, message, fetch),
    ]);
    assert.deepEqual(once, again);
    // The leader's next snapshot arrives before Raft installs the first.
    await target.prepareSnapshot(second, message, fetch);
    // The first sent again while Raft installs it: the preparation it had, no second one.
    await Promise.all([target.restore(first), target.prepareSnapshot(first, message, fetch)]);
    assert.deepEqual(await values(target), ["a", "b", "c"]);
    await target.prepareSnapshot(first, message, fetch);
    assert.ok(
      !(await readdir(join(root, "target"))).includes("topics.staging-1"),
      "an installed snapshot sent again is not fetched again",
    );
    await target.restore(second);
    assert.deepEqual(await values(target), ["a", "b", "c", "d", "e"]);
    const left = (await readdir(join(root, "target"))).filter((name) => name.startsWith("topics."));
    assert.deepEqual(left, [], "no staging directory is left behind");
  } finally {
    await source.close();
    await target.close();
    await rm(root, { recursive: true, force: true });
  }
});

test("at start, the staging directory of the persisted snapshot is swapped in; others go", async () => {
  const root = await mkdtemp(join(tmpdir(), "tidelog-staging-"));
  const source = await TopicStateMachine.open(join(root, "source"), empty);
  const target = await TopicStateMachine.open(join(root, "target"), empty);
  try {
    const fetch: SnapshotFetcher = (request) =>
      source.registry
        .require(request.topic)
        .log.stream({ fromOffset: request.fromOffset, endOffset: request.endOffset });
    await source.applyBatch([append(1, ["a", "b"])]);
    const first: Snapshot = {
      metadata: { index: 1, term: 1, confState },
      data: await source.checkpoint(),
    };
    await source.applyBatch([append(2, ["c"])]);
    const second: Snapshot = {
      metadata: { index: 2, term: 1, confState },
      data: await source.checkpoint(),
    };
    await target.prepareSnapshot(first, message, fetch);
    await target.prepareSnapshot(second, message, fetch);
    await target.close();
    // An older node's unnumbered staging directory, and a half-built one.
    await mkdir(join(root, "target", "topics.staging"), { recursive: true });
    await writeFile(join(root, "target", "topics.staging", "#complete"), "2");
    await mkdir(join(root, "target", "topics.staging-7"), { recursive: true });
    // Raft had persisted the first snapshot when the node stopped: it is the one swapped in.
    const reopened = await TopicStateMachine.open(join(root, "target"), first);
    try {
      assert.deepEqual(await values(reopened), ["a", "b"]);
      const left = (await readdir(join(root, "target"))).filter((name) =>
        name.startsWith("topics."),
      );
      assert.deepEqual(left, []);
    } finally {
      await reopened.close();
    }
  } finally {
    await source.close();
    await rm(root, { recursive: true, force: true });
  }
});

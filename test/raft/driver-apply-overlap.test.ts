// The Raft driver (src/raft/driver/raft-node.ts) applies committed entries that an earlier Ready
// made durable while the current Ready's fsync runs, and those the current Ready brings only
// after it is durable. Here a follower on real files is fed appends by hand, as a leader would
// send them, and every apply is checked against what its storage had synced at that moment.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { DiskStorage } from "../../src/raft/driver/disk-storage.js";
import { RaftNode } from "../../src/raft/driver/raft-node.js";
import type { Entry, Message } from "../../src/raft/index.js";

const term = 2;

function entries(from: number, to: number): Entry[] {
  const out: Entry[] = [];
  for (let index = from; index <= to; index++)
    out.push({ index, term, type: "normal", data: Buffer.alloc(512, index % 251) });
  return out;
}

function append(prevLogIndex: number, list: Entry[], commit: number): Message {
  return {
    type: "append",
    from: "leader",
    to: "f",
    term,
    prevLogIndex,
    prevLogTerm: prevLogIndex === 1 ? 1 : term,
    entries: list,
    commit,
  };
}

test("committed entries apply during the next fsync only once durable", async () => {
  const directory = await mkdtemp(join(tmpdir(), "tidelog-apply-overlap-"));
  const storage = await DiskStorage.open(directory);
  let node: RaftNode | undefined;
  try {
    await storage.applySnapshot({
      metadata: { index: 1, term: 1, confState: { voters: ["f", "leader"], learners: [] } },
      data: new Uint8Array(0),
    });
    await storage.setHardState({ term: 1, vote: null, commit: 1 });

    // What the storage has made durable, and whether an fsync is under way.
    let appendedThrough = 1;
    let durableThrough = 1;
    let syncing = 0;
    const realAppend = storage.append.bind(storage);
    storage.append = async (list) => {
      await realAppend(list);
      appendedThrough = list.at(-1)!.index;
    };
    const realSync = storage.syncEntries.bind(storage);
    storage.syncEntries = async () => {
      const through = appendedThrough;
      syncing++;
      try {
        await realSync();
        durableThrough = Math.max(durableThrough, through);
      } finally {
        syncing--;
      }
    };

    const applied: { index: number; durable: boolean; duringSync: boolean }[] = [];
    const answers: Message[] = [];
    node = new RaftNode({
      id: "f",
      storage,
      stateMachine: {
        async applyBatch(list) {
          for (const entry of list)
            applied.push({
              index: entry.index,
              durable: entry.index <= durableThrough,
              duringSync: syncing > 0,
            });
          await new Promise((resolve) => setImmediate(resolve));
          return list.map((entry) => ({ ok: true as const, result: entry.index }));
        },
        async restore() {
          throw new Error("no snapshot is sent in this test");
        },
        async checkpoint() {
          return new Uint8Array(0);
        },
      },
      transport: { send: (messages) => answers.push(...messages) },
      tickMs: 1_000,
      electionTicks: 100,
      heartbeatTicks: 1,
      seed: 1,
      snapshotEntries: 1_000_000,
      snapshotBytes: 1 << 30,
      compactionKeepEntries: 1_000,
      compactionKeepBytes: 1 << 30,
      proposalTimeoutMs: 10_000,
      pendingProposalsMax: 1_000,
      onFatal: (error) => {
        throw error;
      },
    });
    node.start();
    const until = async (condition: () => boolean, what: string) => {
      for (const deadline = Date.now() + 10_000; !condition(); ) {
        assert.ok(Date.now() < deadline, `${what}; answers: ${JSON.stringify(answers)}`);
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    };
    const answered = (index: number) =>
      until(
        () => answers.some((m) => m.type === "appendResponse" && !m.reject && m.index >= index),
        `no acknowledgement of ${index}`,
      );

    // 1. New entries, nothing committed. 2. New entries, and the first ones committed: those
    // were made durable by the Ready before. 3. New entries, committed with the earlier ones:
    // the new ones must wait for their own fsync.
    node.step(append(1, entries(2, 51), 1));
    await answered(51);
    node.step(append(51, entries(52, 101), 51));
    await answered(101);
    node.step(append(101, entries(102, 151), 151));
    await answered(151);
    await until(() => node!.applied === 151, "not all applied");

    assert.deepEqual(
      applied.map((a) => a.index),
      entries(2, 151).map((e) => e.index),
      "every entry applied once, in order",
    );
    const early = applied.filter((a) => !a.durable).map((a) => a.index);
    assert.deepEqual(early, [], "entries applied before they were durable here");
    const overlapped = applied.filter((a) => a.duringSync).map((a) => a.index);
    assert.ok(
      overlapped.includes(2) && overlapped.includes(52),
      `entries durable before a Ready are applied while its fsync runs (overlapped: ${overlapped.length})`,
    );
  } finally {
    await node?.stop();
    await storage.close();
    await rm(directory, { recursive: true, force: true });
  }
});

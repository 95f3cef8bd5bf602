// The small parts, alone: quorum arithmetic, inflights, progress, the unstable log, the raft log
// over storage, and the Storage contract as MemoryStorage implements it.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AssertionFailure } from "../../src/assert.js";
import { decodeConfChange, encodeConfChange } from "../../src/raft/conf-change.js";
import { Inflights } from "../../src/raft/inflights.js";
import { UnstableLog } from "../../src/raft/log-unstable.js";
import { MemoryStorage } from "../../src/raft/memory-storage.js";
import { Progress } from "../../src/raft/progress.js";
import { committedIndex, voteResult } from "../../src/raft/quorum.js";
import { RaftLog } from "../../src/raft/raft-log.js";
import { RawNode } from "../../src/raft/rawnode.js";
import { createRandom } from "../../src/raft/rng.js";
import type { Entry } from "../../src/raft/types.js";

const entry = (index: number, term: number, bytes = 0): Entry => ({
  index,
  term,
  type: "normal",
  data: new Uint8Array(bytes),
});

describe("quorum", () => {
  test("committedIndex is the highest index a majority holds", () => {
    const match = (values: Record<string, number>) => (id: string) => values[id];
    assert.equal(committedIndex(new Set(["1"]), match({ 1: 7 })), 7);
    assert.equal(committedIndex(new Set(["1", "2", "3"]), match({ 1: 7, 2: 5, 3: 1 })), 5);
    assert.equal(
      committedIndex(new Set(["1", "2", "3", "4"]), match({ 1: 9, 2: 8, 3: 2, 4: 1 })),
      2,
    );
    assert.equal(committedIndex(new Set(["1", "2", "3"]), match({ 1: 7 })), 0);
    assert.equal(committedIndex(new Set(), match({})), Number.POSITIVE_INFINITY);
  });

  test("voteResult: won with a majority, lost when a majority is out of reach", () => {
    const voters = new Set(["1", "2", "3", "4", "5"]);
    const votes = (entries: [string, boolean][]) => new Map(entries);
    assert.equal(voteResult(voters, votes([["1", true]])), "pending");
    assert.equal(
      voteResult(
        voters,
        votes([
          ["1", true],
          ["2", true],
          ["3", true],
        ]),
      ),
      "won",
    );
    assert.equal(
      voteResult(
        voters,
        votes([
          ["1", false],
          ["2", false],
          ["3", false],
        ]),
      ),
      "lost",
    );
    assert.equal(
      voteResult(
        voters,
        votes([
          ["1", true],
          ["2", false],
          ["3", false],
        ]),
      ),
      "pending",
    );
    assert.equal(
      voteResult(
        voters,
        votes([
          ["9", true],
          ["8", true],
          ["1", true],
        ]),
      ),
      "pending",
    );
  });
});

describe("inflights", () => {
  test("bounded by count", () => {
    const inflights = new Inflights({ maxMessages: 3, maxBytes: 0 });
    inflights.add(1, 10);
    inflights.add(2, 10);
    assert.equal(inflights.full(), false);
    inflights.add(5, 10);
    assert.equal(inflights.full(), true);
    assert.throws(() => inflights.add(6, 1), AssertionFailure);
    inflights.freeLE(2);
    assert.equal(inflights.count, 1);
    assert.equal(inflights.bytes, 10);
    // Wraps around the ring.
    inflights.add(6, 1);
    inflights.add(7, 1);
    assert.equal(inflights.full(), true);
    inflights.freeLE(100);
    assert.equal(inflights.count, 0);
    assert.equal(inflights.bytes, 0);
  });

  test("bounded by bytes: full once the total reaches the limit", () => {
    const inflights = new Inflights({ maxMessages: 100, maxBytes: 50 });
    inflights.add(1, 30);
    assert.equal(inflights.full(), false);
    inflights.add(2, 20);
    assert.equal(inflights.full(), true);
    inflights.freeLE(1);
    assert.equal(inflights.full(), false);
  });

  test("indexes must increase", () => {
    const inflights = new Inflights({ maxMessages: 4, maxBytes: 0 });
    inflights.add(5, 1);
    assert.throws(() => inflights.add(5, 1), AssertionFailure);
  });
});

describe("progress", () => {
  const limits = { maxMessages: 2, maxBytes: 0 };

  test("probe sends one append at a time; an acknowledgement unpauses", () => {
    const progress = new Progress(5, false, limits);
    assert.equal(progress.isPaused(), false);
    progress.sentEntries(3, 30);
    assert.equal(progress.isPaused(), true);
    assert.equal(progress.next, 5, "probe does not advance next optimistically");
    assert.equal(progress.maybeUpdate(7), true);
    assert.equal(progress.isPaused(), false);
    assert.deepEqual([progress.match, progress.next], [7, 8]);
  });

  test("replicate pipelines up to the inflight limit", () => {
    const progress = new Progress(5, false, limits);
    progress.maybeUpdate(4);
    progress.becomeReplicate();
    progress.sentEntries(2, 20);
    progress.sentEntries(1, 10);
    assert.deepEqual([progress.next, progress.isPaused()], [8, true]);
    progress.maybeUpdate(6);
    progress.inflights.freeLE(6);
    progress.sentEntries(0, 0);
    assert.equal(progress.isPaused(), false);
  });

  test("maybeDecrTo ignores stale rejections and uses the hint", () => {
    const progress = new Progress(11, false, limits);
    assert.equal(progress.maybeDecrTo(5, 3), false, "not the probe in flight");
    assert.equal(progress.maybeDecrTo(10, 3), true);
    assert.equal(progress.next, 4);
    progress.maybeUpdate(3);
    progress.becomeReplicate();
    assert.equal(progress.maybeDecrTo(2, 0), false, "at or below match: stale in replicate");
    progress.sentEntries(3, 3);
    assert.equal(progress.maybeDecrTo(5, 0), true);
    assert.equal(progress.next, 4, "replicate falls back to match + 1");
  });

  test("snapshot state pauses until resolved; probe resumes past the snapshot", () => {
    const progress = new Progress(3, false, limits);
    progress.becomeSnapshot(20);
    assert.equal(progress.isPaused(), true);
    progress.becomeProbe();
    assert.equal(progress.next, 21);
  });

  test("the invariant match < next is enforced", () => {
    const progress = new Progress(1, false, limits);
    progress.maybeUpdate(5);
    assert.ok(progress.match < progress.next);
  });
});

describe("unstable log", () => {
  test("truncateAndAppend appends, replaces a suffix, or replaces everything", () => {
    const unstable = new UnstableLog(5);
    unstable.truncateAndAppend([entry(5, 1), entry(6, 1), entry(7, 1)]);
    unstable.truncateAndAppend([entry(8, 1)]);
    assert.deepEqual(
      unstable.entries.map((e) => e.index),
      [5, 6, 7, 8],
    );
    unstable.truncateAndAppend([entry(7, 2)]);
    assert.deepEqual(
      unstable.entries.map((e) => `${e.index}@${e.term}`),
      ["5@1", "6@1", "7@2"],
    );
    unstable.truncateAndAppend([entry(3, 3)]);
    assert.equal(unstable.offset, 3);
    assert.deepEqual(
      unstable.entries.map((e) => `${e.index}@${e.term}`),
      ["3@3"],
    );
  });

  test("stableTo ignores an entry that was overwritten since the Ready", () => {
    const unstable = new UnstableLog(5);
    unstable.truncateAndAppend([entry(5, 1), entry(6, 1)]);
    unstable.truncateAndAppend([entry(6, 2)]);
    unstable.stableTo(6, 1);
    assert.equal(unstable.entries.length, 2);
    unstable.stableTo(6, 2);
    assert.equal(unstable.entries.length, 0);
    assert.equal(unstable.offset, 7);
  });
});

describe("raft log", () => {
  function logWith(entries: Entry[]): RaftLog {
    const storage = new MemoryStorage();
    storage.append(entries);
    return new RaftLog(storage);
  }

  test("maybeAppend: rejects on a prev mismatch, truncates a conflict, commits min(leader, last new)", () => {
    const log = logWith([entry(1, 1), entry(2, 1), entry(3, 2)]);
    assert.equal(log.maybeAppend(3, 1, 3, [entry(4, 1)]), undefined);
    assert.equal(log.maybeAppend(1, 1, 9, [entry(2, 1), entry(3, 3)]), 3);
    assert.equal(log.term(3), 3);
    assert.equal(log.committed, 3);
  });

  test("never truncates a committed entry", () => {
    const log = logWith([entry(1, 1), entry(2, 1), entry(3, 1)]);
    log.commitTo(3);
    assert.throws(() => log.maybeAppend(1, 1, 3, [entry(2, 2)]), AssertionFailure);
    assert.throws(() => log.append([entry(3, 2)]), AssertionFailure);
  });

  test("commit never goes past the last index, applied never past commit", () => {
    const log = logWith([entry(1, 1)]);
    assert.throws(() => log.commitTo(2), AssertionFailure);
    log.commitTo(1);
    assert.throws(() => log.appliedTo(2), AssertionFailure);
  });

  test("findConflictByTerm skips a whole term", () => {
    const log = logWith([entry(1, 1), entry(2, 1), entry(3, 4), entry(4, 4), entry(5, 4)]);
    assert.deepEqual(log.findConflictByTerm(5, 3), { index: 2, term: 1 });
    assert.deepEqual(log.findConflictByTerm(5, 4), { index: 5, term: 4 });
    assert.deepEqual(log.findConflictByTerm(5, 0), { index: 0, term: 0 });
  });

  test("figure 8 rule: maybeCommit commits only an entry of the given term", () => {
    const log = logWith([entry(1, 1), entry(2, 2), entry(3, 4)]);
    assert.equal(log.maybeCommit(2, 4), false);
    assert.equal(log.committed, 0);
    assert.equal(log.maybeCommit(3, 4), true);
    assert.equal(log.committed, 3);
  });

  test("slice respects the byte limit but returns at least one entry", () => {
    const log = logWith([entry(1, 1, 100), entry(2, 1, 100), entry(3, 1, 100)]);
    assert.equal(log.slice(1, 4, 1).length, 1);
    assert.equal(log.slice(1, 4, 240).length, 2);
    assert.equal(log.slice(1, 4, Number.POSITIVE_INFINITY).length, 3);
  });
});

describe("MemoryStorage honours the Storage contract", () => {
  test("indexes: [firstIndex, lastIndex]; term(firstIndex - 1) from the snapshot", () => {
    const storage = MemoryStorage.bootstrap({ voters: ["1"], learners: [] });
    assert.deepEqual([storage.firstIndex(), storage.lastIndex()], [2, 1]);
    assert.equal(storage.term(1), 1);
    storage.append([entry(2, 2), entry(3, 2), entry(4, 3)]);
    assert.deepEqual([storage.firstIndex(), storage.lastIndex()], [2, 4]);
    assert.throws(() => storage.term(0), AssertionFailure);
    assert.throws(() => storage.term(5), AssertionFailure);
  });

  test("entries(lo, hi) is half-open and size-limited but never empty", () => {
    const storage = new MemoryStorage();
    storage.append([entry(1, 1, 10), entry(2, 1, 10), entry(3, 1, 10)]);
    assert.deepEqual(
      storage.entries(1, 3, Number.POSITIVE_INFINITY).map((e) => e.index),
      [1, 2],
    );
    assert.deepEqual(
      storage.entries(1, 4, 0).map((e) => e.index),
      [1],
    );
    assert.deepEqual(storage.entries(2, 2, 100), []);
    assert.throws(() => storage.entries(0, 2, 100), AssertionFailure);
    assert.throws(() => storage.entries(1, 5, 100), AssertionFailure);
  });

  test("append overwrites a conflicting suffix and refuses gaps", () => {
    const storage = new MemoryStorage();
    storage.append([entry(1, 1), entry(2, 1), entry(3, 1)]);
    storage.append([entry(2, 2)]);
    assert.deepEqual([storage.lastIndex(), storage.term(2)], [2, 2]);
    assert.throws(() => storage.append([entry(5, 2)]), AssertionFailure);
  });

  test("compaction needs a snapshot covering it; snapshots only move forward", () => {
    const storage = new MemoryStorage();
    storage.append([entry(1, 1), entry(2, 1), entry(3, 2), entry(4, 2)]);
    assert.throws(() => storage.compact(3), AssertionFailure);
    storage.createSnapshot(3, { voters: ["1"], learners: [] }, new Uint8Array([7]));
    storage.compact(2);
    assert.deepEqual([storage.firstIndex(), storage.term(2)], [3, 1]);
    assert.equal(storage.snapshot().metadata.index, 3);
    assert.throws(() => storage.createSnapshot(3, { voters: [], learners: [] }, new Uint8Array()));
    storage.applySnapshot({
      metadata: { index: 10, term: 5, confState: { voters: ["1", "2"], learners: [] } },
      data: new Uint8Array(),
    });
    assert.deepEqual([storage.firstIndex(), storage.lastIndex(), storage.term(10)], [11, 10, 5]);
    assert.deepEqual(storage.initialState().confState.voters, ["1", "2"]);
  });
});

describe("message validation", () => {
  test("a malformed message is dropped with a reason and changes nothing", () => {
    const storage = MemoryStorage.bootstrap({ voters: ["1", "2"], learners: [] });
    const node = new RawNode({ id: "1", storage, random: createRandom(1) });
    const before = node.basicStatus();
    const append = {
      type: "append" as const,
      from: "2",
      to: "1",
      term: 5,
      prevLogIndex: 1,
      prevLogTerm: 1,
      entries: [entry(3, 5)],
      commit: 0,
    };
    assert.equal(node.step(append), "entries do not follow prev");
    assert.equal(node.step({ ...append, entries: [entry(2, 9)] }), "entries do not follow prev");
    assert.equal(node.step({ ...append, to: "3", entries: [] }), "addressed to 3");
    assert.equal(node.step({ ...append, term: -1, entries: [] }), "bad term -1");
    assert.deepEqual(node.basicStatus(), before);
    assert.equal(node.step({ ...append, entries: [entry(2, 5)] }), undefined);
    assert.equal(node.basicStatus().hardState.term, 5);
  });
});

describe("small things", () => {
  test("conf changes round-trip through entry data", () => {
    const change = { type: "addLearner" as const, nodeId: "node-7" };
    assert.deepEqual(decodeConfChange(encodeConfChange(change)), change);
    assert.throws(() => decodeConfChange(new TextEncoder().encode('{"type":"nope"}')));
  });

  test("the generator is deterministic per seed and spreads its values", () => {
    const a = createRandom(42);
    const b = createRandom(42);
    const values = Array.from({ length: 1000 }, () => a.nextInt(10));
    assert.deepEqual(
      values,
      Array.from({ length: 1000 }, () => b.nextInt(10)),
    );
    for (let digit = 0; digit < 10; digit++) {
      const count = values.filter((v) => v === digit).length;
      assert.ok(count > 60 && count < 140, `digit ${digit} seen ${count} times`);
    }
  });
});

// The Storage contract as a reusable suite: any implementation (MemoryStorage here, the driver's
// cache over the segmented log later) is built in a given state and must answer the same way.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Entry, HardState, Snapshot, Storage } from "../../src/raft/index.js";

export interface StorageState {
  snapshot: Snapshot;
  /** Entries following the snapshot (entries[0].index = snapshot index + 1), or later ones. */
  entries: Entry[];
  hardState: HardState;
}

/** Builds an implementation holding exactly `state`. */
export type StorageFactory = (state: StorageState) => Storage;

const entry = (index: number, term: number, bytes: number): Entry => ({
  index,
  term,
  type: "normal",
  data: new Uint8Array(bytes),
});

function state(snapshotIndex: number, snapshotTerm: number, entries: Entry[]): StorageState {
  return {
    snapshot: {
      metadata: {
        index: snapshotIndex,
        term: snapshotTerm,
        confState: { voters: ["1", "2", "3"], learners: ["4"] },
      },
      data: new Uint8Array([1, 2, 3]),
    },
    entries,
    hardState: { term: 3, vote: "2", commit: snapshotIndex + entries.length },
  };
}

export function storageContract(name: string, factory: StorageFactory): void {
  describe(`Storage contract: ${name}`, () => {
    const log = [entry(11, 2, 10), entry(12, 2, 10), entry(13, 3, 10), entry(14, 3, 10)];

    test("initialState returns the hard state and the snapshot's membership", () => {
      const storage = factory(state(10, 2, log));
      const initial = storage.initialState();
      assert.deepEqual(initial.hardState, { term: 3, vote: "2", commit: 14 });
      assert.deepEqual(initial.confState, { voters: ["1", "2", "3"], learners: ["4"] });
    });

    test("firstIndex is past the snapshot, lastIndex the last entry", () => {
      const storage = factory(state(10, 2, log));
      assert.equal(storage.firstIndex(), 11);
      assert.equal(storage.lastIndex(), 14);
    });

    test("an empty log: lastIndex = firstIndex - 1", () => {
      const storage = factory(state(10, 2, []));
      assert.equal(storage.firstIndex(), 11);
      assert.equal(storage.lastIndex(), 10);
      assert.equal(storage.term(10), 2);
    });

    test("term(i) for firstIndex - 1 ≤ i ≤ lastIndex; throws outside", () => {
      const storage = factory(state(10, 2, log));
      assert.deepEqual(
        [10, 11, 12, 13, 14].map((i) => storage.term(i)),
        [2, 2, 2, 3, 3],
      );
      assert.throws(() => storage.term(9));
      assert.throws(() => storage.term(15));
    });

    test("entries(lo, hi, maxBytes) is [lo, hi), in order", () => {
      const storage = factory(state(10, 2, log));
      const all = storage.entries(11, 15, Number.POSITIVE_INFINITY);
      assert.deepEqual(
        all.map((e) => [e.index, e.term]),
        log.map((e) => [e.index, e.term]),
      );
      assert.deepEqual(
        storage.entries(12, 14, Number.POSITIVE_INFINITY).map((e) => e.index),
        [12, 13],
      );
      assert.deepEqual(storage.entries(12, 12, 100), []);
    });

    test("entries stops before exceeding maxBytes but returns at least one", () => {
      const storage = factory(state(10, 2, log));
      // Each entry counts 10 payload bytes + 16 overhead = 26.
      assert.equal(storage.entries(11, 15, 0).length, 1);
      assert.equal(storage.entries(11, 15, 26).length, 1);
      assert.equal(storage.entries(11, 15, 52).length, 2);
      assert.equal(storage.entries(11, 15, 77).length, 2);
    });

    test("entries outside [firstIndex, lastIndex + 1] throws", () => {
      const storage = factory(state(10, 2, log));
      assert.throws(() => storage.entries(10, 12, 100));
      assert.throws(() => storage.entries(12, 16, 100));
    });

    test("snapshot returns the latest snapshot whole", () => {
      const storage = factory(state(10, 2, log));
      const snapshot = storage.snapshot();
      assert.equal(snapshot.metadata.index, 10);
      assert.equal(snapshot.metadata.term, 2);
      assert.deepEqual([...snapshot.data], [1, 2, 3]);
    });
  });
}

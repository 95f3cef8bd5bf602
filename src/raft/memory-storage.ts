// MemoryStorage: Storage held in memory, plus the write side a driver needs (append, hard state,
// snapshots, compaction). Tests and the simulation treat it as the node's disk: whatever is in it
// survives a crash, whatever a Ready handed out but was not written here yet does not.

import { assert } from "../assert.js";
import type { InitialState, Storage } from "./storage.js";
import {
  type ConfState,
  type Entry,
  emptyConfState,
  entrySizeBytes,
  type HardState,
  type Snapshot,
} from "./types.js";

export class MemoryStorage implements Storage {
  private hardState: HardState = { term: 0, vote: null, commit: 0 };
  private snapshotValue: Snapshot;
  /** entries[0] is a dummy standing for the snapshot: its index and term are the snapshot's. */
  private entriesValue: Entry[];

  constructor(snapshot?: Snapshot) {
    this.snapshotValue = snapshot ?? {
      metadata: { index: 0, term: 0, confState: emptyConfState() },
      data: new Uint8Array(0),
    };
    this.entriesValue = [this.dummyFor(this.snapshotValue)];
    if (snapshot !== undefined) {
      this.hardState = {
        term: snapshot.metadata.term,
        vote: null,
        commit: snapshot.metadata.index,
      };
    }
  }

  /**
   * Storage for a founding member of a new cluster: a snapshot at index 1, term 1 holding the
   * initial membership. Nodes that join later start from `new MemoryStorage()` and receive a
   * snapshot from the leader, so they learn the founding membership too.
   */
  static bootstrap(confState: ConfState, data: Uint8Array = new Uint8Array(0)): MemoryStorage {
    return new MemoryStorage({
      metadata: { index: 1, term: 1, confState: copyConf(confState) },
      data,
    });
  }

  initialState(): InitialState {
    return {
      hardState: { ...this.hardState },
      confState: copyConf(this.snapshotValue.metadata.confState),
    };
  }

  hardStateSnapshot(): HardState {
    return { ...this.hardState };
  }

  setHardState(hardState: HardState): void {
    this.hardState = { ...hardState };
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const offset = this.entriesValue[0]!.index;
    assert(lo > offset, `entries(${lo}) below firstIndex ${offset + 1}`);
    assert(lo <= hi && hi <= this.lastIndex() + 1, `entries(${lo}, ${hi}) beyond lastIndex`);
    const result: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi; i++) {
      const entry = this.entriesValue[i - offset]!;
      bytes += entrySizeBytes(entry);
      if (result.length > 0 && bytes > maxBytes) break;
      result.push(entry);
    }
    return result;
  }

  term(i: number): number {
    const offset = this.entriesValue[0]!.index;
    assert(i >= offset, `term(${i}) is compacted (first index ${offset + 1})`);
    assert(i <= this.lastIndex(), `term(${i}) beyond last index ${this.lastIndex()}`);
    return this.entriesValue[i - offset]!.term;
  }

  firstIndex(): number {
    return this.entriesValue[0]!.index + 1;
  }

  lastIndex(): number {
    return this.entriesValue[0]!.index + this.entriesValue.length - 1;
  }

  snapshot(): Snapshot {
    return this.snapshotValue;
  }

  /**
   * Replaces the whole content with `snapshot` (a snapshot received from the leader). Its index
   * must be above the current snapshot's.
   */
  applySnapshot(snapshot: Snapshot): void {
    assert(
      snapshot.metadata.index > this.snapshotValue.metadata.index,
      `snapshot ${snapshot.metadata.index} not newer than ${this.snapshotValue.metadata.index}`,
    );
    this.snapshotValue = snapshot;
    this.entriesValue = [this.dummyFor(snapshot)];
  }

  /**
   * Records a snapshot the application took at `index` (≤ its applied index, so ≤ lastIndex)
   * without discarding entries; compact() discards them.
   */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    assert(index > this.snapshotValue.metadata.index, `snapshot at ${index} is not newer`);
    assert(index <= this.lastIndex(), `snapshot at ${index} beyond last index`);
    this.snapshotValue = {
      metadata: { index, term: this.term(index), confState: copyConf(confState) },
      data,
    };
    return this.snapshotValue;
  }

  /**
   * Discards the entries before `compactIndex` (the entry at compactIndex becomes the dummy).
   * A snapshot must already cover compactIndex, so the leader can always send what it dropped.
   */
  compact(compactIndex: number): void {
    const offset = this.entriesValue[0]!.index;
    if (compactIndex <= offset) return;
    assert(compactIndex <= this.lastIndex(), `compact(${compactIndex}) beyond last index`);
    assert(
      compactIndex <= this.snapshotValue.metadata.index,
      `compact(${compactIndex}) beyond snapshot ${this.snapshotValue.metadata.index}`,
    );
    const kept = this.entriesValue.slice(compactIndex - offset);
    kept[0] = { ...kept[0]!, type: "normal", data: new Uint8Array(0) };
    this.entriesValue = kept;
  }

  /**
   * Appends entries, first discarding any held entry at or after entries[0].index (a follower
   * overwriting a conflicting suffix). Entries already compacted are skipped.
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const lastNew = entries[entries.length - 1]!.index;
    if (lastNew < first) return;
    const fresh = first > entries[0]!.index ? entries.slice(first - entries[0]!.index) : entries;
    const start = fresh[0]!.index;
    assert(
      start <= this.lastIndex() + 1,
      `append at ${start} leaves a gap after ${this.lastIndex()}`,
    );
    const offset = this.entriesValue[0]!.index;
    if (start === this.lastIndex() + 1) {
      for (const entry of fresh) this.entriesValue.push(entry);
      return;
    }
    this.entriesValue = this.entriesValue.slice(0, start - offset).concat(fresh);
  }

  private dummyFor(snapshot: Snapshot): Entry {
    return {
      index: snapshot.metadata.index,
      term: snapshot.metadata.term,
      type: "normal",
      data: new Uint8Array(0),
    };
  }
}

function copyConf(confState: ConfState): ConfState {
  return { voters: [...confState.voters], learners: [...confState.learners] };
}

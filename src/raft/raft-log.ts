// RaftLog: the log as the core sees it — the persisted part (Storage) followed by the unstable
// part (UnstableLog) — with the commit and apply cursors.
//
// Invariants:
//   applied ≤ committed ≤ lastIndex()
//   firstIndex() - 1 ≤ committed (a snapshot is committed)
//   committed entries are never truncated or overwritten.

import { assert } from "../assert.js";
import { UnstableLog } from "./log-unstable.js";
import type { Storage } from "./storage.js";
import { type Entry, entrySizeBytes, type Snapshot } from "./types.js";

export class RaftLog {
  readonly unstable: UnstableLog;
  /** Highest index known to be stored on a quorum. */
  committed: number;
  /** Highest index the application has applied (reported through advance()). */
  applied: number;

  constructor(readonly storage: Storage) {
    const firstIndex = storage.firstIndex();
    const lastIndex = storage.lastIndex();
    this.unstable = new UnstableLog(lastIndex + 1);
    this.committed = firstIndex - 1;
    this.applied = firstIndex - 1;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  lastTerm(): number {
    const term = this.term(this.lastIndex());
    assert(term !== undefined, "the last entry's term is always known");
    return term;
  }

  /** Term of entry i, or undefined when i is compacted away or beyond the end of the log. */
  term(i: number): number | undefined {
    if (i < this.firstIndex() - 1 || i > this.lastIndex()) return undefined;
    const unstable = this.unstable.maybeTerm(i);
    if (unstable !== undefined) return unstable;
    if (i < this.storage.firstIndex() - 1 || i > this.storage.lastIndex()) return undefined;
    return this.storage.term(i);
  }

  matchTerm(i: number, term: number): boolean {
    return this.term(i) === term;
  }

  /** Raft §5.4.1: a candidate's log is at least as up-to-date as ours. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Follower side of AppendEntries. If our log holds (prevIndex, prevTerm), appends `entries`
   * (dropping those already held, truncating at the first conflict), advances commit to
   * min(leaderCommit, last new index) and returns that last new index; otherwise undefined.
   */
  maybeAppend(
    prevIndex: number,
    prevTerm: number,
    leaderCommit: number,
    entries: readonly Entry[],
  ): number | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined;
    const lastNewIndex = prevIndex + entries.length;
    const conflictIndex = this.findConflict(entries);
    if (conflictIndex !== 0) {
      assert(
        conflictIndex > this.committed,
        `conflict at ${conflictIndex} would overwrite committed ${this.committed}`,
      );
      this.append(entries.slice(conflictIndex - (prevIndex + 1)));
    }
    this.commitTo(Math.min(leaderCommit, lastNewIndex));
    return lastNewIndex;
  }

  /** Index of the first entry whose term differs from ours (or that we lack), 0 if none. */
  findConflict(entries: readonly Entry[]): number {
    for (const entry of entries) {
      if (!this.matchTerm(entry.index, entry.term)) return entry.index;
    }
    return 0;
  }

  /**
   * The largest index ≤ `index` whose term is ≤ `term`, with that term; the fast back-off hint.
   * Stops at the compacted boundary (term unknown: reported as 0). Bounded by `index` steps.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (let i = index; i > 0; i--) {
      const found = this.term(i);
      if (found === undefined) return { index: i, term: 0 };
      if (found <= term) return { index: i, term: found };
    }
    return { index: 0, term: 0 };
  }

  /** Appends entries that may overwrite an uncommitted suffix. Returns the new last index. */
  append(entries: readonly Entry[]): number {
    if (entries.length === 0) return this.lastIndex();
    const after = entries[0]!.index - 1;
    assert(
      after >= this.committed,
      `append after ${after} would truncate committed ${this.committed}`,
    );
    assert(
      after <= this.lastIndex(),
      `append after ${after} leaves a gap after ${this.lastIndex()}`,
    );
    this.unstable.truncateAndAppend(entries);
    return this.lastIndex();
  }

  commitTo(index: number): void {
    if (index <= this.committed) return; // never decrease commit
    assert(index <= this.lastIndex(), `commit ${index} beyond last index ${this.lastIndex()}`);
    this.committed = index;
  }

  /** Leader side: commit `index` if it is from the current term (Raft §5.4.2, figure 8). */
  maybeCommit(index: number, currentTerm: number): boolean {
    if (index > this.committed && this.term(index) === currentTerm) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

  appliedTo(index: number): void {
    if (index === 0) return;
    assert(
      index <= this.committed && index >= this.applied,
      `applied ${index} outside [${this.applied}, ${this.committed}]`,
    );
    this.applied = index;
  }

  stableTo(index: number, term: number): void {
    this.unstable.stableTo(index, term);
  }

  stableSnapTo(index: number): void {
    this.unstable.stableSnapTo(index);
  }

  hasPendingSnapshot(): boolean {
    return this.unstable.snapshot !== undefined;
  }

  unstableEntries(): Entry[] {
    return [...this.unstable.entries];
  }

  /** Committed entries not yet applied, up to about maxBytes; none while a snapshot is pending. */
  nextCommittedEntries(maxBytes: number): Entry[] {
    if (this.hasPendingSnapshot()) return [];
    const lo = Math.max(this.applied + 1, this.firstIndex());
    const hi = this.committed + 1;
    if (lo >= hi) return [];
    return this.slice(lo, hi, maxBytes);
  }

  hasNextCommittedEntries(): boolean {
    if (this.hasPendingSnapshot()) return false;
    return this.committed + 1 > Math.max(this.applied + 1, this.firstIndex());
  }

  /** Entries from i to the end, up to about maxBytes; undefined when i is compacted. */
  entriesFrom(i: number, maxBytes: number): Entry[] | undefined {
    if (i < this.firstIndex()) return undefined;
    if (i > this.lastIndex()) return [];
    return this.slice(i, this.lastIndex() + 1, maxBytes);
  }

  /** Entries in [lo, hi), at least one if lo < hi, else stopping before maxBytes is exceeded. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    assert(lo >= this.firstIndex() && lo <= hi, `slice [${lo},${hi}) below first index`);
    assert(hi <= this.lastIndex() + 1, `slice [${lo},${hi}) beyond last index ${this.lastIndex()}`);
    if (lo === hi) return [];
    let result: Entry[] = [];
    const unstableOffset = this.unstable.offset;
    if (lo < unstableOffset) {
      const storageHi = Math.min(hi, unstableOffset);
      result = this.storage.entries(lo, storageHi, maxBytes);
      // The storage stopped early at the size limit: do not look further.
      if (result.length < storageHi - lo) return result;
    }
    if (hi > unstableOffset) {
      const unstable = this.unstable.slice(Math.max(lo, unstableOffset), hi);
      result = result.length === 0 ? unstable : result.concat(unstable);
    }
    return limitSize(result, maxBytes);
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  /** Installs a snapshot received from the leader: the whole log is replaced by it. */
  restore(snapshot: Snapshot): void {
    assert(
      snapshot.metadata.index > this.committed,
      `snapshot ${snapshot.metadata.index} not above commit ${this.committed}`,
    );
    this.committed = snapshot.metadata.index;
    this.unstable.restore(snapshot);
  }
}

function limitSize(entries: Entry[], maxBytes: number): Entry[] {
  if (entries.length === 0) return entries;
  let bytes = entrySizeBytes(entries[0]!);
  for (let i = 1; i < entries.length; i++) {
    bytes += entrySizeBytes(entries[i]!);
    if (bytes > maxBytes) return entries.slice(0, i);
  }
  return entries;
}

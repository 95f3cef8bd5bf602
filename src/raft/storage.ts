// Storage: the narrow, synchronous view of the durable log the core reads. The core never writes
// to it: the driver persists what a Ready hands out (hard state, entries, snapshot) and then calls
// advance(). Implementations: MemoryStorage here; the driver's cache over the segmented log.
//
// Index contract: the log holds entries [firstIndex(), lastIndex()]; everything before
// firstIndex() has been compacted, and snapshot() covers at least that much
// (snapshot().metadata.index ≥ firstIndex() - 1; it may be newer when entries are kept behind
// the snapshot for slow followers). An empty log has lastIndex() = firstIndex() - 1.

import type { ConfState, Entry, HardState, Snapshot } from "./types.js";

export interface InitialState {
  hardState: HardState;
  /** Membership as of the snapshot (the core replays later changes through the application). */
  confState: ConfState;
}

export interface Storage {
  /** Persisted hard state and the membership of the latest snapshot. Called once at start. */
  initialState(): InitialState;
  /**
   * Entries with indexes in [lo, hi) — lo inclusive, hi exclusive — in order, stopping early once
   * their total size (entrySizeBytes) would exceed maxBytes, but always at least one entry when
   * lo < hi. Precondition: firstIndex() ≤ lo ≤ hi ≤ lastIndex() + 1.
   */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /**
   * Term of the entry at index i. Defined for firstIndex() - 1 ≤ i ≤ lastIndex() (i =
   * firstIndex() - 1 answers from the snapshot metadata); throws outside that range.
   */
  term(i: number): number;
  /** Index of the first entry still held (≥ 1). */
  firstIndex(): number;
  /** Index of the last entry held, or firstIndex() - 1 when none. */
  lastIndex(): number;
  /** The most recent snapshot (index 0 when none was ever taken). */
  snapshot(): Snapshot;
}

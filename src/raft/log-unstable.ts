// The unstable part of the log: entries (and possibly one incoming snapshot) the core has
// accepted but the driver has not yet reported persisted. entries[i] has index offset + i.
//
// Invariant: if a snapshot is held, offset = snapshot index + 1.

import { assert } from "../assert.js";
import type { Entry, Snapshot } from "./types.js";

export class UnstableLog {
  snapshot: Snapshot | undefined = undefined;
  entries: Entry[] = [];
  offset: number;

  constructor(offset: number) {
    this.offset = offset;
  }

  /** First index if the unstable part starts the log (it holds a snapshot). */
  maybeFirstIndex(): number | undefined {
    return this.snapshot === undefined ? undefined : this.snapshot.metadata.index + 1;
  }

  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    if (this.snapshot !== undefined) return this.snapshot.metadata.index;
    return undefined;
  }

  maybeTerm(i: number): number | undefined {
    if (i < this.offset) {
      if (this.snapshot !== undefined && this.snapshot.metadata.index === i) {
        return this.snapshot.metadata.term;
      }
      return undefined;
    }
    const last = this.maybeLastIndex();
    if (last === undefined || i > last) return undefined;
    return this.entries[i - this.offset]!.term;
  }

  /**
   * Entries up to (i, t) are persisted. Ignored if the entry at i no longer has term t: it was
   * overwritten after the Ready that carried it, and the new one still needs persisting.
   */
  stableTo(i: number, t: number): void {
    const term = this.maybeTerm(i);
    if (term === undefined || term !== t || i < this.offset) return;
    this.entries = this.entries.slice(i + 1 - this.offset);
    this.offset = i + 1;
  }

  stableSnapTo(i: number): void {
    if (this.snapshot !== undefined && this.snapshot.metadata.index === i) {
      this.snapshot = undefined;
    }
  }

  restore(snapshot: Snapshot): void {
    this.offset = snapshot.metadata.index + 1;
    this.entries = [];
    this.snapshot = snapshot;
  }

  /** Appends `entries`, which may overwrite a suffix of the unstable (or stable) log. */
  truncateAndAppend(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const after = entries[0]!.index;
    if (after === this.offset + this.entries.length) {
      this.entries = this.entries.concat(entries);
    } else if (after <= this.offset) {
      // Replaces everything unstable; the driver's append overwrites the stable suffix from here.
      this.offset = after;
      this.entries = [...entries];
    } else {
      this.entries = this.slice(this.offset, after).concat(entries);
    }
  }

  /** Unstable entries in [lo, hi). */
  slice(lo: number, hi: number): Entry[] {
    assert(lo <= hi, `unstable slice ${lo} > ${hi}`);
    const upper = this.offset + this.entries.length;
    assert(
      lo >= this.offset && hi <= upper,
      `unstable slice [${lo},${hi}) out of [${this.offset},${upper})`,
    );
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}

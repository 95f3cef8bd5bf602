// Progress: what a leader knows about one follower's log and how it sends to it.
//
//   probe     — the leader does not know where the follower's log ends. It sends at most one
//               append per heartbeat interval and backs off on rejections.
//   replicate — the follower is known to match up to `match`; the leader streams appends
//               optimistically (pipelining) bounded by Inflights.
//   snapshot  — the follower needs a snapshot; appends stop until the driver reports the
//               snapshot's fate (snapshotStatus) or the follower acknowledges it.
//
// Invariant: match < next.

import { assert } from "../assert.js";
import { Inflights, type InflightsLimits } from "./inflights.js";

export type ProgressState = "probe" | "replicate" | "snapshot";

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = "probe";
  /** In snapshot state: index of the snapshot being sent. */
  pendingSnapshot = 0;
  /** Heard from since the last check-quorum round (always true for the leader itself). */
  recentActive = false;
  /** No more appends until an acknowledgement or heartbeat response (probe), or room (replicate). */
  msgAppFlowPaused = false;
  readonly inflights: Inflights;

  constructor(
    next: number,
    public isLearner: boolean,
    limits: InflightsLimits,
  ) {
    this.next = next;
    this.inflights = new Inflights(limits);
    this.checkInvariants();
  }

  private resetState(state: ProgressState): void {
    this.msgAppFlowPaused = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // Coming back from a snapshot, the follower holds at least the snapshot: probe past it.
    if (this.state === "snapshot") {
      const pending = this.pendingSnapshot;
      this.resetState("probe");
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState("probe");
      this.next = this.match + 1;
    }
    this.checkInvariants();
  }

  becomeReplicate(): void {
    this.resetState("replicate");
    this.next = this.match + 1;
    this.checkInvariants();
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState("snapshot");
    this.pendingSnapshot = snapshotIndex;
    this.next = Math.max(this.next, snapshotIndex + 1);
    this.checkInvariants();
  }

  /** Accounts for an append just sent carrying `entries` entries of `bytes` bytes. */
  sentEntries(entries: number, bytes: number): void {
    if (this.state === "replicate") {
      if (entries > 0) {
        const last = this.next + entries - 1;
        this.next = last + 1;
        this.inflights.add(last, bytes);
      }
      this.msgAppFlowPaused = this.inflights.full();
    } else if (this.state === "probe") {
      // One probe at a time: wait for its answer or the next heartbeat response.
      this.msgAppFlowPaused = true;
    }
    this.checkInvariants();
  }

  /** The follower acknowledged `index`. Returns false for a stale acknowledgement. */
  maybeUpdate(index: number): boolean {
    if (index <= this.match) return false;
    this.match = index;
    this.next = Math.max(this.next, index + 1);
    this.msgAppFlowPaused = false;
    this.checkInvariants();
    return true;
  }

  /**
   * The follower rejected an append at prevLogIndex `rejected` and hinted that its log may match
   * up to `matchHint`. Returns false when the rejection is stale (answers an older send).
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === "replicate") {
      // In replicate, appends go out in order: a rejection at or below match is stale.
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      this.checkInvariants();
      return true;
    }
    // In probe, only the answer to the probe in flight (prevLogIndex next-1) counts.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.msgAppFlowPaused = false;
    this.checkInvariants();
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case "probe":
      case "replicate":
        return this.msgAppFlowPaused;
      case "snapshot":
        return true;
    }
  }

  private checkInvariants(): void {
    assert(this.match < this.next, `progress match ${this.match} ≥ next ${this.next}`);
  }
}

// RawNode: the driver's handle on the core. Inputs: tick(), step(), propose(), campaign(),
// proposeConfChange()/applyConfChange(), transferLeadership(), snapshotStatus(),
// reportUnreachable(). Outputs: ready() / advance().
//
// The Ready contract — what the driver does with each Ready, in this order:
//
//   1. Persist, durably (fsync when `mustSync`), before anything else:
//        `snapshot` if present (replacing the log), then `entries` (which may overwrite a suffix
//        of the persisted log from entries[0].index on), then `hardState` if present.
//   2. Only then send `messages`. Votes and acknowledgements in them promise that the state
//      above is on disk; sending them earlier breaks Raft's safety after a crash.
//   3. Apply `snapshot` to the state machine if present, then `committedEntries` in order.
//      For each confChange entry, decode it (decodeConfChange) and call applyConfChange().
//   4. Call advance().
//
// ready() must not be called again before advance(). tick(), step() and the propose methods may
// be called between ready() and advance() (say, while the fsync runs): what they produce comes
// out in the next Ready.

import { assert } from "../assert.js";
import type { ConfChange } from "./conf-change.js";
import { type RaftOptions, resolveConfig } from "./config.js";
import { messageProblem } from "./message-validation.js";
import type { ProgressState } from "./progress.js";
import { Raft } from "./raft.js";
import type {
  ConfState,
  Entry,
  HardState,
  Message,
  NodeId,
  ProposeResult,
  Snapshot,
  SoftState,
} from "./types.js";

export interface Ready {
  /** Present when the leader or this node's role changed since the previous Ready. */
  softState?: SoftState;
  /** Present when term, vote or commit changed: persist it. */
  hardState?: HardState;
  /** A snapshot from the leader to persist and then apply. */
  snapshot?: Snapshot;
  /** Entries to persist (append, overwriting any persisted entry at the same index or after). */
  entries: Entry[];
  /** Committed entries to apply, in order, after persisting. */
  committedEntries: Entry[];
  /** Messages to send after persisting. */
  messages: Message[];
  /** Whether step 1 needs an fsync (new entries, term or vote; a commit change alone does not). */
  mustSync: boolean;
}

export interface ProgressStatus {
  match: number;
  next: number;
  state: ProgressState;
  paused: boolean;
  recentActive: boolean;
  isLearner: boolean;
  inflightMessages: number;
  pendingSnapshot: number;
}

/** What status() reports without allocating the progress table. */
export interface BasicStatus {
  id: NodeId;
  hardState: HardState;
  softState: SoftState;
  applied: number;
  lastIndex: number;
  firstIndex: number;
  leadTransferee: NodeId | null;
}

export interface Status extends BasicStatus {
  confState: ConfState;
  /** Leader only: what it knows of each member, itself included. */
  progress: Map<NodeId, ProgressStatus>;
}

interface Handed {
  softState: SoftState;
  hardState: HardState;
  lastEntry: { index: number; term: number } | undefined;
  snapshotIndex: number | undefined;
  lastCommittedIndex: number | undefined;
  committedBytes: number;
}

export class RawNode {
  private readonly raft: Raft;
  private previousSoftState: SoftState;
  private previousHardState: HardState;
  private handed: Handed | undefined = undefined;

  constructor(options: RaftOptions) {
    this.raft = new Raft(resolveConfig(options));
    this.previousSoftState = this.raft.softState();
    this.previousHardState = this.raft.hardState();
  }

  get id(): NodeId {
    return this.raft.id;
  }

  /** Advances logical time by one tick (the driver picks the tick interval). */
  tick(): void {
    this.raft.tick();
  }

  /** Starts an election now (as if the election timeout elapsed), with pre-vote if enabled. */
  campaign(): void {
    this.raft.hup("election");
  }

  /**
   * Feeds a message received from a peer. A malformed one (see message-validation.ts) is
   * dropped: the result is the reason, for the driver to log, or undefined when stepped.
   */
  step(message: Message): string | undefined {
    const problem = messageProblem(message, this.raft.id);
    if (problem !== undefined) return problem;
    this.raft.step(message);
    return undefined;
  }

  /** Appends one normal entry if this node leads; the result says where, or why not. */
  propose(data: Uint8Array): ProposeResult {
    return this.raft.propose([{ type: "normal", data }]);
  }

  /** Appends several normal entries as one batch: one append message per follower. */
  proposeBatch(items: readonly Uint8Array[]): ProposeResult {
    return this.raft.propose(items.map((data) => ({ type: "normal" as const, data })));
  }

  /** Proposes a membership change; refused while another is pending (see conf-change.ts). */
  proposeConfChange(change: ConfChange): ProposeResult {
    return this.raft.proposeConfChange(change);
  }

  /** Call when applying a committed confChange entry; returns the membership now in force. */
  applyConfChange(change: ConfChange): ConfState {
    return this.raft.applyConfChange(change);
  }

  /** Starts handing leadership to `to` (leader only); false if it cannot. */
  transferLeadership(to: NodeId): boolean {
    return this.raft.transferLeadership(to);
  }

  /**
   * The driver finished (ok) or gave up (failed) sending a snapshot to `id`. Every snapshot
   * message must eventually be reported one way or the other: until then the leader sends that
   * follower nothing else (it may take long to stream a snapshot, so the core sets no timeout).
   */
  snapshotStatus(id: NodeId, status: "ok" | "failed"): void {
    this.raft.snapshotStatus(id, status === "ok");
  }

  /** The transport could not reach `id`: stop pipelining to it and probe instead. */
  reportUnreachable(id: NodeId): void {
    this.raft.reportUnreachable(id);
  }

  hasReady(): boolean {
    const raft = this.raft;
    if (!sameSoftState(raft.softState(), this.previousSoftState)) return true;
    if (!sameHardState(raft.hardState(), this.previousHardState)) return true;
    if (raft.log.hasPendingSnapshot()) return true;
    if (raft.log.unstable.entries.length > 0) return true;
    if (raft.messages.length > 0) return true;
    return raft.log.hasNextCommittedEntries();
  }

  ready(): Ready {
    assert(this.handed === undefined, "ready() called again before advance()");
    const raft = this.raft;
    const entries = raft.log.unstableEntries();
    const committedEntries = raft.log.nextCommittedEntries(raft.maxCommittedSizePerReadyBytes);
    const messages = raft.messages;
    raft.messages = [];
    const softState = raft.softState();
    const hardState = raft.hardState();
    const ready: Ready = { entries, committedEntries, messages, mustSync: false };
    if (!sameSoftState(softState, this.previousSoftState)) ready.softState = softState;
    if (!sameHardState(hardState, this.previousHardState)) ready.hardState = hardState;
    const snapshot = raft.log.unstable.snapshot;
    if (snapshot !== undefined) ready.snapshot = snapshot;
    ready.mustSync =
      entries.length > 0 ||
      snapshot !== undefined ||
      hardState.term !== this.previousHardState.term ||
      hardState.vote !== this.previousHardState.vote;
    const lastEntry = entries[entries.length - 1];
    const lastCommitted = committedEntries[committedEntries.length - 1];
    let committedBytes = 0;
    for (const entry of committedEntries) committedBytes += entry.data.byteLength;
    this.handed = {
      softState,
      hardState,
      lastEntry: lastEntry && { index: lastEntry.index, term: lastEntry.term },
      snapshotIndex: snapshot?.metadata.index,
      lastCommittedIndex: lastCommitted?.index,
      committedBytes,
    };
    return ready;
  }

  /** The last Ready is persisted, sent and applied (see the contract at the top). */
  advance(): void {
    const handed = this.handed;
    assert(handed !== undefined, "advance() without a Ready");
    this.handed = undefined;
    const log = this.raft.log;
    this.previousSoftState = handed.softState;
    this.previousHardState = handed.hardState;
    if (handed.snapshotIndex !== undefined) {
      log.stableSnapTo(handed.snapshotIndex);
      if (log.applied < handed.snapshotIndex) log.appliedTo(handed.snapshotIndex);
    }
    if (handed.lastCommittedIndex !== undefined) {
      log.appliedTo(handed.lastCommittedIndex);
      if (this.raft.state === "leader") this.raft.reduceUncommittedBytes(handed.committedBytes);
    }
    if (handed.lastEntry !== undefined) {
      log.stableTo(handed.lastEntry.index, handed.lastEntry.term);
    }
  }

  basicStatus(): BasicStatus {
    const raft = this.raft;
    return {
      id: raft.id,
      hardState: raft.hardState(),
      softState: raft.softState(),
      applied: raft.log.applied,
      lastIndex: raft.log.lastIndex(),
      firstIndex: raft.log.firstIndex(),
      leadTransferee: raft.leadTransferee,
    };
  }

  status(): Status {
    const raft = this.raft;
    const progress = new Map<NodeId, ProgressStatus>();
    if (raft.state === "leader") {
      for (const id of [...raft.tracker.progress.keys()].sort()) {
        const p = raft.tracker.progress.get(id)!;
        progress.set(id, {
          match: p.match,
          next: p.next,
          state: p.state,
          paused: p.isPaused(),
          recentActive: p.recentActive,
          isLearner: p.isLearner,
          inflightMessages: p.inflights.count,
          pendingSnapshot: p.pendingSnapshot,
        });
      }
    }
    return { ...this.basicStatus(), confState: raft.confState(), progress };
  }
}

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.lead === b.lead && a.state === b.state;
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

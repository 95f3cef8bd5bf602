// The driver: runs the pure Raft core against real time, disk and network.
//
// One loop handles Readys in order, following the core's contract (rawnode.ts): persist the
// snapshot, entries and hard state (fsync when the Ready says so) before any of its messages
// leave and before applying the committed entries it brings, then advance. Committed entries
// that earlier Readys made durable are applied during the fsync. Proposals made while a Ready is being
// persisted join the next one: concurrent writes share one fsync and one round of appends
// (group commit). Time enters only through the tick timer.
import { AssertionFailure } from "../../assert.js";
import { TidelogError } from "../../errors.js";
import { logError } from "../../obs/logger.js";
import {
  type ConfChange,
  type ConfState,
  createRandom,
  decodeConfChange,
  type Entry,
  type Message,
  type NodeId,
  type ProposeResult,
  RawNode,
  type Snapshot,
  type SoftState,
  type Status,
} from "../index.js";
import type { DiskStorage } from "./disk-storage.js";

const debugReady = process.env.TIDELOG_DEBUG_READY === "1";

function notLeaderError(): TidelogError {
  return new TidelogError("unavailable", "proposal refused: this node is not the leader", {
    reason: "notLeader",
  });
}

function refusal(reason: string, problem?: string): TidelogError {
  // A change the configuration forbids (removing its only voter) is refused for good, unlike
  // the others (a transfer under way, a change pending, too many bytes uncommitted).
  if (reason === "invalidConfChange") {
    return new TidelogError(
      "failed_precondition",
      `proposal refused: the membership change is not allowed: ${problem ?? "invalid here"}`,
      { reason },
    );
  }
  return new TidelogError("unavailable", `proposal refused: ${refusalWords[reason] ?? reason}`, {
    reason,
  });
}

/** Why a proposal was refused, in words a client can act on (all of them: retry). */
const refusalWords: Partial<Record<string, string>> = {
  leadershipTransferInProgress: "leadership is being handed to another node; retry shortly",
  confChangePending: "a membership change is still being applied; retry shortly",
  uncommittedBytesExceeded:
    "too many bytes wait for commitment (a follower is slow or cut off); retry shortly",
};

/** What applying one entry gave: a result for its proposer, or a deterministic refusal. */
export type ApplyOutcome = { ok: true; result: unknown } | { ok: false; error: TidelogError };

/** The replicated state machine the driver applies committed entries to. */
export interface StateMachine {
  /**
   * Applies committed normal entries in order, deterministically; one outcome per entry. A
   * refusal every replica makes alike (topic exists) is an outcome; an I/O failure is thrown and
   * is fatal (the node restarts and replays from its last checkpoint).
   */
  applyBatch(entries: readonly Entry[]): Promise<ApplyOutcome[]>;
  /** Replaces the state with a snapshot's (its content was fetched by prepareSnapshot). */
  restore(snapshot: Snapshot): Promise<void>;
  /** Makes the state as of the last applied entry durable; returns the snapshot's description. */
  checkpoint(): Promise<Uint8Array>;
  /** True when a checkpoint is due before the log's size calls for one (a restart's work). */
  wantsCheckpoint?(): boolean;
  /**
   * A membership change was applied at `index` (in order with the entries): the state machine
   * may keep what its checkpoints should carry (the removals, member-removals.ts).
   */
  applyConfChange?(change: ConfChange, index: number): void;
}

/** Sends messages to peers, best effort (Raft retries what is lost). */
export interface Transport {
  send(messages: Message[]): void;
}

export interface RaftNodeOptions {
  id: NodeId;
  storage: DiskStorage;
  stateMachine: StateMachine;
  transport: Transport;
  /** Wall-clock length of one tick. */
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  /** Seed of the election-timeout jitter. */
  seed: number;
  /** Take a snapshot once this many entries were applied since the last one. */
  snapshotEntries: number;
  /** ...or once entries holding this many data bytes were applied since the last one. */
  snapshotBytes: number;
  /** Entries kept behind a snapshot for followers that lag a little. */
  compactionKeepEntries: number;
  /**
   * ...but no more than this many data bytes of them: the entries behind the applied index stay
   * in memory, so this and `snapshotBytes` bound a node's memory whatever the size of entries.
   */
  compactionKeepBytes: number;
  /** A proposal not applied within this time fails with unavailable (outcome unknown). */
  proposalTimeoutMs: number;
  /** Proposals waiting for the next Ready; more are refused with resource_exhausted. */
  pendingProposalsMax: number;
  /** Called with fatal storage errors: the node cannot go on safely and must stop. */
  onFatal: (error: unknown) => void;
}

interface Waiter {
  term: number;
  /** Past this time (ms) the proposer is told the outcome is unknown. */
  deadlineMs: number;
  /** Set when this node stopped leading before the entry was applied (see changeSoftState). */
  leadershipLost?: boolean;
  resolve: (result: unknown) => void;
  reject: (error: unknown) => void;
}

export class RaftNode {
  private readonly raw: RawNode;
  private readonly waiters = new Map<number, Waiter>();
  private readonly confWaiters = new Map<number, Waiter>();
  private readonly pendingProposals: {
    data: Uint8Array;
    resolve: (result: unknown) => void;
    reject: (error: unknown) => void;
  }[] = [];
  private readonly softStateListeners = new Set<(state: SoftState) => void>();
  private readonly appliedListeners = new Set<(index: number) => void>();
  /** Told when this node finds it cannot catch up: lost entries, or removed (a peer said so). */
  private readonly strandedListeners = new Set<() => void>();
  /** The highest index at which a peer said this node was removed (see heardRemoved). */
  private removedByPeerAt = 0;
  /** The commit index of the latest heartbeat (see lostEntries). */
  private heartbeatCommit = 0;
  private processing = false;
  /** Run once each just before the next proposals go to the core (beforeNextProposals). */
  private gatherers: (() => void)[] = [];
  private tickTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private behindCommitWarnedAtMs = 0;
  private appliedIndex: number;
  /** Data bytes of the entries applied since the last snapshot (see snapshotBytes). */
  private appliedBytesSinceSnapshot = 0;
  private conf: ConfState;
  private softStateValue: SoftState = { lead: null, state: "follower" };
  /** Times this node became leader (see leadership). */
  private leaderships = 0;

  constructor(private readonly options: RaftNodeOptions) {
    const snapshot = options.storage.snapshot();
    this.appliedIndex = snapshot.metadata.index;
    this.conf = options.storage.initialState().confState;
    this.raw = new RawNode({
      id: options.id,
      storage: options.storage,
      random: createRandom(options.seed),
      electionTicks: options.electionTicks,
      heartbeatTicks: options.heartbeatTicks,
      applied: this.appliedIndex,
      preVote: true,
      checkQuorum: true,
    });
  }

  get id(): NodeId {
    return this.options.id;
  }

  get applied(): number {
    return this.appliedIndex;
  }

  get confState(): ConfState {
    return this.conf;
  }

  get softState(): SoftState {
    return this.softStateValue;
  }

  get isLeader(): boolean {
    return this.softStateValue.state === "leader";
  }

  /**
   * While this node leads: a number for this period of leadership, different from every earlier
   * one of this process (proposals of one period commit, or fail, as a prefix). Else undefined.
   */
  get leadership(): number | undefined {
    return this.isLeader ? this.leaderships : undefined;
  }

  status(): Status {
    return this.raw.status();
  }

  start(): void {
    let ticks = 0;
    this.tickTimer = setInterval(() => {
      this.raw.tick();
      if (++ticks % 10 === 0) this.expireWaiters(Date.now());
      this.schedule();
    }, this.options.tickMs);
    this.schedule();
  }

  /** Stops ticking and processing; pending proposals fail with unavailable. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.tickTimer);
    while (this.processing) await new Promise((resolve) => setTimeout(resolve, 5));
    this.runGatherers();
    const error = new TidelogError("unavailable", "the node is shutting down");
    for (const waiter of [...this.waiters.values(), ...this.confWaiters.values()])
      waiter.reject(error);
    this.waiters.clear();
    this.confWaiters.clear();
  }

  onSoftState(listener: (state: SoftState) => void): () => void {
    this.softStateListeners.add(listener);
    return () => this.softStateListeners.delete(listener);
  }

  /**
   * Resolves true once `condition` holds, checked at every change of role or applied index (no
   * polling), or false after `timeoutMs`.
   */
  waitUntil(condition: () => boolean, timeoutMs: number): Promise<boolean> {
    if (condition()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const finish = (held: boolean) => {
        clearTimeout(timer);
        stopRole();
        stopApplied();
        resolve(held);
      };
      const check = () => {
        if (condition()) finish(true);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      const stopRole = this.onSoftState(check);
      const stopApplied = this.onApplied(check);
    });
  }

  /**
   * Set while the latest heartbeat says entries past this node's log are committed: it lost
   * entries it had acknowledged (see heardCommit), and cannot catch up on its own.
   */
  get lostEntries(): { commit: number; last: number } | undefined {
    const last = this.options.storage.lastIndex();
    return this.heartbeatCommit > last ? { commit: this.heartbeatCommit, last } : undefined;
  }

  /** Calls `listener` whenever lostEntries or removedByPeer becomes set. */
  onStranded(listener: () => void): () => void {
    this.strandedListeners.add(listener);
    return () => this.strandedListeners.delete(listener);
  }

  /**
   * Set while a peer says this node was removed at an index it has not applied (see
   * removal-verdict.ts): a node cut off when it was removed never applies that entry.
   */
  get removedByPeer(): number | undefined {
    return this.removedByPeerAt > this.appliedIndex ? this.removedByPeerAt : undefined;
  }

  /**
   * A peer that applied this node's removal at `index` said so. It counts only while this node
   * has applied less than `index`: an id used again by a member added after the removal has
   * applied past it, and a node added back applies past it as it catches up.
   */
  heardRemoved(index: number): void {
    if (index <= this.appliedIndex || index <= this.removedByPeerAt) return;
    this.removedByPeerAt = index;
    logError(
      `a peer says this node was removed from the cluster at index ${index}; it has applied ${this.appliedIndex}`,
      "this node takes no part any more: it answers no client calls; join it again (empty data directory) to bring it back",
    );
    for (const listener of this.strandedListeners) listener();
  }

  onApplied(listener: (index: number) => void): () => void {
    this.appliedListeners.add(listener);
    return () => this.appliedListeners.delete(listener);
  }

  /** Feeds a message from a peer. */
  step(message: Message): void {
    if (this.stopped) return;
    if (message.type === "heartbeat") this.heardCommit(message.commit);
    try {
      this.raw.step(message);
    } catch (error) {
      // The core broke an invariant mid-step: its state can no longer be trusted. Stop, as a
      // storage failure does, rather than go on serving from it.
      if (error instanceof AssertionFailure) this.fail(error);
      throw error;
    }
    this.schedule();
  }

  campaign(): void {
    this.raw.campaign();
    this.schedule();
  }

  reportUnreachable(id: NodeId): void {
    this.raw.reportUnreachable(id);
    this.schedule();
  }

  snapshotStatus(id: NodeId, status: "ok" | "failed"): void {
    this.raw.snapshotStatus(id, status);
    this.schedule();
  }

  /**
   * Proposes a command; resolves with the state machine's result once it is committed and
   * applied here. Fails with unavailable (not the leader: nothing was written) or aborted
   * (leadership changed and the entry was replaced: nothing was written).
   */
  propose(data: Uint8Array): Promise<unknown> {
    if (this.stopped)
      return Promise.reject(new TidelogError("unavailable", "the node is shutting down"));
    if (!this.isLeader) return Promise.reject(notLeaderError());
    if (this.pendingProposals.length >= this.options.pendingProposalsMax) {
      return Promise.reject(
        new TidelogError(
          "resource_exhausted",
          `too many writes waiting to be proposed (limit ${this.options.pendingProposalsMax})`,
        ),
      );
    }
    // Group commit: proposals gather here and enter the log together before the next Ready, so
    // they share one fsync and one round of appends.
    return new Promise((resolve, reject) => {
      this.pendingProposals.push({ data, resolve, reject });
      this.schedule();
    });
  }

  /**
   * Runs `gather` once, just before the next proposals go to the core: what it proposes joins
   * them. While a Ready is being persisted that is when the loop comes back for more, so callers
   * that merge requests (produce-coalescer.ts) keep merging until the log can take them. Also run
   * when the node stops, whose proposals then fail with unavailable.
   */
  beforeNextProposals(gather: () => void): void {
    this.gatherers.push(gather);
    if (this.stopped) this.runGatherers();
    else this.schedule();
  }

  private runGatherers(): void {
    while (this.gatherers.length > 0) {
      const gather = this.gatherers.shift()!;
      try {
        gather();
      } catch (error) {
        this.fail(error); // a bug: stop rather than leave its requests waiting for ever
      }
    }
  }

  /** Hands the gathered proposals to the core as one batch. */
  private flushProposals(): void {
    this.runGatherers();
    if (this.pendingProposals.length === 0) return;
    const batch = this.pendingProposals.splice(0);
    const result = this.raw.proposeBatch(batch.map((proposal) => proposal.data));
    if (!result.accepted) {
      const error =
        result.reason === "notLeader" ? notLeaderError() : refusal(result.reason, result.problem);
      for (const proposal of batch) proposal.reject(error);
      return;
    }
    for (const [i, proposal] of batch.entries()) {
      this.waiters.set(result.firstIndex + i, {
        term: result.term,
        deadlineMs: Date.now() + this.options.proposalTimeoutMs,
        resolve: proposal.resolve,
        reject: proposal.reject,
      });
    }
  }

  /** Proposes a membership change; resolves once applied here. */
  proposeConfChange(change: ConfChange): Promise<unknown> {
    return this.track(this.confWaiters, this.raw.proposeConfChange(change));
  }

  transferLeadership(to: NodeId): boolean {
    const started = this.raw.transferLeadership(to);
    this.schedule();
    return started;
  }

  private track(waiters: Map<number, Waiter>, result: ProposeResult): Promise<unknown> {
    if (this.stopped)
      return Promise.reject(new TidelogError("unavailable", "the node is shutting down"));
    if (!result.accepted) {
      return Promise.reject(
        result.reason === "notLeader" ? notLeaderError() : refusal(result.reason, result.problem),
      );
    }
    this.schedule();
    return new Promise((resolve, reject) => {
      waiters.set(result.lastIndex, {
        term: result.term,
        deadlineMs: Date.now() + this.options.proposalTimeoutMs,
        resolve,
        reject,
      });
    });
  }

  /**
   * A leader sends a follower a commit no higher than what the follower acknowledged as durable.
   * One past this node's log means it lost acknowledged entries (a wiped or damaged data
   * directory): the core drops such a heartbeat, and this says so (lostEntries, and a log line
   * at most every 10 s). A later heartbeat within the log clears it.
   */
  private heardCommit(commit: number): void {
    const wasLost = this.lostEntries !== undefined;
    this.heartbeatCommit = commit;
    const last = this.options.storage.lastIndex();
    if (commit <= last) return;
    if (!wasLost) for (const listener of this.strandedListeners) listener();
    if (Date.now() - this.behindCommitWarnedAtMs < 10_000) return;
    this.behindCommitWarnedAtMs = Date.now();
    logError(
      `a heartbeat says entries up to ${commit} are committed, but this node's log ends at ${last}`,
      "this node lost entries it had acknowledged (a wiped or damaged data directory?): remove it with Leave and join it again",
    );
  }

  private fail(error: unknown): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.tickTimer);
    this.runGatherers();
    this.options.onFatal(error);
  }

  private schedule(): void {
    if (this.processing || this.stopped) return;
    this.processing = true;
    setImmediate(() => {
      this.loop().then(
        () => {
          this.processing = false;
          if (
            !this.stopped &&
            (this.raw.hasReady() || this.pendingProposals.length > 0 || this.gatherers.length > 0)
          )
            this.schedule();
        },
        (error: unknown) => this.fail(error),
      );
    });
  }

  private async loop(): Promise<void> {
    const { storage, stateMachine, transport } = this.options;
    for (;;) {
      this.flushProposals();
      if (this.stopped || !this.raw.hasReady()) break;
      const ready = this.raw.ready();
      const began = debugReady ? performance.now() : 0;
      if (ready.softState !== undefined) this.changeSoftState(ready.softState);
      // A leader's appends and heartbeats may leave before its own fsync (Raft thesis §10.2.1):
      // it counts its own entries toward commitment, but any commit that needs a follower's ack
      // of them reaches the state machine, clients and followers only in a later Ready, after
      // this one is durable. Everything else (votes, acks) waits for the fsync below.
      let messages = ready.messages;
      if (this.isLeader && messages.length > 0) {
        const early = messages.filter(
          (message) => message.type === "append" || message.type === "heartbeat",
        );
        if (early.length > 0) transport.send(early);
        messages = messages.filter(
          (message) => message.type !== "append" && message.type !== "heartbeat",
        );
      }
      if (ready.snapshot !== undefined) await storage.applySnapshot(ready.snapshot);
      if (ready.entries.length > 0) await storage.append(ready.entries);
      const persisted: Promise<void>[] = [];
      if (ready.entries.length > 0 && ready.mustSync) persisted.push(storage.syncEntries());
      if (ready.hardState !== undefined) persisted.push(storage.setHardState(ready.hardState));
      // Committed entries below this Ready's new ones are durable here already (an earlier Ready
      // persisted them, and a committed entry is never replaced): they are applied while the
      // fsync runs, so the state machine's writes overlap it, and the messages leave as soon as the
      // fsync is done. Those that the new entries bring are applied once persisted. (A Ready with
      // a snapshot has no committed entries.)
      const [durable, withNew] = splitBefore(ready.committedEntries, ready.entries[0]?.index);
      const persistedThenSent = Promise.all(persisted).then(() => {
        if (messages.length > 0) transport.send(messages);
      });
      await settleBoth(persistedThenSent, this.applyCommitted(durable));
      if (ready.snapshot !== undefined) {
        await stateMachine.restore(ready.snapshot);
        this.conf = ready.snapshot.metadata.confState;
        this.abandonWaitersThrough(ready.snapshot.metadata.index);
        this.appliedBytesSinceSnapshot = 0;
        this.setApplied(ready.snapshot.metadata.index);
      }
      await this.applyCommitted(withNew);
      this.raw.advance();
      await this.maybeSnapshot();
      if (debugReady) {
        process.stderr.write(
          `${began.toFixed(1)} ready entries=${ready.entries.length} committed=${ready.committedEntries.length} messages=${ready.messages.length} sync=${ready.mustSync} ms=${(performance.now() - began).toFixed(2)}\n`,
        );
      }
    }
  }

  /** Applies runs of normal entries as batches, and membership changes between them, in order. */
  private async applyCommitted(entries: readonly Entry[]): Promise<void> {
    let start = 0;
    while (start < entries.length) {
      const first = entries[start]!;
      if (first.type === "confChange") {
        const change = decodeConfChangeOrSkip(first);
        // One that is not a change is the same bytes everywhere: a no-op everywhere alike.
        if (change !== undefined) {
          this.conf = this.raw.applyConfChange(change);
          this.options.stateMachine.applyConfChange?.(change, first.index);
        }
        this.settle(this.confWaiters, first, { ok: true, result: undefined });
        this.setApplied(first.index);
        start++;
        continue;
      }
      let end = start;
      while (end < entries.length && entries[end]!.type === "normal") end++;
      const run = entries.slice(start, end);
      const outcomes = await this.options.stateMachine.applyBatch(run);
      for (const [i, entry] of run.entries()) {
        this.settle(this.waiters, entry, outcomes[i]!);
        this.appliedBytesSinceSnapshot += entry.data.length;
        this.setApplied(entry.index);
      }
      start = end;
    }
  }

  private settle(waiters: Map<number, Waiter>, entry: Entry, outcome: ApplyOutcome): void {
    const waiter = waiters.get(entry.index);
    if (waiter === undefined) return;
    waiters.delete(entry.index);
    if (waiter.term !== entry.term) {
      waiter.reject(
        new TidelogError(
          "aborted",
          "leadership changed before the write committed; it was not applied",
        ),
      );
    } else if (!outcome.ok) {
      waiter.reject(outcome.error);
    } else {
      waiter.resolve(outcome.result);
    }
  }

  private setApplied(index: number): void {
    this.appliedIndex = index;
    for (const listener of this.appliedListeners) listener(index);
  }

  /**
   * A proposal whose entry has not been applied by its deadline (this node was cut off, say) is
   * answered unavailable with an unknown outcome, so that no caller waits forever; the waiter is
   * dropped, which also bounds the map.
   */
  private expireWaiters(nowMs: number): void {
    for (const waiters of [this.waiters, this.confWaiters]) {
      for (const [index, waiter] of waiters) {
        if (waiter.deadlineMs > nowMs) continue;
        waiters.delete(index);
        waiter.reject(
          new TidelogError(
            "unavailable",
            waiter.leadershipLost === true
              ? "this node stopped leading before the write was confirmed; it may or may not have been applied"
              : "the write was not confirmed in time; it may or may not have been applied",
          ),
        );
      }
    }
  }

  /**
   * This node stopped leading with proposals not yet applied. Usually the next leader commits
   * them, or replaces them, within moments, and this node learns which as it applies its log.
   * But a node cut off from its peers may not learn it for a long time (a leader whose outbound
   * links failed still hears the new leader, which cannot get entries through to it), so its
   * proposers wait two election timeouts more at most, not the whole proposal timeout, before
   * they are told the outcome is unknown.
   */
  private shortenWaits(): void {
    const deadlineMs = Date.now() + 2 * this.options.electionTicks * this.options.tickMs;
    for (const waiters of [this.waiters, this.confWaiters]) {
      for (const waiter of waiters.values()) {
        waiter.leadershipLost = true;
        waiter.deadlineMs = Math.min(waiter.deadlineMs, deadlineMs);
      }
    }
  }

  /**
   * Proposals at or below an installed snapshot's index can no longer be matched with their
   * entries. Their outcome is unknown, not "not applied": a leader that lost its office with an
   * entry still uncommitted may have replicated it to the next leader, which committed it; the
   * snapshot then holds it, and nothing in the snapshot says which entry sits at that index.
   */
  private abandonWaitersThrough(index: number): void {
    for (const waiters of [this.waiters, this.confWaiters]) {
      for (const [waitingIndex, waiter] of waiters) {
        if (waitingIndex > index) continue;
        waiters.delete(waitingIndex);
        waiter.reject(
          new TidelogError(
            "unavailable",
            "a snapshot replaced the log before the write was confirmed; it may or may not have been applied",
          ),
        );
      }
    }
  }

  private changeSoftState(state: SoftState): void {
    if (state.state === "leader" && this.softStateValue.state !== "leader") this.leaderships++;
    if (state.state !== "leader" && this.softStateValue.state === "leader") this.shortenWaits();
    this.softStateValue = state;
    for (const listener of this.softStateListeners) listener(state);
  }

  private async maybeSnapshot(): Promise<void> {
    const { storage, stateMachine, snapshotEntries, snapshotBytes } = this.options;
    const last = storage.snapshot().metadata.index;
    if (this.appliedIndex <= last) return;
    if (
      this.appliedIndex - last < snapshotEntries &&
      this.appliedBytesSinceSnapshot < snapshotBytes &&
      stateMachine.wantsCheckpoint?.() !== true
    )
      return;
    const index = this.appliedIndex;
    const data = await stateMachine.checkpoint();
    await storage.createSnapshot(index, this.conf, data);
    this.appliedBytesSinceSnapshot = 0;
    // Drops whole segments of the Raft log; their files are deleted behind it (Log.truncatePrefix).
    const compactTo = this.compactionPoint(index);
    if (compactTo > storage.firstIndex()) await storage.compact(compactTo);
  }

  /**
   * The first index to keep behind a snapshot at `index`: at most `compactionKeepEntries`
   * entries, holding at most `compactionKeepBytes` bytes of data.
   */
  private compactionPoint(index: number): number {
    const { storage, compactionKeepEntries, compactionKeepBytes } = this.options;
    const byCount = index + 1 - compactionKeepEntries;
    const first = Math.max(storage.firstIndex(), byCount);
    if (first > index) return index;
    const kept = storage.entries(first, index + 1, Number.MAX_SAFE_INTEGER);
    let bytes = 0;
    for (let i = kept.length - 1; i >= 0; i--) {
      bytes += kept[i]!.data.length;
      if (bytes > compactionKeepBytes) return Math.min(index, kept[i]!.index + 1);
    }
    return first;
  }
}

/** A committed membership change, or undefined (logged) when the entry's bytes are not one. */
function decodeConfChangeOrSkip(entry: Entry): ConfChange | undefined {
  try {
    return decodeConfChange(entry.data);
  } catch (error) {
    logError(
      `committed entry ${entry.index} is not a membership change; applied as a no-op`,
      error,
    );
    return undefined;
  }
}

/** `entries` split into those below `index` and the rest (all below when `index` is undefined). */
function splitBefore(
  entries: readonly Entry[],
  index: number | undefined,
): [readonly Entry[], readonly Entry[]] {
  if (index === undefined) return [entries, []];
  let cut = 0;
  while (cut < entries.length && entries[cut]!.index < index) cut++;
  return [entries.slice(0, cut), entries.slice(cut)];
}

/** Waits for both, then fails with the first failure if either failed. */
async function settleBoth(first: Promise<unknown>, second: Promise<unknown>): Promise<void> {
  const [a, b] = await Promise.allSettled([first, second]);
  if (a.status === "rejected") throw a.reason;
  if (b.status === "rejected") throw b.reason;
}

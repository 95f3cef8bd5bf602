// The Raft state machine: one `step` handles terms for every message, then dispatches to
// stepLeader / stepCandidate / stepFollower. Time enters only through tick(). Output accumulates
// in `messages` and in the log's unstable and committed parts, collected by RawNode.ready().
//
// Invariants (asserted where they can break):
//   at most one vote per term: `vote` changes only together with a new term (reset) or from null;
//   a leader never overwrites or deletes its own entries (it only appends);
//   applied ≤ committed ≤ last index, and committed never decreases;
//   a leader commits by counting replicas only entries of its own term (figure 8).

import { assert } from "../assert.js";
import {
  applyToConfState,
  type ConfChange,
  confChangeProblem,
  decodeConfChange,
  encodeConfChange,
} from "./conf-change.js";
import type { RaftConfig } from "./config.js";
import { Progress } from "./progress.js";
import { ProgressTracker } from "./progress-tracker.js";
import { RaftLog } from "./raft-log.js";
import {
  type AppendMessage,
  type AppendResponseMessage,
  type ConfState,
  type Entry,
  type EntryType,
  entriesSizeBytes,
  type HardState,
  type HeartbeatMessage,
  isEmptySnapshot,
  type Message,
  type NodeId,
  type ProposeResult,
  type Snapshot,
  type SnapshotMessage,
  type SoftState,
  type StateType,
  type VoteMessage,
} from "./types.js";

type CampaignKind = "preElection" | "election" | "transfer";

/** A message before the core stamps its sender. */
type Outgoing = Message extends infer M ? (M extends Message ? Omit<M, "from"> : never) : never;

/** How far a node's term may rise in one tick, by messages and campaigns together. */
export const termJumpMax = 1_000_000;

export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId | null = null;
  state: StateType = "follower";
  lead: NodeId | null = null;
  readonly log: RaftLog;
  readonly tracker: ProgressTracker;
  /** Messages to send once the Ready that carries them is persisted. */
  messages: Message[] = [];
  /** The follower a leadership transfer is handing over to, or null. */
  leadTransferee: NodeId | null = null;
  /**
   * Index of the latest conf change entry this leader appended (or its last index at election):
   * no new conf change is accepted until the log is applied up to it.
   */
  pendingConfIndex = 0;
  /** Payload bytes appended by this leader and not yet handed out as committed. */
  uncommittedBytes = 0;
  electionElapsed = 0;
  /** How far the term may still rise before the next tick (see step). */
  private termRaiseLeft = termJumpMax;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;

  private readonly config: RaftConfig;

  constructor(config: RaftConfig) {
    this.config = config;
    this.id = config.id;
    this.log = new RaftLog(config.storage);
    this.tracker = new ProgressTracker({
      maxMessages: config.maxInflightMessages,
      maxBytes: config.maxInflightBytes,
    });
    const { hardState, confState } = config.storage.initialState();
    this.tracker.setConf(confState, this.log.lastIndex() + 1);
    if (hardState.term > 0 || hardState.vote !== null || hardState.commit > 0) {
      const commit = Math.max(hardState.commit, this.log.committed);
      assert(
        commit <= this.log.lastIndex(),
        `persisted commit ${commit} beyond last index ${this.log.lastIndex()}`,
      );
      this.log.commitTo(commit);
      this.term = hardState.term;
      this.vote = hardState.vote;
    }
    // The application restarts from its latest snapshot unless it says it kept more.
    const applied = config.applied > 0 ? config.applied : config.storage.snapshot().metadata.index;
    this.log.commitTo(Math.max(this.log.committed, applied));
    if (applied > this.log.applied) this.log.appliedTo(applied);
    this.becomeFollower(this.term, null);
  }

  get maxCommittedSizePerReadyBytes(): number {
    return this.config.maxCommittedSizePerReadyBytes;
  }

  get electionTimeout(): number {
    return this.config.electionTicks;
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  softState(): SoftState {
    return { lead: this.lead, state: this.state };
  }

  confState(): ConfState {
    return this.tracker.confState();
  }

  /** A node may campaign only as a voter of its current membership. */
  promotable(): boolean {
    return this.tracker.voters.has(this.id);
  }

  // ---- time ----

  tick(): void {
    this.termRaiseLeft = termJumpMax;
    if (this.state === "leader") this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed += 1;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup("election");
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed += 1;
    this.electionElapsed += 1;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.config.checkQuorum) {
        const active = this.tracker.quorumActive(this.id);
        // Start the next round: everyone must be heard from again.
        for (const [id, progress] of this.tracker.progress) progress.recentActive = id === this.id;
        if (!active) {
          this.becomeFollower(this.term, null);
          return;
        }
      }
      // A transfer that has not completed within an election timeout is abandoned.
      if (this.leadTransferee !== null) this.abortLeaderTransfer();
    }
    if (this.heartbeatElapsed >= this.config.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat();
    }
  }

  // ---- state transitions ----

  private reset(term: number): void {
    if (this.term !== term) {
      assert(term > this.term, `term must not decrease: ${this.term} → ${term}`);
      this.termRaiseLeft = Math.max(0, this.termRaiseLeft - (term - this.term));
      this.term = term;
      this.vote = null;
    }
    this.lead = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout =
      this.config.electionTicks + this.config.random.nextInt(this.config.electionTicks);
    this.abortLeaderTransfer();
    this.tracker.resetVotes();
    const lastIndex = this.log.lastIndex();
    for (const [id, old] of this.tracker.progress) {
      const fresh = new Progress(lastIndex + 1, old.isLearner, this.tracker.limits);
      if (id === this.id) fresh.match = lastIndex;
      this.tracker.progress.set(id, fresh);
    }
    this.pendingConfIndex = 0;
    this.uncommittedBytes = 0;
  }

  becomeFollower(term: number, lead: NodeId | null): void {
    this.reset(term);
    this.lead = lead;
    this.state = "follower";
  }

  private becomePreCandidate(): void {
    assert(this.state !== "leader", "a leader cannot become a pre-candidate");
    // Neither the term nor the vote changes: a pre-election must not disturb anyone.
    this.state = "preCandidate";
    this.tracker.resetVotes();
    this.lead = null;
  }

  private becomeCandidate(): void {
    assert(this.state !== "leader", "a leader cannot become a candidate");
    this.reset(this.term + 1);
    this.vote = this.id;
    this.state = "candidate";
  }

  private becomeLeader(): void {
    assert(this.state === "candidate", `only a candidate becomes leader, not a ${this.state}`);
    this.reset(this.term);
    this.lead = this.id;
    this.state = "leader";
    const self = this.tracker.progress.get(this.id);
    assert(self !== undefined, "a leader is a member");
    self.becomeReplicate();
    self.recentActive = true;
    // Conf changes wait until everything before this term is applied (see conf-change.ts).
    this.pendingConfIndex = this.log.lastIndex();
    // The empty entry lets the leader commit (and learn the commit of) earlier terms' entries.
    this.appendEntries([{ type: "normal", data: new Uint8Array(0) }]);
  }

  private abortLeaderTransfer(): void {
    this.leadTransferee = null;
  }

  // ---- elections ----

  /** Starts an election if this node may: a voter, not leader, with no conf change to apply. */
  hup(kind: "election" | "transfer"): void {
    if (this.state === "leader") return;
    if (!this.promotable()) return;
    if (this.hasUnappliedConfChanges()) return;
    this.campaign(kind === "election" && this.config.preVote ? "preElection" : kind);
  }

  private hasUnappliedConfChanges(): boolean {
    const lo = Math.max(this.log.applied + 1, this.log.firstIndex());
    const hi = this.log.committed + 1;
    if (lo >= hi) return false;
    return this.log
      .slice(lo, hi, Number.POSITIVE_INFINITY)
      .some((entry) => entry.type === "confChange");
  }

  private campaign(kind: CampaignKind): void {
    let type: VoteMessage["type"];
    let term: number;
    if (kind === "preElection") {
      this.becomePreCandidate();
      type = "preVote";
      term = this.term + 1; // the term we would campaign in; ours stays
    } else {
      this.becomeCandidate();
      type = "vote";
      term = this.term;
    }
    this.tracker.recordVote(this.id, true);
    if (this.tracker.tallyVotes().result === "won") {
      // A single voter: no one to ask.
      if (kind === "preElection") this.campaign("election");
      else this.becomeLeader();
      return;
    }
    const lastLogIndex = this.log.lastIndex();
    const lastLogTerm = this.log.lastTerm();
    for (const id of [...this.tracker.voters].sort()) {
      if (id === this.id) continue;
      this.send({ type, to: id, term, lastLogIndex, lastLogTerm, transfer: kind === "transfer" });
    }
  }

  // ---- the one entry point for messages ----

  step(message: Message): void {
    assert(message.to === this.id, `message for ${message.to} stepped into ${this.id}`);
    // A term this far ahead of ours comes from no election: terms rise by one per campaign, and
    // pre-vote keeps a cut-off node from raising its own. Taken, one forged message (peers are
    // not authenticated yet) moved every node to 2^53 - 1, past which no campaign can go: the
    // cluster stayed without a leader for good, restarts included. The bound holds per tick, not
    // per message: a batch of 50,000 forged heartbeats, each within it of the last, raised every
    // node's term by 5 * 10^10.
    if (message.term > this.term + this.termRaiseLeft) return;
    if (message.term > this.term) {
      if (message.type === "vote" || message.type === "preVote") {
        // Leader lease: having heard from a leader within the minimum election timeout, we
        // neither grant a vote nor move to the candidate's term (unless a transfer asks).
        const inLease =
          this.config.checkQuorum &&
          this.lead !== null &&
          this.electionElapsed < this.config.electionTicks;
        if (!message.transfer && inLease) return;
      }
      if (message.type === "preVote") {
        // A pre-vote never changes our term.
      } else if (message.type === "preVoteResponse" && !message.reject) {
        // Granted for the term we would campaign in; the term changes once we win.
      } else {
        const fromLeader =
          message.type === "append" || message.type === "heartbeat" || message.type === "snapshot";
        this.becomeFollower(message.term, fromLeader ? message.from : null);
      }
    } else if (message.term < this.term) {
      if (
        (this.config.checkQuorum || this.config.preVote) &&
        (message.type === "heartbeat" || message.type === "append")
      ) {
        // A stale leader (say, isolated and back) learns our term and steps down. Without this,
        // a node whose term rose in a partition could never rejoin under pre-vote.
        this.send({
          type: "appendResponse",
          to: message.from,
          term: this.term,
          index: 0,
          reject: false,
          hintIndex: 0,
          hintTerm: 0,
        });
      } else if (message.type === "preVote") {
        this.send({ type: "preVoteResponse", to: message.from, term: this.term, reject: true });
      }
      return;
    }

    if (message.type === "vote" || message.type === "preVote") {
      this.handleVoteRequest(message);
      return;
    }
    switch (this.state) {
      case "leader":
        this.stepLeader(message);
        return;
      case "candidate":
      case "preCandidate":
        this.stepCandidate(message);
        return;
      case "follower":
        this.stepFollower(message);
        return;
    }
  }

  private handleVoteRequest(message: VoteMessage): void {
    const responseType = message.type === "vote" ? "voteResponse" : "preVoteResponse";
    const canVote =
      this.vote === message.from ||
      (this.vote === null && this.lead === null) ||
      (message.type === "preVote" && message.term > this.term);
    if (canVote && this.log.isUpToDate(message.lastLogIndex, message.lastLogTerm)) {
      // Granted: answer in the term of the request so the candidate counts it.
      this.send({ type: responseType, to: message.from, term: message.term, reject: false });
      if (message.type === "vote") {
        assert(
          this.vote === null || this.vote === message.from,
          `second vote in term ${this.term}: ${this.vote} then ${message.from}`,
        );
        this.electionElapsed = 0;
        this.vote = message.from;
      }
    } else {
      this.send({ type: responseType, to: message.from, term: this.term, reject: true });
    }
  }

  private stepLeader(message: Message): void {
    if (message.type === "append" || message.type === "heartbeat" || message.type === "snapshot") {
      assert(false, `two leaders in term ${this.term}: ${this.id} and ${message.from}`);
    }
    const progress = this.tracker.progress.get(message.from);
    if (progress === undefined) return; // not (or no longer) a member
    switch (message.type) {
      case "appendResponse":
        this.handleAppendResponse(message, progress);
        return;
      case "heartbeatResponse":
        progress.recentActive = true;
        progress.msgAppFlowPaused = false;
        // Even a follower with full inflights gets an (empty) append: if every inflight message
        // was lost, its answer (accept or reject) is what frees the flow again.
        if (progress.match < this.log.lastIndex() || progress.state === "probe") {
          this.maybeSendAppend(message.from, true);
        }
        return;
      default:
        return;
    }
  }

  private handleAppendResponse(message: AppendResponseMessage, progress: Progress): void {
    progress.recentActive = true;
    if (message.reject) {
      let nextProbe = message.hintIndex;
      if (message.hintTerm > 0) {
        // Skip every entry of ours with a term above the follower's hint term in one step.
        nextProbe = this.log.findConflictByTerm(message.hintIndex, message.hintTerm).index;
      }
      if (progress.maybeDecrTo(message.index, nextProbe)) {
        if (progress.state === "replicate") progress.becomeProbe();
        this.maybeSendAppend(message.from, true);
      }
      return;
    }
    // Past our own log: never sent by us, so never held because of us. A follower cannot hold
    // what the leader does not (an outside probe's forged snapshot at index 100,000 made a joiner
    // a voter the leader counted toward every commit up to there).
    if (message.index > this.log.lastIndex()) return;
    const wasPaused = progress.isPaused();
    const updated = progress.maybeUpdate(message.index);
    if (!updated && !(progress.match === message.index && progress.state === "probe")) return;
    if (progress.state === "probe") {
      progress.becomeReplicate();
    } else if (progress.state === "snapshot" && progress.match + 1 >= this.log.firstIndex()) {
      // The follower caught up to where our log can continue from (by our snapshot or not).
      progress.becomeProbe();
      progress.becomeReplicate();
    } else if (progress.state === "replicate") {
      progress.inflights.freeLE(message.index);
    }
    if (this.maybeCommit()) {
      this.bcastAppend();
    } else if (wasPaused) {
      this.maybeSendAppend(message.from, true);
    }
    // Fill the pipeline; each send either carries entries or pauses, so this is bounded.
    for (let sent = 0; sent < this.config.maxInflightMessages; sent++) {
      if (!this.maybeSendAppend(message.from, false)) break;
    }
    if (message.from === this.leadTransferee && progress.match === this.log.lastIndex()) {
      this.send({ type: "timeoutNow", to: message.from, term: this.term });
    }
  }

  private stepCandidate(message: Message): void {
    switch (message.type) {
      case "append":
        this.becomeFollower(message.term, message.from);
        this.handleAppend(message);
        return;
      case "heartbeat":
        this.becomeFollower(message.term, message.from);
        this.handleHeartbeat(message);
        return;
      case "snapshot":
        this.becomeFollower(message.term, message.from);
        this.handleSnapshot(message);
        return;
      case "voteResponse":
      case "preVoteResponse": {
        const expected = this.state === "preCandidate" ? "preVoteResponse" : "voteResponse";
        if (message.type !== expected) return;
        this.tracker.recordVote(message.from, !message.reject);
        const { result } = this.tracker.tallyVotes();
        if (result === "won") {
          if (this.state === "preCandidate") {
            this.campaign("election");
          } else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (result === "lost") {
          this.becomeFollower(this.term, null);
        }
        return;
      }
      default:
        return;
    }
  }

  private stepFollower(message: Message): void {
    switch (message.type) {
      case "append":
        this.electionElapsed = 0;
        this.lead = message.from;
        this.handleAppend(message);
        return;
      case "heartbeat":
        this.electionElapsed = 0;
        this.lead = message.from;
        this.handleHeartbeat(message);
        return;
      case "snapshot":
        this.electionElapsed = 0;
        this.lead = message.from;
        this.handleSnapshot(message);
        return;
      case "timeoutNow":
        // Leadership transfer: campaign at once, skipping pre-vote, past the voters' lease.
        this.hup("transfer");
        return;
      default:
        return;
    }
  }

  // ---- follower side of replication ----

  private handleAppend(message: AppendMessage): void {
    if (message.prevLogIndex < this.log.committed) {
      // Already committed here, hence identical to the leader's log up to our commit.
      this.sendAppendResponse(message.from, this.log.committed);
      return;
    }
    const lastNewIndex = this.log.maybeAppend(
      message.prevLogIndex,
      message.prevLogTerm,
      message.commit,
      message.entries,
    );
    if (lastNewIndex !== undefined) {
      this.sendAppendResponse(message.from, lastNewIndex);
      return;
    }
    const hint = this.log.findConflictByTerm(
      Math.min(message.prevLogIndex, this.log.lastIndex()),
      message.prevLogTerm,
    );
    this.send({
      type: "appendResponse",
      to: message.from,
      term: this.term,
      index: message.prevLogIndex,
      reject: true,
      hintIndex: hint.index,
      hintTerm: hint.term,
    });
  }

  private handleHeartbeat(message: HeartbeatMessage): void {
    // The leader sends min(our match, its commit): we hold that much (acknowledged = persisted).
    // A commit past our log is no leader's (a forged or corrupted message): dropped, since
    // committing up to our own last index could commit entries that are not the leader's.
    if (message.commit > this.log.lastIndex()) return;
    this.log.commitTo(message.commit);
    this.send({ type: "heartbeatResponse", to: message.from, term: this.term });
  }

  private handleSnapshot(message: SnapshotMessage): void {
    if (this.restore(message.snapshot)) {
      this.sendAppendResponse(message.from, this.log.lastIndex());
    } else {
      this.sendAppendResponse(message.from, this.log.committed);
    }
  }

  /** Installs a leader's snapshot unless we already hold what it covers. */
  private restore(snapshot: Snapshot): boolean {
    const { index, term, confState } = snapshot.metadata;
    if (index <= this.log.committed) return false;
    if (this.log.matchTerm(index, term)) {
      // Our log already holds the snapshot's last entry: only the commit moves.
      this.log.commitTo(index);
      return false;
    }
    this.log.restore(snapshot);
    this.tracker.setConf(confState, this.log.lastIndex() + 1);
    return true;
  }

  private sendAppendResponse(to: NodeId, index: number): void {
    this.send({
      type: "appendResponse",
      to,
      term: this.term,
      index,
      reject: false,
      hintIndex: 0,
      hintTerm: 0,
    });
  }

  // ---- leader side of replication ----

  private maybeCommit(): boolean {
    return this.log.maybeCommit(this.tracker.committed(), this.term);
  }

  private bcastAppend(): void {
    for (const id of this.tracker.progress.keys()) {
      if (id !== this.id) this.maybeSendAppend(id, true);
    }
  }

  private bcastHeartbeat(): void {
    for (const [id, progress] of this.tracker.progress) {
      if (id === this.id) continue;
      // Never more than the follower is known to hold: it may not have the rest yet.
      const commit = Math.min(progress.match, this.log.committed);
      this.send({ type: "heartbeat", to: id, term: this.term, commit });
    }
  }

  /**
   * Sends the entries `to` lacks (or, with sendIfEmpty, an empty append carrying the commit),
   * or a snapshot when they are compacted. Returns whether a message went out.
   */
  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const progress = this.tracker.progress.get(to);
    assert(progress !== undefined, `no progress for ${to}`);
    if (progress.isPaused()) return false;
    const prevLogIndex = progress.next - 1;
    const prevLogTerm = this.log.term(prevLogIndex);
    if (prevLogTerm === undefined) return this.maybeSendSnapshot(to, progress);
    let entries: Entry[] = [];
    // With full inflights, only an empty append goes out (see the heartbeat response).
    if (progress.state !== "replicate" || !progress.inflights.full()) {
      const found = this.log.entriesFrom(progress.next, this.config.maxSizePerMessageBytes);
      if (found === undefined) return this.maybeSendSnapshot(to, progress);
      entries = found;
    }
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send({
      type: "append",
      to,
      term: this.term,
      prevLogIndex,
      prevLogTerm,
      entries,
      commit: this.log.committed,
    });
    progress.sentEntries(entries.length, entriesSizeBytes(entries));
    return true;
  }

  private maybeSendSnapshot(to: NodeId, progress: Progress): boolean {
    // Only to a follower heard from recently: a snapshot is expensive to send into the void.
    if (!progress.recentActive) return false;
    const snapshot = this.log.snapshot();
    assert(!isEmptySnapshot(snapshot), "a compacted log always has a snapshot");
    this.send({ type: "snapshot", to, term: this.term, snapshot });
    progress.becomeSnapshot(snapshot.metadata.index);
    return true;
  }

  /** Appends new entries as leader: assigns index and term, counts them for ourselves. */
  private appendEntries(entries: readonly { type: EntryType; data: Uint8Array }[]): Entry[] {
    let index = this.log.lastIndex();
    const stamped = entries.map((entry) => ({
      index: ++index,
      term: this.term,
      type: entry.type,
      data: entry.data,
    }));
    for (const entry of stamped) this.uncommittedBytes += entry.data.byteLength;
    const lastIndex = this.log.append(stamped);
    this.tracker.progress.get(this.id)?.maybeUpdate(lastIndex);
    this.maybeCommit();
    return stamped;
  }

  // ---- inputs from the application ----

  propose(items: readonly { type: EntryType; data: Uint8Array }[]): ProposeResult {
    assert(items.length > 0, "propose at least one entry");
    if (this.state !== "leader") return { accepted: false, reason: "notLeader" };
    if (this.leadTransferee !== null) {
      return { accepted: false, reason: "leadershipTransferInProgress" };
    }
    let bytes = 0;
    for (const item of items) bytes += item.data.byteLength;
    const limit = this.config.maxUncommittedEntriesBytes;
    // An oversized proposal still goes through when nothing is uncommitted, or it never would.
    if (limit > 0 && this.uncommittedBytes > 0 && this.uncommittedBytes + bytes > limit) {
      return { accepted: false, reason: "uncommittedBytesExceeded" };
    }
    const confChanges = items.filter((item) => item.type === "confChange");
    if (confChanges.length > 0) {
      if (confChanges.length > 1 || this.pendingConfIndex > this.log.applied) {
        return { accepted: false, reason: "confChangePending" };
      }
      const change = decodeConfChange(confChanges[0]!.data);
      const problem = confChangeProblem(this.tracker.confState(), change);
      if (problem !== undefined) {
        return { accepted: false, reason: "invalidConfChange", problem };
      }
    }
    const appended = this.appendEntries(items);
    for (const entry of appended) {
      if (entry.type === "confChange") this.pendingConfIndex = entry.index;
    }
    this.bcastAppend();
    return {
      accepted: true,
      firstIndex: appended[0]!.index,
      lastIndex: appended[appended.length - 1]!.index,
      term: this.term,
    };
  }

  proposeConfChange(change: ConfChange): ProposeResult {
    return this.propose([{ type: "confChange", data: encodeConfChange(change) }]);
  }

  /** The application applied a committed conf change entry: the membership changes now. */
  applyConfChange(change: ConfChange): ConfState {
    const conf = applyToConfState(this.tracker.confState(), change);
    this.tracker.setConf(conf, this.log.lastIndex() + 1);
    if (this.state !== "leader") return conf;
    if (!this.tracker.voters.has(this.id)) {
      // Removed: the change is committed (it is being applied), so stepping down loses nothing.
      // Hand over to the most up-to-date voter, which would otherwise wait out its lease.
      const successor = this.mostUpToDateVoter();
      this.becomeFollower(this.term, null);
      if (successor !== undefined)
        this.send({ type: "timeoutNow", to: successor, term: this.term });
      return conf;
    }
    // The quorum may have shrunk, and new members need their first append.
    if (this.maybeCommit()) {
      this.bcastAppend();
    } else {
      for (const id of this.tracker.progress.keys()) {
        if (id !== this.id) this.maybeSendAppend(id, false);
      }
    }
    if (this.leadTransferee !== null && !this.tracker.voters.has(this.leadTransferee)) {
      this.abortLeaderTransfer();
    }
    return conf;
  }

  /** The voter other than us holding our whole log (lowest id on ties), if any. */
  private mostUpToDateVoter(): NodeId | undefined {
    const lastIndex = this.log.lastIndex();
    return [...this.tracker.voters]
      .sort()
      .find((id) => id !== this.id && this.tracker.progress.get(id)?.match === lastIndex);
  }

  /** Hands leadership to `to`; while it is under way, proposals are refused. */
  transferLeadership(to: NodeId): boolean {
    if (this.state !== "leader") return false;
    const progress = this.tracker.progress.get(to);
    if (progress === undefined || progress.isLearner) return false;
    if (this.leadTransferee === to) return true;
    this.abortLeaderTransfer();
    if (to === this.id) return false;
    // The transfer must complete within one election timeout.
    this.electionElapsed = 0;
    this.leadTransferee = to;
    if (progress.match === this.log.lastIndex()) {
      this.send({ type: "timeoutNow", to, term: this.term });
    } else {
      this.maybeSendAppend(to, true);
    }
    return true;
  }

  snapshotStatus(id: NodeId, ok: boolean): void {
    if (this.state !== "leader") return;
    const progress = this.tracker.progress.get(id);
    if (progress === undefined || progress.state !== "snapshot") return;
    if (!ok) progress.pendingSnapshot = 0;
    progress.becomeProbe();
    // Wait for a heartbeat response before probing again.
    progress.msgAppFlowPaused = true;
  }

  reportUnreachable(id: NodeId): void {
    if (this.state !== "leader") return;
    const progress = this.tracker.progress.get(id);
    if (progress?.state === "replicate") progress.becomeProbe();
  }

  /** Committed entries of `bytes` payload were handed to the application. */
  reduceUncommittedBytes(bytes: number): void {
    this.uncommittedBytes = Math.max(0, this.uncommittedBytes - bytes);
  }

  private send(message: Outgoing): void {
    assert(message.to !== this.id, "a node never sends to itself");
    this.messages.push({ ...message, from: this.id } as Message);
  }
}

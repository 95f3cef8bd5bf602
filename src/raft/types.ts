// The data the Raft core exchanges with its driver: log entries, persistent state, snapshots and
// messages. Everything is a plain object with a `type` discriminant so the driver can map it onto
// protobuf one field at a time. Indexes and terms are numbers: they stay below 2^53.

/** A node's identity, unique within a cluster and never reused. */
export type NodeId = string;

/** What an entry carries. `confChange` entries hold an encoded ConfChange (see conf-change.ts). */
export type EntryType = "normal" | "confChange";

export interface Entry {
  /** Position in the log, from 1. */
  index: number;
  /** Term of the leader that created the entry. */
  term: number;
  type: EntryType;
  /** Opaque to Raft for `normal` entries; empty for the entry a new leader appends. */
  data: Uint8Array;
}

/** The state a node must persist (fsync) before it sends the messages of the same Ready. */
export interface HardState {
  term: number;
  /** The candidate this node voted for in `term`, or null. */
  vote: NodeId | null;
  /** Highest index known committed. Persisting it is an optimisation: it may lag. */
  commit: number;
}

/** The membership a snapshot or the applied log prefix describes. Ids are sorted. */
export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
}

export interface SnapshotMetadata {
  /** Last index covered by the snapshot. */
  index: number;
  /** Term of the entry at `index`. */
  term: number;
  /** Membership as of `index`. */
  confState: ConfState;
}

/**
 * A snapshot as the core sees it: metadata plus an opaque payload. The payload may be the state
 * itself or a handle the driver resolves; streaming and chunking the real content between nodes
 * is the transport's job, the core only hands the snapshot over whole.
 */
export interface Snapshot {
  metadata: SnapshotMetadata;
  data: Uint8Array;
}

export type StateType = "follower" | "preCandidate" | "candidate" | "leader";

/** Volatile state worth reporting to the driver (who leads, what this node is). */
export interface SoftState {
  lead: NodeId | null;
  state: StateType;
}

interface MessageHeader {
  from: NodeId;
  to: NodeId;
  /** Sender's term; for (pre-)vote requests and responses, the term the vote is for. */
  term: number;
}

/** AppendEntries: entries following (prevLogIndex, prevLogTerm), and the leader's commit. */
export interface AppendMessage extends MessageHeader {
  type: "append";
  prevLogIndex: number;
  prevLogTerm: number;
  entries: Entry[];
  commit: number;
}

/**
 * Answer to `append` and `snapshot`. Accepted: `index` is the highest index known to match the
 * leader. Rejected: `index` is the rejected prevLogIndex and (hintIndex, hintTerm) is the
 * follower's last entry at or below it whose term is at most the leader's prevLogTerm, so the
 * leader can skip a whole conflicting term per round trip.
 */
export interface AppendResponseMessage extends MessageHeader {
  type: "appendResponse";
  index: number;
  reject: boolean;
  hintIndex: number;
  hintTerm: number;
}

/** RequestVote and its pre-vote twin (which changes no term and no vote on either side). */
export interface VoteMessage extends MessageHeader {
  type: "vote" | "preVote";
  lastLogIndex: number;
  lastLogTerm: number;
  /** Set by a leadership transfer: voters ignore their leader lease. */
  transfer: boolean;
}

export interface VoteResponseMessage extends MessageHeader {
  type: "voteResponse" | "preVoteResponse";
  reject: boolean;
}

/** Keeps followers from campaigning and carries a commit index the follower is known to have. */
export interface HeartbeatMessage extends MessageHeader {
  type: "heartbeat";
  commit: number;
}

export interface HeartbeatResponseMessage extends MessageHeader {
  type: "heartbeatResponse";
}

/** InstallSnapshot, whole. The driver streams `snapshot.data` in chunks if it needs to. */
export interface SnapshotMessage extends MessageHeader {
  type: "snapshot";
  snapshot: Snapshot;
}

/** Leadership transfer: the leader tells an up-to-date follower to campaign now. */
export interface TimeoutNowMessage extends MessageHeader {
  type: "timeoutNow";
}

export type Message =
  | AppendMessage
  | AppendResponseMessage
  | VoteMessage
  | VoteResponseMessage
  | HeartbeatMessage
  | HeartbeatResponseMessage
  | SnapshotMessage
  | TimeoutNowMessage;

export type MessageType = Message["type"];

/** Why a proposal was not appended; the caller retries elsewhere or later. */
export type ProposalRejection =
  | "notLeader"
  | "leadershipTransferInProgress"
  | "confChangePending"
  | "invalidConfChange"
  | "uncommittedBytesExceeded";

/** Accepted: the proposal is entries [firstIndex, lastIndex] of `term`, not yet committed. */
export type ProposeResult =
  | { accepted: true; firstIndex: number; lastIndex: number; term: number }
  | {
      accepted: false;
      reason: ProposalRejection;
      /** What is wrong (invalidConfChange). */
      problem?: string;
    };

/** Bytes an entry counts for in size limits: payload plus a fixed framing estimate. */
export const ENTRY_OVERHEAD_BYTES = 16;

export function entrySizeBytes(entry: Entry): number {
  return entry.data.byteLength + ENTRY_OVERHEAD_BYTES;
}

export function entriesSizeBytes(entries: readonly Entry[]): number {
  let total = 0;
  for (const entry of entries) total += entrySizeBytes(entry);
  return total;
}

export const emptyConfState = (): ConfState => ({ voters: [], learners: [] });

export function isEmptySnapshot(snapshot: Snapshot): boolean {
  return snapshot.metadata.index === 0;
}

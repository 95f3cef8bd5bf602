// Options of a Raft node, their defaults (units last) and their validation.

import { assert } from "../assert.js";
import type { Random } from "./rng.js";
import type { Storage } from "./storage.js";
import type { NodeId } from "./types.js";

export interface RaftOptions {
  /** This node's id; must not be empty. */
  id: NodeId;
  /** The persisted log and hard state; the core only reads it. */
  storage: Storage;
  /** Draws randomized election timeouts. Seed it per node (createRandom) for reproducible runs. */
  random: Random;
  /**
   * Ticks without hearing from a leader before a follower campaigns; the actual timeout is drawn
   * uniformly from [electionTicks, 2 * electionTicks - 1] after every term change. Also the
   * check-quorum period and the leader lease.
   */
  electionTicks?: number;
  /** Ticks between a leader's heartbeats; less than electionTicks. */
  heartbeatTicks?: number;
  /**
   * Last index the application has applied, when its state survives restarts beyond the last
   * snapshot. Default: the snapshot index. Storage.initialState().confState must describe the
   * membership as of this index.
   */
  applied?: number;
  /** Run a pre-vote round before a real election (Raft thesis §9.6). Default true. */
  preVote?: boolean;
  /** A leader steps down without a quorum of recent contact; followers keep a lease. Default true. */
  checkQuorum?: boolean;
  /** Most entry bytes per append message (a single larger entry still goes alone). */
  maxSizePerMessageBytes?: number;
  /** Most append messages in flight to one follower in the replicate state. */
  maxInflightMessages?: number;
  /** Most entry bytes in flight to one follower; 0 for no byte limit. */
  maxInflightBytes?: number;
  /** Most bytes of committed entries handed out in one Ready. */
  maxCommittedSizePerReadyBytes?: number;
  /** Most payload bytes a leader holds uncommitted before it refuses proposals; 0: no limit. */
  maxUncommittedEntriesBytes?: number;
}

export type RaftConfig = Required<RaftOptions>;

export const DEFAULT_ELECTION_TICKS = 10;
export const DEFAULT_HEARTBEAT_TICKS = 1;
export const DEFAULT_MAX_SIZE_PER_MESSAGE_BYTES = 1024 * 1024;
export const DEFAULT_MAX_INFLIGHT_MESSAGES = 256;
export const DEFAULT_MAX_INFLIGHT_BYTES = 0;
export const DEFAULT_MAX_COMMITTED_SIZE_PER_READY_BYTES = 8 * 1024 * 1024;
export const DEFAULT_MAX_UNCOMMITTED_ENTRIES_BYTES = 64 * 1024 * 1024;

export function resolveConfig(options: RaftOptions): RaftConfig {
  const config: RaftConfig = {
    id: options.id,
    storage: options.storage,
    random: options.random,
    electionTicks: options.electionTicks ?? DEFAULT_ELECTION_TICKS,
    heartbeatTicks: options.heartbeatTicks ?? DEFAULT_HEARTBEAT_TICKS,
    applied: options.applied ?? 0,
    preVote: options.preVote ?? true,
    checkQuorum: options.checkQuorum ?? true,
    maxSizePerMessageBytes: options.maxSizePerMessageBytes ?? DEFAULT_MAX_SIZE_PER_MESSAGE_BYTES,
    maxInflightMessages: options.maxInflightMessages ?? DEFAULT_MAX_INFLIGHT_MESSAGES,
    maxInflightBytes: options.maxInflightBytes ?? DEFAULT_MAX_INFLIGHT_BYTES,
    maxCommittedSizePerReadyBytes:
      options.maxCommittedSizePerReadyBytes ?? DEFAULT_MAX_COMMITTED_SIZE_PER_READY_BYTES,
    maxUncommittedEntriesBytes:
      options.maxUncommittedEntriesBytes ?? DEFAULT_MAX_UNCOMMITTED_ENTRIES_BYTES,
  };
  assert(config.id !== "", "a node id must not be empty");
  assert(
    Number.isInteger(config.heartbeatTicks) && config.heartbeatTicks > 0,
    "heartbeatTicks ≥ 1",
  );
  assert(
    Number.isInteger(config.electionTicks) && config.electionTicks > config.heartbeatTicks,
    "electionTicks must exceed heartbeatTicks",
  );
  assert(config.applied >= 0, "applied must not be negative");
  assert(config.maxSizePerMessageBytes > 0, "maxSizePerMessageBytes must be positive");
  assert(config.maxInflightMessages >= 1, "maxInflightMessages must be at least 1");
  assert(config.maxInflightBytes >= 0, "maxInflightBytes must not be negative");
  assert(
    config.maxCommittedSizePerReadyBytes > 0,
    "maxCommittedSizePerReadyBytes must be positive",
  );
  assert(config.maxUncommittedEntriesBytes >= 0, "maxUncommittedEntriesBytes must not be negative");
  return config;
}

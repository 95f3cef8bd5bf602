// The public API of the Raft core. Everything a driver needs comes from here; the other files
// are internal and may change shape.

export {
  applyToConfState,
  type ConfChange,
  type ConfChangeType,
  confChangeProblem,
  decodeConfChange,
  encodeConfChange,
} from "./conf-change.js";
export {
  DEFAULT_ELECTION_TICKS,
  DEFAULT_HEARTBEAT_TICKS,
  DEFAULT_MAX_COMMITTED_SIZE_PER_READY_BYTES,
  DEFAULT_MAX_INFLIGHT_BYTES,
  DEFAULT_MAX_INFLIGHT_MESSAGES,
  DEFAULT_MAX_SIZE_PER_MESSAGE_BYTES,
  DEFAULT_MAX_UNCOMMITTED_ENTRIES_BYTES,
  type RaftOptions,
} from "./config.js";
export {
  describeEntries,
  describeEntry,
  describeHardState,
  describeMessage,
  describeReady,
} from "./describe.js";
export { MemoryStorage } from "./memory-storage.js";
export type { ProgressState } from "./progress.js";
export {
  type BasicStatus,
  type ProgressStatus,
  RawNode,
  type Ready,
  type Status,
} from "./rawnode.js";
export { createRandom, type Random } from "./rng.js";
export type { InitialState, Storage } from "./storage.js";
export * from "./types.js";

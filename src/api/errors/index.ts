// Connect errors with typed details (tidelog.v1 errors.proto) that tidelog servers answer and
// clients decode. The codes are part of the public contract: see ARCHITECTURE.md.
export { findNotLeader, type NotLeaderInit, notLeader } from "./not-leader.js";
export {
  findOffsetOutOfRange,
  type OffsetOutOfRangeInit,
  offsetOutOfRange,
} from "./offset-out-of-range.js";

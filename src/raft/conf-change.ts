// Membership changes, one server at a time (Raft thesis §4.1, as etcd-io/raft applies them).
//
// A change travels as a `confChange` entry. It takes effect on a node when the application
// applies that committed entry and calls RawNode.applyConfChange — not when it is appended.
// Safety comes from three rules the core enforces: the leader accepts a new change only once
// every earlier one is applied on it (one pending change at a time), a new leader accepts none
// until it has applied every entry its log held when it was elected, and no node campaigns
// while a committed change waits to be applied. Since every node applies the same committed sequence to the same starting
// membership, an invalid change (say, removing a non-member) is a no-op everywhere alike.

import type { ConfState, NodeId } from "./types.js";

export type ConfChangeType = "addVoter" | "addLearner" | "removeNode";

export interface ConfChange {
  /** addVoter on a learner promotes it; addLearner on a voter (a demotion) is refused. */
  type: ConfChangeType;
  nodeId: NodeId;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });
const CONF_CHANGE_TYPES: readonly ConfChangeType[] = ["addVoter", "addLearner", "removeNode"];

export function encodeConfChange(change: ConfChange): Uint8Array {
  return encoder.encode(JSON.stringify({ type: change.type, nodeId: change.nodeId }));
}

/** Decodes a confChange entry's data; throws on malformed data (it came through our own log). */
export function decodeConfChange(data: Uint8Array): ConfChange {
  const value: unknown = JSON.parse(decoder.decode(data));
  if (typeof value === "object" && value !== null) {
    const { type, nodeId } = value as Record<string, unknown>;
    if (CONF_CHANGE_TYPES.includes(type as ConfChangeType) && typeof nodeId === "string") {
      return { type: type as ConfChangeType, nodeId };
    }
  }
  throw new Error("malformed conf change entry");
}

/** Why a change cannot apply to `conf`, or undefined when it can. */
export function confChangeProblem(conf: ConfState, change: ConfChange): string | undefined {
  const isVoter = conf.voters.includes(change.nodeId);
  const isLearner = conf.learners.includes(change.nodeId);
  if (change.nodeId === "") return "empty node id";
  switch (change.type) {
    case "addVoter":
      return isVoter ? "already a voter" : undefined;
    case "addLearner":
      if (isVoter) return "cannot demote a voter";
      return isLearner ? "already a learner" : undefined;
    case "removeNode":
      if (!isVoter && !isLearner) return "not a member";
      if (isVoter && conf.voters.length === 1)
        return "cannot remove the only voter; join another first";
      return undefined;
  }
}

/** The membership after `change`; `conf` itself when the change is invalid (a no-op). */
export function applyToConfState(conf: ConfState, change: ConfChange): ConfState {
  if (confChangeProblem(conf, change) !== undefined) return conf;
  const voters = conf.voters.filter((id) => id !== change.nodeId);
  const learners = conf.learners.filter((id) => id !== change.nodeId);
  if (change.type === "addVoter") voters.push(change.nodeId);
  if (change.type === "addLearner") learners.push(change.nodeId);
  return { voters: voters.sort(), learners: learners.sort() };
}

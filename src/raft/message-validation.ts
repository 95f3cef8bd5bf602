// Checks a message received from the network before it reaches the state machine: a peer's bug
// or a corrupted frame must not break the core's invariants. Malformed messages are dropped.

import type { Entry, Message, NodeId } from "./types.js";

function isIndex(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

function entriesFollow(entries: readonly Entry[], prevLogIndex: number, term: number): boolean {
  let expected = prevLogIndex + 1;
  for (const entry of entries) {
    if (entry.index !== expected || !isIndex(entry.term) || entry.term > term) return false;
    if (!(entry.data instanceof Uint8Array)) return false;
    if (entry.type !== "normal" && entry.type !== "confChange") return false;
    expected += 1;
  }
  return true;
}

/** Why `message` cannot be stepped into node `self`, or undefined when it is well formed. */
export function messageProblem(message: Message, self: NodeId): string | undefined {
  if (message.to !== self) return `addressed to ${message.to}`;
  if (message.from === self || message.from === "") return `bad sender ${message.from}`;
  if (!isIndex(message.term)) return `bad term ${message.term}`;
  switch (message.type) {
    case "append":
      if (!isIndex(message.prevLogIndex) || !isIndex(message.prevLogTerm)) return "bad prev";
      if (!isIndex(message.commit)) return "bad commit";
      if (message.prevLogTerm > message.term) return "prev term above message term";
      if (!entriesFollow(message.entries, message.prevLogIndex, message.term)) {
        return "entries do not follow prev";
      }
      return undefined;
    case "appendResponse":
      if (!isIndex(message.index) || !isIndex(message.hintIndex) || !isIndex(message.hintTerm)) {
        return "bad index";
      }
      return undefined;
    case "vote":
    case "preVote":
      if (!isIndex(message.lastLogIndex) || !isIndex(message.lastLogTerm)) return "bad last log";
      return undefined;
    case "heartbeat":
      return isIndex(message.commit) ? undefined : "bad commit";
    case "snapshot": {
      const { index, term, confState } = message.snapshot.metadata;
      if (!isIndex(index) || index === 0 || !isIndex(term) || term > message.term) {
        return "bad snapshot metadata";
      }
      if (confState.voters.some((id) => confState.learners.includes(id))) {
        return "snapshot membership has a voter that is also a learner";
      }
      return undefined;
    }
    case "voteResponse":
    case "preVoteResponse":
    case "heartbeatResponse":
    case "timeoutNow":
      return undefined;
    default:
      return "unknown message type";
  }
}

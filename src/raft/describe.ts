// Human-readable one-line renderings of entries, messages and Ready, for logs and golden tests.
// An entry or log position is written index@term: "5@2" is index 5, term 2.

import { decodeConfChange } from "./conf-change.js";
import type { Ready } from "./rawnode.js";
import type { ConfState, Entry, HardState, Message, Snapshot, SoftState } from "./types.js";

const PRINTABLE = /^[\x20-\x7e]*$/;
const decoder = new TextDecoder();

export function describeData(data: Uint8Array): string {
  const text = decoder.decode(data);
  if (PRINTABLE.test(text)) return JSON.stringify(text);
  return `<${data.byteLength} bytes>`;
}

export function describeEntry(entry: Entry): string {
  if (entry.type === "confChange") {
    const change = decodeConfChange(entry.data);
    return `${entry.index}@${entry.term} confChange ${change.type} ${change.nodeId}`;
  }
  return `${entry.index}@${entry.term} ${describeData(entry.data)}`;
}

export function describeEntries(entries: readonly Entry[]): string {
  return `[${entries.map(describeEntry).join(", ")}]`;
}

export function describeConfState(conf: ConfState): string {
  const learners = conf.learners.length > 0 ? ` learners=(${conf.learners.join(",")})` : "";
  return `voters=(${conf.voters.join(",")})${learners}`;
}

export function describeSnapshot(snapshot: Snapshot): string {
  const { index, term, confState } = snapshot.metadata;
  return `snapshot ${index}@${term} ${describeConfState(confState)} data=${describeData(snapshot.data)}`;
}

export function describeHardState(state: HardState): string {
  return `term=${state.term} vote=${state.vote ?? "-"} commit=${state.commit}`;
}

export function describeSoftState(state: SoftState): string {
  return `lead=${state.lead ?? "-"} state=${state.state}`;
}

export function describeMessage(message: Message): string {
  const head = `${message.from}->${message.to} ${message.type} term=${message.term}`;
  switch (message.type) {
    case "append": {
      const entries = message.entries.length > 0 ? ` ${describeEntries(message.entries)}` : "";
      return `${head} prev=${message.prevLogIndex}@${message.prevLogTerm} commit=${message.commit}${entries}`;
    }
    case "appendResponse":
      return message.reject
        ? `${head} reject index=${message.index} hint=${message.hintIndex}@${message.hintTerm}`
        : `${head} index=${message.index}`;
    case "vote":
    case "preVote":
      return `${head} last=${message.lastLogIndex}@${message.lastLogTerm}${message.transfer ? " transfer" : ""}`;
    case "voteResponse":
    case "preVoteResponse":
      return message.reject ? `${head} reject` : head;
    case "heartbeat":
      return `${head} commit=${message.commit}`;
    case "snapshot":
      return `${head} ${describeSnapshot(message.snapshot)}`;
    case "heartbeatResponse":
    case "timeoutNow":
      return head;
  }
}

/** Multi-line rendering of a Ready, each line indented by `indent`. */
export function describeReady(ready: Ready, indent = ""): string {
  const lines: string[] = [];
  if (ready.softState) lines.push(describeSoftState(ready.softState));
  if (ready.hardState) lines.push(`HardState ${describeHardState(ready.hardState)}`);
  if (ready.snapshot) lines.push(`Snapshot ${describeSnapshot(ready.snapshot)}`);
  if (ready.entries.length > 0) lines.push(`Entries: ${describeEntries(ready.entries)}`);
  if (ready.committedEntries.length > 0) {
    lines.push(`CommittedEntries: ${describeEntries(ready.committedEntries)}`);
  }
  if (ready.messages.length > 0) {
    lines.push("Messages:");
    for (const message of ready.messages) lines.push(`  ${describeMessage(message)}`);
  }
  return lines.map((line) => indent + line).join("\n");
}

// Maps the core's messages onto tidelog.raft.v1 protobuf messages and back. Incoming messages
// come from the network: they are checked for shape before the core sees them.
import { create } from "@bufbuild/protobuf";
import { TidelogError } from "../../errors.js";
import {
  type Entry as EntryMessage,
  EntryType,
  MessageSchema,
  MessageType,
  type Message as ProtoMessage,
} from "../../gen/tidelog/raft/v1/raft_pb.js";
import type { Entry, Message } from "../index.js";
import { entryAsUnknownField } from "./entry-wire.js";

const toProtoType: { [type in Message["type"]]: MessageType } = {
  append: MessageType.APPEND,
  appendResponse: MessageType.APPEND_RESPONSE,
  vote: MessageType.VOTE,
  voteResponse: MessageType.VOTE_RESPONSE,
  preVote: MessageType.PRE_VOTE,
  preVoteResponse: MessageType.PRE_VOTE_RESPONSE,
  heartbeat: MessageType.HEARTBEAT,
  heartbeatResponse: MessageType.HEARTBEAT_RESPONSE,
  snapshot: MessageType.SNAPSHOT,
  timeoutNow: MessageType.TIMEOUT_NOW,
};

function entryFromProto(entry: EntryMessage): Entry {
  if (entry.type !== EntryType.NORMAL && entry.type !== EntryType.CONF_CHANGE)
    throw malformed("entry type");
  return {
    index: Number(entry.index),
    term: Number(entry.term),
    type: entry.type === EntryType.CONF_CHANGE ? "confChange" : "normal",
    data: entry.data,
  };
}

export function messageToProto(message: Message): ProtoMessage {
  const proto = create(MessageSchema, {
    type: toProtoType[message.type],
    from: message.from,
    to: message.to,
    term: BigInt(message.term),
  });
  switch (message.type) {
    case "append":
      proto.prevLogIndex = BigInt(message.prevLogIndex);
      proto.prevLogTerm = BigInt(message.prevLogTerm);
      proto.$unknown = message.entries.map(entryAsUnknownField);
      proto.commit = BigInt(message.commit);
      break;
    case "appendResponse":
      proto.index = BigInt(message.index);
      proto.reject = message.reject;
      proto.hintIndex = BigInt(message.hintIndex);
      proto.hintTerm = BigInt(message.hintTerm);
      break;
    case "vote":
    case "preVote":
      proto.lastLogIndex = BigInt(message.lastLogIndex);
      proto.lastLogTerm = BigInt(message.lastLogTerm);
      proto.transfer = message.transfer;
      break;
    case "voteResponse":
    case "preVoteResponse":
      proto.reject = message.reject;
      break;
    case "heartbeat":
      proto.commit = BigInt(message.commit);
      break;
    case "snapshot": {
      const { metadata, data } = message.snapshot;
      proto.snapshot = {
        $typeName: "tidelog.raft.v1.Snapshot",
        data,
        metadata: {
          $typeName: "tidelog.raft.v1.SnapshotMetadata",
          index: BigInt(metadata.index),
          term: BigInt(metadata.term),
          confState: {
            $typeName: "tidelog.raft.v1.ConfState",
            voters: [...metadata.confState.voters],
            learners: [...metadata.confState.learners],
          },
        },
      };
      break;
    }
    case "heartbeatResponse":
    case "timeoutNow":
      break;
  }
  return proto;
}

function malformed(what: string): TidelogError {
  return new TidelogError("invalid_argument", `malformed raft message: ${what}`);
}

export function messageFromProto(proto: ProtoMessage): Message {
  const header = { from: proto.from, to: proto.to, term: Number(proto.term) };
  if (header.from === "" || header.to === "") throw malformed("missing from/to");
  switch (proto.type) {
    case MessageType.APPEND:
      return {
        type: "append",
        ...header,
        prevLogIndex: Number(proto.prevLogIndex),
        prevLogTerm: Number(proto.prevLogTerm),
        entries: proto.entries.map(entryFromProto),
        commit: Number(proto.commit),
      };
    case MessageType.APPEND_RESPONSE:
      return {
        type: "appendResponse",
        ...header,
        index: Number(proto.index),
        reject: proto.reject,
        hintIndex: Number(proto.hintIndex),
        hintTerm: Number(proto.hintTerm),
      };
    case MessageType.VOTE:
    case MessageType.PRE_VOTE:
      return {
        type: proto.type === MessageType.VOTE ? "vote" : "preVote",
        ...header,
        lastLogIndex: Number(proto.lastLogIndex),
        lastLogTerm: Number(proto.lastLogTerm),
        transfer: proto.transfer,
      };
    case MessageType.VOTE_RESPONSE:
    case MessageType.PRE_VOTE_RESPONSE:
      return {
        type: proto.type === MessageType.VOTE_RESPONSE ? "voteResponse" : "preVoteResponse",
        ...header,
        reject: proto.reject,
      };
    case MessageType.HEARTBEAT:
      return { type: "heartbeat", ...header, commit: Number(proto.commit) };
    case MessageType.HEARTBEAT_RESPONSE:
      return { type: "heartbeatResponse", ...header };
    case MessageType.TIMEOUT_NOW:
      return { type: "timeoutNow", ...header };
    case MessageType.SNAPSHOT: {
      const snapshot = proto.snapshot;
      const metadata = snapshot?.metadata;
      if (snapshot === undefined || metadata === undefined)
        throw malformed("snapshot without metadata");
      return {
        type: "snapshot",
        ...header,
        snapshot: {
          data: snapshot.data,
          metadata: {
            index: Number(metadata.index),
            term: Number(metadata.term),
            confState: {
              voters: [...(metadata.confState?.voters ?? [])],
              learners: [...(metadata.confState?.learners ?? [])],
            },
          },
        },
      };
    }
    default:
      throw malformed(`type ${proto.type}`);
  }
}

// Encodes a Raft entry as a tidelog.raft.v1.Entry in protobuf binary, by hand, as the payload of
// an unknown field: AppendEntries messages carry their entries this way (field 7 of Message),
// which protobuf-es writes verbatim. Reflection-based encoding of each entry cost about 30 us on
// a busy leader, twice per entry with two followers; the wire is that of `repeated Entry`.
//
//   Entry { uint64 index = 1; uint64 term = 2; EntryType type = 3; bytes data = 4; }
import type { UnknownField } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import { varintBytes, writeVarint } from "../../protobuf-wire.js";
import type { Entry } from "../index.js";

const entriesFieldNumber = 7;
const entryTypeNormal = 1;
const entryTypeConfChange = 2;

/**
 * Encodings of the entries sent in the current task: the leader sends the same entry objects to
 * every follower in one go (PeerTransport.send encodes each peer's batch synchronously), so each
 * entry is encoded once, not once per follower. Cleared at the end of the task, so that nothing
 * is held beyond it.
 */
const encodedInThisTask = new Map<Entry, UnknownField>();
let clearScheduled = false;

export function entryAsUnknownField(entry: Entry): UnknownField {
  let field = encodedInThisTask.get(entry);
  if (field === undefined) {
    field = encodeEntryField(entry);
    encodedInThisTask.set(entry, field);
    if (!clearScheduled) {
      clearScheduled = true;
      queueMicrotask(() => {
        encodedInThisTask.clear();
        clearScheduled = false;
      });
    }
  }
  return field;
}

/** Bytes of an Entry message, without a length prefix. */
export function entryBodyBytes(entry: Entry): number {
  let size = 1 + 1; // type
  if (entry.index > 0) size += 1 + varintBytes(entry.index);
  if (entry.term > 0) size += 1 + varintBytes(entry.term);
  if (entry.data.length > 0) size += 1 + varintBytes(entry.data.length) + entry.data.length;
  return size;
}

/** Writes an Entry message (without a length prefix) at `at`; returns the position after it. */
export function writeEntryBody(buffer: Buffer, at: number, entry: Entry): number {
  if (entry.index > 0) {
    buffer[at++] = 0x08;
    at = writeVarint(buffer, at, entry.index);
  }
  if (entry.term > 0) {
    buffer[at++] = 0x10;
    at = writeVarint(buffer, at, entry.term);
  }
  buffer[at++] = 0x18;
  buffer[at++] = entry.type === "confChange" ? entryTypeConfChange : entryTypeNormal;
  if (entry.data.length > 0) {
    buffer[at++] = 0x22;
    at = writeVarint(buffer, at, entry.data.length);
    buffer.set(entry.data, at);
    at += entry.data.length;
  }
  return at;
}

function encodeEntryField(entry: Entry): UnknownField {
  const size = entryBodyBytes(entry);
  const buffer = Buffer.allocUnsafe(varintBytes(size) + size);
  const at = writeEntryBody(buffer, writeVarint(buffer, 0, size), entry);
  return {
    no: entriesFieldNumber,
    wireType: WireType.LengthDelimited,
    data: buffer.subarray(0, at),
  };
}

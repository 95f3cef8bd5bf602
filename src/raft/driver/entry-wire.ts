// Encodes a Raft entry as a tidelog.raft.v1.Entry in protobuf binary, by hand: the StepStream's
// frames (step-wire.ts) write entries with entryBodyBytes/writeEntryBody, and the Step call (which
// carries snapshots, through protobuf-es) takes them as unknown fields (field 7 of Message),
// written verbatim. Reflection-based encoding of each entry cost about 30 us on a busy leader.
//
//   Entry { uint64 index = 1; uint64 term = 2; EntryType type = 3; bytes data = 4; }
import type { UnknownField } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import { varintBytes, writeVarint } from "../../protobuf-wire.js";
import type { Entry } from "../index.js";

const entriesFieldNumber = 7;
const entryTypeNormal = 1;
const entryTypeConfChange = 2;

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

/** An entry as an unknown field of Message, for the generated encoder (the Step call). */
export function entryAsUnknownField(entry: Entry): UnknownField {
  const size = entryBodyBytes(entry);
  const buffer = Buffer.allocUnsafe(varintBytes(size) + size);
  const at = writeEntryBody(buffer, writeVarint(buffer, 0, size), entry);
  return {
    no: entriesFieldNumber,
    wireType: WireType.LengthDelimited,
    data: buffer.subarray(0, at),
  };
}

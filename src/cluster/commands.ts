// Commands of the replicated state machine, as Raft entry payloads.
//
//   append:  kind u8 (=1) · createIfMissing u8 · topicLength u16 · topic · count u32 ·
//            (recordLength u32 · stored record (record-codec.ts))*
//   others:  kind u8 (=2) · JSON
//
// An append carries records already encoded as they will be stored (time assigned by the
// leader), so every replica appends identical bytes and apply does no re-encoding.
import { assert } from "../assert.js";
import { TidelogError } from "../errors.js";
import type { TopicConfig } from "../log/topic-registry.js";
import { type RecordInput, storedRecordBytes, writeStoredRecord } from "./record-codec.js";

export type AdminCommand =
  | { op: "createTopic"; name: string; config: TopicConfig }
  | { op: "updateTopic"; name: string; config: TopicConfig }
  | { op: "deleteTopic"; name: string }
  | { op: "registerServer"; id: string; address: string }
  | { op: "unregisterServer"; id: string };

export interface AppendCommand {
  topic: string;
  createIfMissing: boolean;
  records: Buffer[];
}

const appendKind = 1;
const adminKind = 2;

export function encodeAppend(command: AppendCommand): Buffer {
  const topic = Buffer.from(command.topic, "utf8");
  assert(topic.length <= 0xffff, "topic name too long");
  let size = 1 + 1 + 2 + topic.length + 4;
  for (const record of command.records) size += 4 + record.length;
  const buffer = Buffer.allocUnsafe(size);
  let at = buffer.writeUInt8(appendKind, 0);
  at = buffer.writeUInt8(command.createIfMissing ? 1 : 0, at);
  at = buffer.writeUInt16LE(topic.length, at);
  at += topic.copy(buffer, at);
  at = buffer.writeUInt32LE(command.records.length, at);
  for (const record of command.records) {
    at = buffer.writeUInt32LE(record.length, at);
    at += record.copy(buffer, at);
  }
  return buffer;
}

/**
 * The same bytes as encodeAppend of the records encoded by encodeRecord, written in one buffer:
 * no buffer per record and one copy of each value fewer, on the leader's path of every write.
 */
export function encodeAppendRecords(
  topic: string,
  createIfMissing: boolean,
  records: readonly RecordInput[],
  timeMs: number,
  /** storedRecordBytes of each record, when the caller measured them already. */
  sizes: readonly number[] = records.map(storedRecordBytes),
): Buffer {
  const topicBytes = Buffer.byteLength(topic);
  assert(topicBytes <= 0xffff, "topic name too long");
  let size = 1 + 1 + 2 + topicBytes + 4;
  for (const bytes of sizes) size += 4 + bytes;
  const buffer = Buffer.allocUnsafe(size);
  buffer[0] = appendKind;
  buffer[1] = createIfMissing ? 1 : 0;
  let at = buffer.writeUInt16LE(topicBytes, 2);
  at += buffer.write(topic, at, "utf8");
  at = buffer.writeUInt32LE(records.length, at);
  for (const [i, record] of records.entries()) {
    at = buffer.writeUInt32LE(sizes[i]!, at);
    at = writeStoredRecord(buffer, at, record, timeMs);
  }
  assert(at === size, "append command size");
  return buffer;
}

export function encodeAdmin(command: AdminCommand): Buffer {
  return Buffer.concat([Buffer.from([adminKind]), Buffer.from(JSON.stringify(command), "utf8")]);
}

export type Command =
  | { kind: "append"; append: AppendCommand }
  | { kind: "admin"; admin: AdminCommand };

/** Decodes an entry written by encodeAppend/encodeAdmin; data_loss when it is not one. */
export function decodeCommand(data: Uint8Array): Command {
  const buffer = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const fail = (why: string) =>
    new TidelogError("data_loss", `malformed command in the raft log: ${why}`);
  if (buffer.length < 1) throw fail("empty");
  if (buffer[0] === adminKind)
    return { kind: "admin", admin: JSON.parse(buffer.toString("utf8", 1)) as AdminCommand };
  if (buffer[0] !== appendKind || buffer.length < 8) throw fail("unknown kind");
  const createIfMissing = buffer[1] === 1;
  const topicLength = buffer.readUInt16LE(2);
  let at = 4;
  const topic = buffer.toString("utf8", at, at + topicLength);
  at += topicLength;
  const count = buffer.readUInt32LE(at);
  at += 4;
  const records: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    if (at + 4 > buffer.length) throw fail("truncated");
    const length = buffer.readUInt32LE(at);
    at += 4;
    if (at + length > buffer.length) throw fail("truncated");
    records.push(buffer.subarray(at, at + length));
    at += length;
  }
  return { kind: "append", append: { topic, createIfMissing, records } };
}

// Commands of the replicated state machine, as Raft entry payloads.
//
//   append:  kind u8 (=3) · createIfMissing u8 · topicLength u16 · topic · count u32 · batch
//   others:  kind u8 (=2) · JSON
//
// An append carries its records exactly as the topic log will store them: each record encoded
// (record-codec.ts, time assigned by the leader), the whole laid out as one atomic batch of frames
// with their CRCs (log/frame.ts). Every replica writes those bytes as they are, so replicas hold
// identical topic logs and apply neither re-encodes nor copies records.
//
// Raft logs written before this layout hold appends of kind 1, still read:
//
//   kind u8 (=1) · createIfMissing u8 · topicLength u16 · topic · count u32 ·
//   (recordLength u32 · stored record)*
import { assert } from "../assert.js";
import { TidelogError } from "../errors.js";
import { isPeerAddress } from "../host-port.js";
import { batchBytes, batchLayoutFault, encodeBatch, writeBatch } from "../log/frame.js";
import {
  type TopicConfig,
  type TopicConfigField,
  topicConfigFields,
} from "../log/topic-registry.js";
import { type RecordInput, storedRecordBytes, writeStoredRecord } from "./record-codec.js";

export type AdminCommand =
  | { op: "createTopic"; name: string; config: TopicConfig }
  /**
   * `fields` (UpdateTopic's mask) are taken from `config` into the topic's configuration as it is
   * when the entry applies, so that updates of different fields in flight together all hold.
   * Absent: `config` replaces the whole configuration.
   */
  | { op: "updateTopic"; name: string; config: TopicConfig; fields?: TopicConfigField[] }
  | { op: "deleteTopic"; name: string }
  | { op: "registerServer"; id: string; address: string }
  | { op: "unregisterServer"; id: string };

export interface AppendCommand {
  topic: string;
  createIfMissing: boolean;
  /** The records as one batch of topic-log frames (Log.appendFrames). */
  frames: Buffer;
  /** How many records `frames` holds. */
  count: number;
}

const legacyAppendKind = 1;
const adminKind = 2;
const appendKind = 3;

/**
 * The append command for `records`, stored with time `timeMs`: each record encoded straight into
 * its frame of the command's one buffer.
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
  const headBytes = 1 + 1 + 2 + topicBytes + 4;
  const buffer = Buffer.allocUnsafe(headBytes + batchBytes(sizes));
  buffer[0] = appendKind;
  buffer[1] = createIfMissing ? 1 : 0;
  let at = buffer.writeUInt16LE(topicBytes, 2);
  at += buffer.write(topic, at, "utf8");
  at = buffer.writeUInt32LE(records.length, at);
  const end = writeBatch(buffer, at, sizes, (into, recordAt, i) =>
    writeStoredRecord(into, recordAt, records[i]!, timeMs),
  );
  assert(end === buffer.length, "append command size");
  return buffer;
}

export function encodeAdmin(command: AdminCommand): Buffer {
  return Buffer.concat([Buffer.from([adminKind]), Buffer.from(JSON.stringify(command), "utf8")]);
}

export type Command =
  | { kind: "append"; append: AppendCommand }
  | { kind: "admin"; admin: AdminCommand };

/** Decodes an entry written by encodeAppendRecords/encodeAdmin; data_loss when it is not one. */
/**
 * Whether applying the command in `data` may take room on disk or open files: records, and topic
 * creations. Everything else (topic updates and deletes, server registrations, the empty entry a
 * new leader appends) is a few bytes that a node short of room still takes, within its reserves:
 * a topic delete is how room is made. Anything not recognised counts as taking room.
 */
export function commandTakesRoom(data: Uint8Array): boolean {
  if (data.length === 0) return false;
  if (data[0] !== adminKind) return true;
  try {
    const command = decodeCommand(data);
    return command.kind !== "admin" || command.admin.op === "createTopic";
  } catch {
    return true;
  }
}

export function decodeCommand(data: Uint8Array): Command {
  const buffer = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const fail = (why: string) =>
    new TidelogError("data_loss", `malformed command in the raft log: ${why}`);
  if (buffer.length < 1) throw fail("empty");
  if (buffer[0] === adminKind) return { kind: "admin", admin: decodeAdmin(buffer, fail) };
  if ((buffer[0] !== appendKind && buffer[0] !== legacyAppendKind) || buffer.length < 8)
    throw fail("unknown kind");
  const createIfMissing = buffer[1] === 1;
  const topicLength = buffer.readUInt16LE(2);
  let at = 4;
  if (at + topicLength + 4 > buffer.length) throw fail("truncated");
  const topic = buffer.toString("utf8", at, at + topicLength);
  at += topicLength;
  const count = buffer.readUInt32LE(at);
  at += 4;
  if (buffer[0] === legacyAppendKind) {
    const frames = encodeBatch(legacyRecords(buffer, at, count, fail));
    return { kind: "append", append: { topic, createIfMissing, frames, count } };
  }
  const frames = buffer.subarray(at);
  const fault = batchLayoutFault(frames, count);
  if (fault !== undefined) throw fail(fault);
  return { kind: "append", append: { topic, createIfMissing, frames, count } };
}

/**
 * An admin command's JSON, checked for the fields its op needs (their values are checked where
 * they are used: topic names and configs by the registry, as for a request).
 */
function decodeAdmin(buffer: Buffer, fail: (why: string) => Error): AdminCommand {
  let value: unknown;
  try {
    value = JSON.parse(buffer.toString("utf8", 1));
  } catch {
    throw fail("an admin command that is not JSON");
  }
  const command = (typeof value === "object" && value !== null ? value : {}) as Record<
    string,
    unknown
  >;
  const strings = (...keys: string[]) => keys.every((key) => typeof command[key] === "string");
  const config = command.config as Record<string, unknown> | undefined;
  const hasConfig =
    typeof config === "object" &&
    config !== null &&
    topicConfigFields.every((key) => typeof config[key] === "number");
  const fields = command.fields;
  const fieldsValid =
    fields === undefined ||
    (Array.isArray(fields) &&
      fields.every((field) => topicConfigFields.includes(field as TopicConfigField)));
  switch (command.op) {
    case "createTopic":
      if (strings("name") && hasConfig) return command as AdminCommand;
      break;
    case "updateTopic":
      if (strings("name") && hasConfig && fieldsValid) return command as AdminCommand;
      break;
    case "deleteTopic":
      if (strings("name")) return command as AdminCommand;
      break;
    case "registerServer":
      if (strings("id", "address") && isPeerAddress(command.address as string))
        return command as AdminCommand;
      break;
    case "unregisterServer":
      if (strings("id")) return command as AdminCommand;
      break;
  }
  throw fail(`an admin command without the fields of ${JSON.stringify(command.op)}`);
}

/**
 * The topics that a deleteTopic command among `entries` deletes. Only admin commands are decoded
 * (appends are most of a log and never delete), and an entry that is not a command is skipped.
 */
export function topicsDeletedBy(entries: readonly { data: Uint8Array }[]): Set<string> {
  const deleted = new Set<string>();
  for (const entry of entries) {
    if (entry.data[0] !== adminKind) continue;
    try {
      const command = decodeCommand(entry.data);
      if (command.kind === "admin" && command.admin.op === "deleteTopic")
        deleted.add(command.admin.name);
    } catch {
      // Applied as a no-op (topic-state-machine.ts): it deletes nothing.
    }
  }
  return deleted;
}

/** The records of a kind-1 append, each length-prefixed, from `at`. */
function legacyRecords(
  buffer: Buffer,
  at: number,
  count: number,
  fail: (why: string) => Error,
): Buffer[] {
  if (count === 0) throw fail("no records");
  const records: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    if (at + 4 > buffer.length) throw fail("truncated");
    const length = buffer.readUInt32LE(at);
    at += 4;
    if (at + length > buffer.length) throw fail("truncated");
    records.push(buffer.subarray(at, at + length));
    at += length;
  }
  return records;
}

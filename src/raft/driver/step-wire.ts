// tidelog.raft.v1.StepRequest in protobuf binary, encoded and decoded by hand for the StepStream
// between peers (step-stream.ts sends; server/grpc-client-stream.ts receives, and
// cluster/raft-service.ts decodes). It carries the core's messages straight to and from the
// wire: no protobuf-es message objects, no reflection, one buffer per batch with the gRPC frame
// prefix in front. The wire is exactly that of the generated schema (proto/tidelog/raft/v1/raft.proto), so any gRPC client may still call the
// method; test/raft/step-wire.test.ts holds the two in agreement.
//
// Snapshots do not travel on the stream (they go by Step, whose answer reports the fetch), so
// neither direction handles Message.snapshot; a decoder meeting one refuses the batch.
import { TidelogError } from "../../errors.js";
import { grpcPrefixBytes, varintBytes, writeVarint } from "../../protobuf-wire.js";
import type { Entry, Message } from "../index.js";
import { entryBodyBytes, writeEntryBody } from "./entry-wire.js";

export interface StepBatch {
  clusterId: string;
  senderAddress: string;
  messages: Message[];
  /**
   * The sender drops appends carrying entries for want of disk space (refusing_entries): metadata
   * of the transport for the node that receives it, never seen by the Raft core.
   */
  refusingEntries: boolean;
}

const typeNumbers: { [type in Message["type"]]: number } = {
  append: 1,
  appendResponse: 2,
  vote: 3,
  voteResponse: 4,
  preVote: 5,
  preVoteResponse: 6,
  heartbeat: 7,
  heartbeatResponse: 8,
  snapshot: 9,
  timeoutNow: 10,
};

/**
 * Most bytes of StepRequest in one StepStream frame (a single larger message goes alone). A peer
 * refuses frames over its own request limit (readMaxBytes, 9 MiB by default) with
 * resource_exhausted: a leader that put a whole backlog in one frame (26 appends of 800 KiB for
 * a joining node) had every stream refused and its follower never caught up.
 */
export const stepFrameBytesMax = 4 * 1024 * 1024;

/**
 * Encodes a batch as gRPC frames of StepRequests within `bytesMax` each (a single larger message
 * goes alone), in order; none for no messages. Each message is sized once.
 */
export function encodeStepFrames(
  batch: StepBatch,
  allocate: (bytes: number) => Buffer = Buffer.allocUnsafe,
  bytesMax = stepFrameBytesMax,
): Buffer[] {
  const sizes = batch.messages.map(messageSize);
  const frames: Buffer[] = [];
  let start = 0;
  let runBytes = 0;
  for (let i = 0; i < sizes.length; i++) {
    const bytes = 1 + varintBytes(sizes[i]!) + sizes[i]!;
    if (i > start && runBytes + bytes > bytesMax) {
      frames.push(encodeRun(batch, start, i, sizes, allocate));
      start = i;
      runBytes = 0;
    }
    runBytes += bytes;
  }
  if (start < sizes.length) frames.push(encodeRun(batch, start, sizes.length, sizes, allocate));
  return frames;
}

/**
 * Encodes a batch as one gRPC frame: the 5-byte prefix, then the StepRequest, in memory from
 * `allocate`. Throws for a snapshot message (snapshots go by Step).
 */
export function encodeStepFrame(
  batch: StepBatch,
  allocate: (bytes: number) => Buffer = Buffer.allocUnsafe,
): Buffer {
  return encodeRun(batch, 0, batch.messages.length, batch.messages.map(messageSize), allocate);
}

/** The frame of messages [from, to) of `batch`, whose sizes are `sizes` (all of the batch's). */
function encodeRun(
  batch: StepBatch,
  from: number,
  to: number,
  sizes: readonly number[],
  allocate: (bytes: number) => Buffer,
): Buffer {
  let size =
    stringFieldSize(batch.clusterId) +
    stringFieldSize(batch.senderAddress) +
    (batch.refusingEntries ? 2 : 0);
  for (let i = from; i < to; i++) size += 1 + varintBytes(sizes[i]!) + sizes[i]!;
  const buffer = allocate(grpcPrefixBytes + size);
  buffer[0] = 0;
  buffer.writeUInt32BE(size, 1);
  let at = writeString(buffer, grpcPrefixBytes, 1, batch.clusterId);
  for (let i = from; i < to; i++) {
    buffer[at++] = 0x12;
    at = writeVarint(buffer, at, sizes[i]!);
    at = writeMessage(buffer, at, batch.messages[i]!);
  }
  at = writeString(buffer, at, 3, batch.senderAddress);
  if (batch.refusingEntries) {
    // Field 4 (refusing_entries), a varint: true. Every frame of a batch carries it.
    buffer[at++] = 4 << 3;
    buffer[at++] = 1;
  }
  if (at !== buffer.length) throw new Error(`step frame is ${at} bytes, expected ${buffer.length}`);
  return buffer;
}

function stringFieldSize(value: string): number {
  if (value === "") return 0;
  const bytes = Buffer.byteLength(value);
  return 1 + varintBytes(bytes) + bytes;
}

function varintFieldSize(value: number): number {
  return value === 0 ? 0 : 1 + varintBytes(value);
}

/** The fields each message type carries, as (field number, value) for the varint ones. */
function scalarFields(message: Message): [number, number][] {
  const fields: [number, number][] = [
    [1, typeNumbers[message.type]],
    [4, message.term],
  ];
  switch (message.type) {
    case "append":
      fields.push([5, message.prevLogIndex], [6, message.prevLogTerm], [8, message.commit]);
      break;
    case "appendResponse":
      fields.push(
        [9, message.index],
        [10, message.reject ? 1 : 0],
        [11, message.hintIndex],
        [12, message.hintTerm],
      );
      break;
    case "vote":
    case "preVote":
      fields.push(
        [13, message.lastLogIndex],
        [14, message.lastLogTerm],
        [15, message.transfer ? 1 : 0],
      );
      break;
    case "voteResponse":
    case "preVoteResponse":
      fields.push([10, message.reject ? 1 : 0]);
      break;
    case "heartbeat":
      fields.push([8, message.commit]);
      break;
    case "heartbeatResponse":
    case "timeoutNow":
      break;
    case "snapshot":
      throw new Error("snapshots go by Step, not on the StepStream");
  }
  return fields;
}

function messageSize(message: Message): number {
  let size = stringFieldSize(message.from) + stringFieldSize(message.to);
  for (const [, value] of scalarFields(message)) size += varintFieldSize(value);
  if (message.type === "append") {
    for (const entry of message.entries) {
      const bytes = entryBodyBytes(entry);
      size += 1 + varintBytes(bytes) + bytes;
    }
  }
  return size;
}

function writeMessage(buffer: Buffer, at: number, message: Message): number {
  // Field order is free in protobuf; decoders accept any.
  at = writeString(buffer, at, 2, message.from);
  at = writeString(buffer, at, 3, message.to);
  for (const [field, value] of scalarFields(message)) {
    if (value === 0) continue;
    buffer[at++] = field << 3;
    at = writeVarint(buffer, at, value);
  }
  if (message.type === "append")
    for (const entry of message.entries) {
      buffer[at++] = (7 << 3) | 2;
      at = writeEntryBody(buffer, writeVarint(buffer, at, entryBodyBytes(entry)), entry);
    }
  return at;
}

function writeString(buffer: Buffer, at: number, field: number, value: string): number {
  if (value === "") return at;
  buffer[at++] = (field << 3) | 2;
  at = writeVarint(buffer, at, Buffer.byteLength(value));
  return at + buffer.write(value, at, "utf8");
}

// Decoding --------------------------------------------------------------------------------------

function malformed(what: string): TidelogError {
  return new TidelogError("invalid_argument", `malformed raft message: ${what}`);
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** A cursor over protobuf binary; every read is bounds-checked. */
class WireReader {
  constructor(
    readonly bytes: Uint8Array,
    public at: number,
    readonly end: number,
  ) {}

  get done(): boolean {
    return this.at >= this.end;
  }

  /** A varint as a number; values above 2^53 - 1 are refused (no index or term gets there). */
  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.at >= this.end) throw malformed("truncated varint");
      const byte = this.bytes[this.at++]!;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (value > Number.MAX_SAFE_INTEGER) throw malformed("integer above 2^53");
        return value;
      }
      scale *= 128;
    }
    throw malformed("varint longer than 10 bytes");
  }

  /** A length-delimited field's bounds. */
  span(): { start: number; end: number } {
    const length = this.varint();
    const start = this.at;
    if (length > this.end - start) throw malformed("length past the end");
    this.at = start + length;
    return { start, end: this.at };
  }

  string(): string {
    const { start, end } = this.span();
    try {
      return utf8.decode(this.bytes.subarray(start, end));
    } catch {
      throw malformed("invalid UTF-8 in a string");
    }
  }

  /** Skips a field of an unknown number. Groups (wire types 3 and 4) are refused. */
  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.varint();
        return;
      case 1:
        this.advance(8);
        return;
      case 2:
        this.span();
        return;
      case 5:
        this.advance(4);
        return;
      default:
        throw malformed(`wire type ${wireType}`);
    }
  }

  private advance(bytes: number): void {
    if (bytes > this.end - this.at) throw malformed("truncated field");
    this.at += bytes;
  }
}

/** Reads a field key; returns [field number, wire type]. */
function key(reader: WireReader): [number, number] {
  const tag = reader.varint();
  if (tag > 0xffffffff) throw malformed("a tag above 2^32");
  const field = Math.floor(tag / 8);
  if (field === 0 || field > 0x1fffffff) throw malformed(`field number ${field}`);
  return [field, tag & 7];
}

function expect(wireType: number, wanted: number, field: string): void {
  if (wireType !== wanted) throw malformed(`wire type ${wireType} for ${field}`);
}

/**
 * The cluster id (field 1, as in every RaftService request) of a request's wire, read before
 * anything else is decoded: the first one, past whatever fields come before it (a sender writes
 * it first). Undefined when there is none, or the wire does not parse up to it.
 */
export function leadingClusterId(bytes: Uint8Array): string | undefined {
  const reader = new WireReader(bytes, 0, bytes.length);
  try {
    while (!reader.done) {
      const [field, wireType] = key(reader);
      if (field === 1 && wireType === 2) return reader.string();
      reader.skip(wireType);
    }
  } catch {
    // Malformed before a cluster id: none.
  }
  return undefined;
}

/**
 * Decodes a StepRequest (without its gRPC prefix). Entry data are views into `bytes`. Message
 * shapes are checked as message-codec.ts checks them for the generated decoder.
 */
export function decodeStepRequest(bytes: Uint8Array): StepBatch {
  const reader = new WireReader(bytes, 0, bytes.length);
  const batch: StepBatch = {
    clusterId: "",
    senderAddress: "",
    messages: [],
    refusingEntries: false,
  };
  while (!reader.done) {
    const [field, wireType] = key(reader);
    if (field === 1) {
      expect(wireType, 2, "cluster_id");
      batch.clusterId = reader.string();
    } else if (field === 2) {
      expect(wireType, 2, "messages");
      const { start, end } = reader.span();
      batch.messages.push(decodeMessage(new WireReader(bytes, start, end)));
    } else if (field === 3) {
      expect(wireType, 2, "sender_address");
      batch.senderAddress = reader.string();
    } else if (field === 4) {
      expect(wireType, 0, "refusing_entries");
      batch.refusingEntries = reader.varint() !== 0;
    } else {
      reader.skip(wireType);
    }
  }
  return batch;
}

const typesByNumber = new Map<number, Message["type"]>(
  Object.entries(typeNumbers).map(([type, number]) => [number, type as Message["type"]]),
);

function decodeMessage(reader: WireReader): Message {
  const varints = new Array<number>(16).fill(0);
  let from = "";
  let to = "";
  const entries: Entry[] = [];
  while (!reader.done) {
    const [field, wireType] = key(reader);
    if (field === 2 || field === 3) {
      expect(wireType, 2, field === 2 ? "from" : "to");
      if (field === 2) from = reader.string();
      else to = reader.string();
    } else if (field === 7) {
      expect(wireType, 2, "entries");
      const { start, end } = reader.span();
      entries.push(decodeEntry(new WireReader(reader.bytes, start, end)));
    } else if (field === 16) {
      throw malformed("a snapshot on the StepStream (snapshots go by Step)");
    } else if (field < 16) {
      expect(wireType, 0, `field ${field}`);
      varints[field] = reader.varint();
    } else {
      reader.skip(wireType);
    }
  }
  if (from === "" || to === "") throw malformed("missing from/to");
  const type = typesByNumber.get(varints[1]!);
  const header = { from, to, term: varints[4]! };
  switch (type) {
    case "append":
      return {
        type,
        ...header,
        prevLogIndex: varints[5]!,
        prevLogTerm: varints[6]!,
        entries,
        commit: varints[8]!,
      };
    case "appendResponse":
      return {
        type,
        ...header,
        index: varints[9]!,
        reject: varints[10] !== 0,
        hintIndex: varints[11]!,
        hintTerm: varints[12]!,
      };
    case "vote":
    case "preVote":
      return {
        type,
        ...header,
        lastLogIndex: varints[13]!,
        lastLogTerm: varints[14]!,
        transfer: varints[15] !== 0,
      };
    case "voteResponse":
    case "preVoteResponse":
      return { type, ...header, reject: varints[10] !== 0 };
    case "heartbeat":
      return { type, ...header, commit: varints[8]! };
    case "heartbeatResponse":
    case "timeoutNow":
      return { type, ...header };
    case "snapshot":
      throw malformed("a snapshot on the StepStream (snapshots go by Step)");
    default:
      throw malformed(`type ${varints[1]}`);
  }
}

function decodeEntry(reader: WireReader): Entry {
  let index = 0;
  let term = 0;
  let type = 0;
  let data: Uint8Array = new Uint8Array(0);
  while (!reader.done) {
    const [field, wireType] = key(reader);
    if (field === 4) {
      expect(wireType, 2, "entry data");
      const { start, end } = reader.span();
      data = reader.bytes.subarray(start, end);
    } else if (field <= 3) {
      expect(wireType, 0, `entry field ${field}`);
      const value = reader.varint();
      if (field === 1) index = value;
      else if (field === 2) term = value;
      else type = value;
    } else {
      reader.skip(wireType);
    }
  }
  if (type !== 1 && type !== 2) throw malformed("entry type");
  return { index, term, type: type === 2 ? "confChange" : "normal", data };
}

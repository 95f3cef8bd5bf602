import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { type OffsetOutOfRange, OffsetOutOfRangeSchema } from "../../gen/tidelog/v1/errors_pb.js";

/** Where a topic's retained records are when a read asks for an offset outside them. */
export interface OffsetOutOfRangeInit {
  /** The topic, with "" already resolved to "default". */
  topic: string;
  /** The offset the request asked for. */
  requested: bigint;
  /** The lowest retained offset; equal to `next` when the topic retains no record. */
  lowest: bigint;
  /** The offset the next produced record will get. */
  next: bigint;
}

/**
 * The error Consume and ConsumeStream answer when the requested offset is below the lowest
 * retained offset or past the next one: code OUT_OF_RANGE with an `OffsetOutOfRange` detail, so
 * that a client can restart from `lowest` or `next` without parsing the message.
 */
export function offsetOutOfRange(init: OffsetOutOfRangeInit): ConnectError {
  const { topic, requested, lowest, next } = init;
  if (lowest > next || (requested >= lowest && requested < next)) {
    // A programmer error: the caller decided wrongly that the offset is out of range. (The next
    // offset itself is accepted: a read that needs a record there may call it out of range.)
    throw new Error(`offsetOutOfRange: ${requested} is a retained offset of [${lowest}, ${next})`);
  }
  const where =
    requested < lowest
      ? `below the lowest retained offset ${lowest}`
      : requested === next
        ? `at the next offset ${next}, not written yet`
        : `past the next offset ${next}`;
  const message = `offset ${requested} of topic "${topic}" is out of range: ${where} (retained: from ${lowest} up to ${next}, exclusive)`;
  const detail: OffsetOutOfRange = create(OffsetOutOfRangeSchema, {
    topic,
    requested,
    lowest,
    next,
  });
  return new ConnectError(message, Code.OutOfRange, undefined, [
    { desc: OffsetOutOfRangeSchema, value: detail },
  ]);
}

/**
 * The `OffsetOutOfRange` detail of an error a client received, or undefined when the error does
 * not carry one (including when `error` is not an error at all).
 */
export function findOffsetOutOfRange(error: unknown): OffsetOutOfRange | undefined {
  if (!(error instanceof ConnectError)) return undefined;
  return error.findDetails(OffsetOutOfRangeSchema)[0];
}

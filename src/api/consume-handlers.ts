// tidelog.v1.LogService Consume and ConsumeStream. Binary answers (gRPC, gRPC-Web, Connect
// proto) carry records transcoded straight from their stored bytes (record-transcoder.ts
// encodeRecordsWire, record-wire.ts); a stream reads through its topic's shared tail
// (cluster/topic-tail.ts): one wake-up and one encoding per commit for all caught-up streams of a
// topic on this node. JSON answers (Connect JSON, curl) decode the records into the declared
// fields.
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { HandlerContext } from "@connectrpc/connect";
import type {
  AnswerEncoder,
  Broker,
  ConsumeLimits,
  DecodedRecord,
  TailReader,
  TopicInfo,
  WireSlice,
} from "../cluster/broker.js";
import { TidelogError } from "../errors.js";
import {
  type ConsumeRequest,
  type ConsumeResponse,
  ConsumeResponseSchema,
  StartPosition,
} from "../gen/tidelog/v1/log_service_pb.js";
import { type Record as RecordMessage, RecordSchema } from "../gen/tidelog/v1/record_pb.js";
import { type AnswerBudget, answerHoldKey } from "./answer-budget.js";
import type { ApiLimits } from "./limits.js";
import { recordsAsUnknownField } from "./record-wire.js";
import type { StreamCounter } from "./stream-counter.js";
import { topicOrDefault } from "./topic-or-default.js";

export interface ConsumeHandlerDeps {
  broker: Broker;
  limits: ApiLimits;
  streams: StreamCounter;
  /** Bounds the answer bytes all streams hold at once (answer-budget.ts). */
  answers: AnswerBudget;
}

type TopicBounds = Pick<TopicInfo, "name" | "lowestOffset" | "nextOffset">;

export function createConsumeHandlers({ broker, limits, streams, answers }: ConsumeHandlerDeps) {
  return {
    async consume(request: ConsumeRequest, context: HandlerContext): Promise<ConsumeResponse> {
      const info = broker.topic(topicOrDefault(request.topic));
      const offset = startOffset(request, info);
      checkInRange(info, offset);
      if (offset === info.nextOffset) {
        // Caught up: no records yet (as Kafka answers a fetch at the high watermark).
        return create(ConsumeResponseSchema, {
          nextOffset: BigInt(offset),
          highWatermark: BigInt(info.nextOffset),
        });
      }
      const bounds = consumeLimits(request, limits);
      // Held in the answer budget until written: an outside probe's 10 HTTP/1.1 connections,
      // each pipelining 50 Consumes and reading none, pinned 2.9 GB of answers.
      const hold = context.values.get(answerHoldKey) ?? ((release: () => void) => release());
      const read = async <A>(
        reader: (within: ConsumeLimits) => Promise<A>,
        sizeOf: (answer: A) => number,
      ): Promise<A> => {
        const { answer, release } = await answers.read(
          bounds,
          reader,
          sizeOf,
          unaryCopies(context),
        );
        hold(release);
        return answer;
      };
      if (answersInBinary(context)) {
        const slice = await read(
          (within) => broker.consumeWire(info.name, offset, within),
          sliceBytes,
        );
        return wireResponse(slice.bytes, slice.nextOffset, info.nextOffset);
      }
      const records = await read(
        (within) => broker.consume(info.name, offset, within),
        recordBytes,
      );
      return decodedResponse(records, info.nextOffset);
    },

    consumeStream(request: ConsumeRequest, context: HandlerContext) {
      return streams.track(async function* () {
        if (answersInBinary(context)) {
          for await (const answer of consumeWireAnswers(
            { broker, limits, answers },
            request,
            context.signal,
          ))
            yield wireResponse(answer.records, answer.nextOffset, answer.highWatermark);
          return;
        }
        const name = topicOrDefault(request.topic);
        const bounds = consumeLimits(request, limits);
        yield* followTopic(broker, request, context.signal, async (offset, info) => {
          const { answer: records, release } = await answers.read(
            bounds,
            (within) => broker.consume(name, offset, within),
            recordBytes,
            connectCopies,
          );
          const response = decodedResponse(records, info.nextOffset);
          return { answer: response, nextOffset: Number(response.nextOffset), release };
        });
      });
    },
  };
}

/** What a decoded answer holds: its records' values and keys (an estimate of its JSON). */
function recordBytes(records: readonly DecodedRecord[]): number {
  let bytes = 0;
  for (const record of records) bytes += record.value.length + record.key.length;
  return bytes;
}

const sliceBytes = (slice: WireSlice): number => slice.bytes.length;

/**
 * Copies of an answer a Connect route holds until it is sent: its own, and the message Connect
 * serialized from it, which waits in the HTTP/2 stream (or socket) until the client reads it.
 */
const connectCopies = 2;

/**
 * Copies of a unary answer held until it is written: a gRPC-Web answer takes two more (Connect
 * frames it in an envelope, and text mode encodes that in base64), where an outside probe's 10
 * pipelining gRPC-Web text connections held ~700 MB above baseline against 256 MiB (Q3).
 */
function unaryCopies(context: HandlerContext): number {
  return context.protocolName === "grpc-web" ? connectCopies + 2 : connectCopies;
}

/** One binary ConsumeStream answer: `repeated Record records = 1` wire bytes and the offsets. */
export interface WireAnswer {
  records: Buffer;
  nextOffset: number;
  highWatermark: number;
}

/**
 * A ConsumeStream's binary answers on the Connect routes, for as long as `signal` is not aborted
 * (plain gRPC takes sendWireAnswers). An answer's bytes are valid until the next one is asked
 * for: the consumer encodes (copies) them before it pulls again.
 */
function consumeWireAnswers(
  { broker, limits, answers }: Pick<ConsumeHandlerDeps, "broker" | "limits" | "answers">,
  request: ConsumeRequest,
  signal: AbortSignal,
): AsyncGenerator<WireAnswer> {
  const bounds = consumeLimits(request, limits);
  // followTopic's generator itself, not one wrapped in another: every delivery to a tailing
  // stream passes through each generator layer.
  return followTopic(broker, request, signal, async (offset, info, reader) => {
    const { answer: slice, release } = await answers.read(
      bounds,
      (within) => reader.read(offset, within),
      sliceBytes,
      connectCopies,
    );
    return {
      answer: {
        records: slice.bytes,
        nextOffset: slice.nextOffset,
        // Records may have been committed (and cached) after the bounds were read.
        highWatermark: Math.max(info.nextOffset, slice.nextOffset),
      },
      nextOffset: slice.nextOffset,
      release: () => {
        release();
        slice.release?.();
      },
    };
  });
}

/**
 * Sends a ConsumeStream's binary answers for as long as `signal` is not aborted; never returns
 * otherwise (ends with the signal's reason, or the first error). `encode` makes the message to
 * send from an answer's records (a slice of wire bytes, valid only during the call: copy them)
 * and the topic's committed end; it must be pure, since a caught-up stream follows the topic
 * (TailReader.follow), where every stream at the same offset with the same limits and `encode`
 * gets the one message encoded for all of them. `send` returns undefined when it can take more at
 * once, or a promise that settles once it can (rejects if the stream is gone).
 */
export async function sendWireAnswers<M>(
  { broker, limits, answers }: Pick<ConsumeHandlerDeps, "broker" | "limits" | "answers">,
  request: ConsumeRequest,
  signal: AbortSignal,
  encode: AnswerEncoder<M>,
  send: (message: M) => Promise<void> | undefined,
): Promise<never> {
  const bounds = consumeLimits(request, limits);
  const reader = broker.openTail(topicOrDefault(request.topic), signal);
  // The last answer read for this stream is held until it was taken (`room` settled).
  let giveBack: (() => void) | undefined;
  try {
    let offset = startOffset(request, reader.bounds());
    while (!signal.aborted) {
      giveBack?.();
      giveBack = undefined;
      const info = boundsAt(reader, offset);
      let room: Promise<void> | undefined;
      if (offset < info.nextOffset) {
        const held = await answers.read(
          bounds,
          (within) => reader.read(offset, within),
          sliceBytes,
        );
        const slice = held.answer;
        giveBack = held.release;
        try {
          room = send(encode(slice, Math.max(info.nextOffset, slice.nextOffset)));
        } finally {
          slice.release?.();
        }
        offset = slice.nextOffset;
      } else {
        offset = await reader.follow(offset, bounds, encode, (message, bytes) => {
          // An answer the stream cannot send at once is held until it drains: one made for all
          // followers is taken only within the budget, else this stream reads a squeezed one.
          if (!answers.admits(bytes)) return "declined";
          room = send(message);
          if (room === undefined) return "more";
          giveBack = answers.hold(bytes);
          return "full";
        });
      }
      if (room !== undefined) await room;
    }
    // Ended by a deadline or the server's shutdown: the stream ends with that error
    // (DEADLINE_EXCEEDED, UNAVAILABLE), not as if the topic had ended.
    throw signal.reason;
  } finally {
    giveBack?.();
    reader.close();
  }
}

/**
 * Follows a topic from the request's start position through its shared tail: `read` answers the
 * records from `offset` on, and the loop waits for commits once caught up.
 */
async function* followTopic<T>(
  broker: Broker,
  request: ConsumeRequest,
  signal: AbortSignal,
  read: (
    offset: number,
    info: TopicBounds,
    reader: TailReader,
  ) => Promise<{ answer: T; nextOffset: number; release?: (() => void) | undefined }>,
): AsyncGenerator<T> {
  const reader = broker.openTail(topicOrDefault(request.topic), signal);
  try {
    let offset = startOffset(request, reader.bounds());
    while (!signal.aborted) {
      const info = boundsAt(reader, offset);
      if (offset < info.nextOffset) {
        const { answer, nextOffset, release } = await read(offset, info, reader);
        offset = nextOffset;
        try {
          yield answer;
        } finally {
          // Every consumer pulls the next answer only after it has serialized this one (Connect's
          // stages are pull-based async iterators), so its bytes may be reused from here on
          // (test/api/consume-catch-up.test.ts).
          release?.();
        }
        continue;
      }
      await reader.wait(offset);
    }
    // Ended by a deadline or the server's shutdown: the stream ends with that error
    // (DEADLINE_EXCEEDED, UNAVAILABLE), not as if the topic had ended.
    throw signal.reason;
  } finally {
    reader.close();
  }
}

/** A binary answer: the records' wire bytes ride as one unknown field (record-wire.ts). */
function wireResponse(recordsWire: Buffer, nextOffset: number, highWatermark: number) {
  const response = create(ConsumeResponseSchema, {
    nextOffset: BigInt(nextOffset),
    // Records may have been committed (and cached) after the bounds were read.
    highWatermark: BigInt(Math.max(highWatermark, nextOffset)),
  });
  response.$unknown = [recordsAsUnknownField(recordsWire)];
  return response;
}

function decodedResponse(records: DecodedRecord[], highWatermark: number): ConsumeResponse {
  return create(ConsumeResponseSchema, {
    records: records.map(toRecordMessage),
    nextOffset: BigInt(records.at(-1)!.offset + 1),
    highWatermark: BigInt(highWatermark),
  });
}

/**
 * Whether the answer is protobuf binary (gRPC, gRPC-Web and Connect with a proto content type);
 * Connect GET requests and JSON content types get JSON. See record-wire.ts.
 */
function answersInBinary(context: HandlerContext): boolean {
  const contentType = context.requestHeader.get("content-type");
  // Media types are case-insensitive (RFC 9110), and Connect takes application/JSON as JSON: a
  // binary answer to it would be serialized as JSON without its records.
  return contentType !== null && !/json/i.test(contentType);
}

function startOffset(request: ConsumeRequest, info: TopicBounds): number {
  switch (request.start) {
    case StartPosition.EARLIEST:
      return info.lowestOffset;
    case StartPosition.TAIL: {
      const back =
        request.tailBack > BigInt(info.nextOffset) ? info.nextOffset : Number(request.tailBack);
      return Math.max(info.lowestOffset, info.nextOffset - back);
    }
    default:
      if (request.offset > BigInt(Number.MAX_SAFE_INTEGER)) {
        // No log reaches 2^53 records: out of range, reported with the offset as asked.
        throw new TidelogError("out_of_range", `offset ${request.offset} is out of range`, {
          topic: info.name,
          requested: request.offset,
          lowest: info.lowestOffset,
          next: info.nextOffset,
        });
      }
      return Number(request.offset);
  }
}

/** The topic's current bounds, `offset` checked to lie within them (checkInRange). */
function boundsAt(reader: TailReader, offset: number): TopicBounds {
  const info = reader.bounds();
  checkInRange(info, offset);
  return info;
}

/** Offsets from the lowest retained up to the next offset (caught up) are valid starts. */
function checkInRange(info: TopicBounds, offset: number): void {
  if (offset < info.lowestOffset || offset > info.nextOffset) {
    throw new TidelogError("out_of_range", `offset ${offset} is out of range`, {
      topic: info.name,
      requested: offset,
      lowest: info.lowestOffset,
      next: info.nextOffset,
    });
  }
}

function consumeLimits(request: ConsumeRequest, limits: ApiLimits): ConsumeLimits {
  const maxRecords =
    request.maxRecords === 0
      ? limits.consumeRecordsDefault
      : Math.min(request.maxRecords, limits.consumeRecordsMax);
  const maxBytes =
    request.maxBytes === 0
      ? limits.consumeBytesMax
      : Math.min(request.maxBytes, limits.consumeBytesMax);
  return { maxRecords, maxBytes };
}

/** A stored record as the public Record message, field by field (protobuf-es's own form). */
export function toRecordMessage(record: DecodedRecord): RecordMessage {
  return create(RecordSchema, {
    value: record.value,
    key: record.key,
    headers: record.headers,
    offset: BigInt(record.offset),
    time: timestampFromMs(record.timeMs),
  });
}

// tidelog.v1.LogService: decode, check limits, call the broker, encode.
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { Broker, DecodedRecord, RecordInput, TopicInfo } from "../cluster/broker.js";
import { TidelogError } from "../errors.js";
import {
  type ConsumeRequest,
  type ConsumeResponse,
  ConsumeResponseSchema,
  type LogService,
  type ProduceRequest,
  type ProduceResponse,
  ProduceResponseSchema,
  StartPosition,
} from "../gen/tidelog/v1/log_service_pb.js";
import { type Record as RecordMessage, RecordSchema } from "../gen/tidelog/v1/record_pb.js";
import type { LeaderForwarder } from "./leader-forwarder.js";
import type { ApiLimits } from "./limits.js";
import { orderedPipeline } from "./ordered-pipeline.js";
import { recordAsUnknownField } from "./record-wire.js";
import type { StreamCounter } from "./stream-counter.js";
import { topicOrDefault } from "./topic-or-default.js";

export interface LogServiceDeps {
  broker: Broker;
  limits: ApiLimits;
  streams: StreamCounter;
  forwarder: LeaderForwarder;
}

export function createLogService({
  broker,
  limits,
  streams,
  forwarder,
}: LogServiceDeps): ServiceImpl<typeof LogService> {
  const produce = async (
    request: ProduceRequest,
    context: HandlerContext,
  ): Promise<ProduceResponse> => {
    const topic = topicOrDefault(request.topic);
    const records = checkProduce(request, limits);
    if (forwarder.shouldForward(context)) {
      return forwarder.forward(context, (leader, options) => leader.log.produce(request, options));
    }
    const offsets = await broker.produce(topic, records);
    return create(ProduceResponseSchema, { offsets: offsets.map(BigInt) });
  };

  const consumeOnce = async (
    request: ConsumeRequest,
    info: TopicInfo,
    offset: number,
    context: HandlerContext,
  ): Promise<ConsumeResponse> => {
    const records = await broker.consume(info.name, offset, consumeLimits(request, limits));
    const response = create(ConsumeResponseSchema, {
      nextOffset: BigInt(records.at(-1)!.offset + 1),
      highWatermark: BigInt(info.nextOffset),
    });
    if (answersInBinary(context)) response.$unknown = records.map(recordAsUnknownField);
    else response.records = records.map(toRecordMessage);
    return response;
  };

  return {
    produce,

    produceStream(requests: AsyncIterable<ProduceRequest>, context: HandlerContext) {
      return streams.track(() =>
        orderedPipeline(
          requests,
          (request) => produce(request, context),
          limits.produceStreamInflightMax,
        ),
      );
    },

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
      return consumeOnce(request, info, offset, context);
    },

    consumeStream(request: ConsumeRequest, context: HandlerContext) {
      return streams.track(async function* () {
        const name = topicOrDefault(request.topic);
        const first = broker.topic(name);
        let offset = startOffset(request, first);
        checkInRange(first, offset);
        while (!context.signal.aborted) {
          const info = broker.topic(name);
          checkInRange(info, offset);
          if (offset < info.nextOffset) {
            const response = await consumeOnce(request, info, offset, context);
            offset = Number(response.nextOffset);
            yield response;
            continue;
          }
          await broker.waitForRecords(name, offset, context.signal);
        }
      });
    },
  };
}

/**
 * Whether the answer is protobuf binary (gRPC, gRPC-Web and Connect with a proto content type);
 * Connect GET requests and JSON content types get JSON. See record-wire.ts.
 */
function answersInBinary(context: HandlerContext): boolean {
  const contentType = context.requestHeader.get("content-type");
  return contentType !== null && !contentType.includes("json");
}

function checkProduce(request: ProduceRequest, limits: ApiLimits): RecordInput[] {
  if (request.records.length > limits.requestRecordsMax) {
    throw new TidelogError(
      "resource_exhausted",
      `a produce request holds at most ${limits.requestRecordsMax} records, got ${request.records.length}`,
    );
  }
  let total = 0;
  const records: RecordInput[] = [];
  for (const [i, record] of request.records.entries()) {
    let bytes = record.value.length + record.key.length;
    for (const [name, value] of Object.entries(record.headers))
      bytes += Buffer.byteLength(name) + Buffer.byteLength(value);
    if (bytes > limits.recordBytesMax) {
      throw new TidelogError(
        "resource_exhausted",
        `record ${i} is ${bytes} bytes; the limit is ${limits.recordBytesMax}`,
      );
    }
    total += bytes;
    if (total > limits.requestBytesMax) {
      throw new TidelogError(
        "resource_exhausted",
        `the request's records exceed ${limits.requestBytesMax} bytes`,
      );
    }
    records.push({ value: record.value, key: record.key, headers: record.headers });
  }
  return records;
}

function startOffset(request: ConsumeRequest, info: TopicInfo): number {
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

/** Offsets from the lowest retained up to the next offset (caught up) are valid starts. */
function checkInRange(info: TopicInfo, offset: number): void {
  if (offset < info.lowestOffset || offset > info.nextOffset) {
    throw new TidelogError("out_of_range", `offset ${offset} is out of range`, {
      topic: info.name,
      requested: offset,
      lowest: info.lowestOffset,
      next: info.nextOffset,
    });
  }
}

function consumeLimits(request: ConsumeRequest, limits: ApiLimits) {
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

function toRecordMessage(record: DecodedRecord): RecordMessage {
  return create(RecordSchema, {
    value: record.value,
    key: record.key,
    headers: record.headers,
    offset: BigInt(record.offset),
    time: timestampFromMs(record.timeMs),
  });
}

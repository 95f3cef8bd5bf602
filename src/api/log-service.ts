// tidelog.v1.LogService: decode, check limits, call the broker, encode. Consume and
// ConsumeStream are in consume-handlers.ts.
import { create } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { Broker, RecordInput } from "../cluster/broker.js";
import { TidelogError } from "../errors.js";
import {
  type LogService,
  type ProduceRequest,
  type ProduceResponse,
  ProduceResponseSchema,
} from "../gen/tidelog/v1/log_service_pb.js";
import { createConsumeHandlers } from "./consume-handlers.js";
import type { LeaderForwarder } from "./leader-forwarder.js";
import type { ApiLimits } from "./limits.js";
import { orderedPipeline } from "./ordered-pipeline.js";
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

    ...createConsumeHandlers({ broker, limits, streams }),
  };
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

// tidelog.v1.LogService: decode, check limits, call the broker, encode. Produce is in
// producer.ts, Consume and ConsumeStream in consume-handlers.ts; plain gRPC clients of the hot
// methods are served by server/fast-grpc-routes.ts from the same cores.

import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { Broker } from "../cluster/broker.js";
import type { LogService, ProduceRequest } from "../gen/tidelog/v1/log_service_pb.js";
import type { AnswerBudget } from "./answer-budget.js";
import { createConsumeHandlers } from "./consume-handlers.js";
import type { LeaderForwarder } from "./leader-forwarder.js";
import type { ApiLimits } from "./limits.js";
import { createProducer, createStreamProducer } from "./producer.js";
import type { StreamCounter } from "./stream-counter.js";

export interface LogServiceDeps {
  broker: Broker;
  limits: ApiLimits;
  streams: StreamCounter;
  forwarder: LeaderForwarder;
  answers: AnswerBudget;
}

export function createLogService({
  broker,
  limits,
  streams,
  forwarder,
  answers,
}: LogServiceDeps): ServiceImpl<typeof LogService> {
  const produce = createProducer({ broker, limits, forwarder });
  const produceStream = createStreamProducer({ broker, limits, forwarder }, produce);

  return {
    produce,

    produceStream(requests: AsyncIterable<ProduceRequest>, context: HandlerContext) {
      return streams.track(() => produceStream(requests, context));
    },

    ...createConsumeHandlers({ broker, limits, streams, answers }),
  };
}

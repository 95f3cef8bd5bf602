// Produce, as both routes serve it (the Connect service in log-service.ts and plain gRPC in
// server/fast-grpc-routes.ts): check the limits, forward to the leader when this node is not it,
// else commit through the broker.
import { create } from "@bufbuild/protobuf";
import type { Broker, RecordInput } from "../cluster/broker.js";
import { TidelogError } from "../errors.js";
import {
  type ProduceRequest,
  type ProduceResponse,
  ProduceResponseSchema,
} from "../gen/tidelog/v1/log_service_pb.js";
import type { ForwardContext, LeaderForwarder } from "./leader-forwarder.js";
import type { ApiLimits } from "./limits.js";
import { orderedPipeline } from "./ordered-pipeline.js";
import { topicOrDefault } from "./topic-or-default.js";

export interface ProducerDeps {
  broker: Broker;
  limits: ApiLimits;
  forwarder: LeaderForwarder;
}

export type Producer = (
  request: ProduceRequest,
  context: ForwardContext,
) => Promise<ProduceResponse>;

export type StreamProducer = (
  requests: AsyncIterable<ProduceRequest>,
  context: ForwardContext,
) => AsyncGenerator<ProduceResponse>;

/**
 * ProduceStream, as both routes serve it: on the leader, requests are committed as they arrive
 * with at most `produceStreamInflightMax` unanswered, answered in order. A follower forwards the
 * whole stream as one ProduceStream to the leader: forwarding each request as its own call let
 * concurrent requests of one stream commit out of their order.
 *
 * What a stream applies is a prefix of its requests (per topic): its proposals all come from one
 * period of leadership, whose entries commit or fail in log order. A request that arrives after
 * this node stopped leading (or led again, in a later term, while earlier requests were pending)
 * is refused, not forwarded on its own: the old entries may yet fail while it would commit. And
 * no request starts once an earlier one failed (orderedPipeline). The stream then ends with the
 * first failure, and nothing after it was applied.
 */
export function createStreamProducer(deps: ProducerDeps, produce: Producer): StreamProducer {
  const { broker, limits, forwarder } = deps;
  return async function* (requests, context) {
    if (!forwarder.shouldForward(context)) {
      const leadership = broker.leadership();
      yield* orderedPipeline(
        requests,
        (request) => {
          if (broker.leadership() !== leadership) return Promise.reject(leadershipChanged(broker));
          return produce(request, context);
        },
        limits.produceStreamInflightMax,
      );
      return;
    }
    // A request over a limit ends the input here: the leader answers those before it, then the
    // stream fails with that request's error, as on the leader.
    let inputError: { error: unknown } | undefined;
    async function* checked(): AsyncGenerator<ProduceRequest> {
      try {
        for await (const request of requests) {
          checkProduce(request, limits);
          yield request;
        }
      } catch (error) {
        inputError = { error };
      }
    }
    yield* forwarder.forwardStream(context, (leader, options) =>
      leader.log.produceStream(checked(), options),
    );
    if (inputError !== undefined) throw inputError.error;
  };
}

function leadershipChanged(broker: Broker): TidelogError {
  const leader = broker.leader();
  return new TidelogError(
    "unavailable",
    "leadership changed during this stream: this request and those after it were not applied; retry them",
    { notLeader: true, leaderId: leader?.id ?? "", leaderAddress: leader?.address ?? "" },
  );
}

export function createProducer({ broker, limits, forwarder }: ProducerDeps): Producer {
  return async (request, context) => {
    const topic = topicOrDefault(request.topic);
    const records = checkProduce(request, limits);
    if (forwarder.shouldForward(context)) {
      return forwarder.forward(context, (leader, options) => leader.log.produce(request, options));
    }
    const offsets = await broker.produce(topic, records);
    return create(ProduceResponseSchema, { offsets: offsets.map(BigInt) });
  };
}

/** The refusal of a produce request with more than limits.requestHeadersMax record headers. */
export function tooManyHeaders(headersMax: number): TidelogError {
  return new TidelogError(
    "resource_exhausted",
    `a produce request holds at most ${headersMax} record headers, all records together`,
  );
}

function checkProduce(request: ProduceRequest, limits: ApiLimits): RecordInput[] {
  if (request.records.length > limits.requestRecordsMax) {
    throw new TidelogError(
      "resource_exhausted",
      `a produce request holds at most ${limits.requestRecordsMax} records, got ${request.records.length}`,
    );
  }
  let total = 0;
  let headers = 0;
  const records: RecordInput[] = [];
  for (const [i, record] of request.records.entries()) {
    let bytes = record.value.length + record.key.length;
    const names = Object.keys(record.headers);
    headers += names.length;
    if (headers > limits.requestHeadersMax) throw tooManyHeaders(limits.requestHeadersMax);
    for (const name of names)
      bytes += Buffer.byteLength(name) + Buffer.byteLength(record.headers[name]!);
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

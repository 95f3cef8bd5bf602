// The hot methods of tidelog.v1.LogService for plain gRPC clients (application/grpc, no
// compression), served on the HTTP/2 stream without Connect's per-call and per-message pipeline:
// Produce, ProduceStream and ConsumeStream. They run the same cores as the Connect service
// (api/producer.ts, api/consume-handlers.ts), decode and validate as it does
// (api/request-decoding.ts), count streams against the same limit, and report errors alike
// (grpc-server-call.ts). Answers are encoded by hand (api/response-wire.ts). Every other request,
// and these methods in the other protocols, take the Connect routes.
import type { Validator } from "@bufbuild/protovalidate";
import type { AnswerBudget } from "../api/answer-budget.js";
import type { ErrorLogger } from "../api/connect-error.js";
import { sendWireAnswers } from "../api/consume-handlers.js";
import type { LeaderForwarder } from "../api/leader-forwarder.js";
import type { ApiLimits } from "../api/limits.js";
import { clientReadMaxBytes } from "../api/limits.js";
import { mapAsync } from "../api/ordered-pipeline.js";
import { createProducer, createStreamProducer } from "../api/producer.js";
import { decodeValidProduceRequest, decodeValidRequest } from "../api/request-decoding.js";
import { consumeResponseParts, encodeProduceResponse } from "../api/response-wire.js";
import type { StreamCounter } from "../api/stream-counter.js";
import type { Broker, WireSlice } from "../cluster/broker.js";
import { ConsumeRequestSchema, type ProduceResponse } from "../gen/tidelog/v1/log_service_pb.js";
import { frameGrpcMessage, type GrpcServerCall } from "./grpc-server-call.js";

export interface FastGrpcRoutesDeps {
  broker: Broker;
  limits: ApiLimits;
  streams: StreamCounter;
  answers: AnswerBudget;
  forwarder: LeaderForwarder;
  validator: Validator;
  logError: ErrorLogger;
  shutdown: AbortSignal;
}

/** Serves one call; the route owns the stream from here on. */
export type FastGrpcRoute = (call: GrpcServerCall) => void;

export function createFastGrpcRoutes(deps: FastGrpcRoutesDeps): {
  routes: Record<string, FastGrpcRoute>;
  callOptions: ConstructorParameters<typeof GrpcServerCall>[2];
} {
  const { broker, limits, streams, forwarder, validator, answers } = deps;
  const produce = createProducer({ broker, limits, forwarder });
  const produceStream = createStreamProducer({ broker, limits, forwarder }, produce);
  const encodeOffsets = (response: ProduceResponse) =>
    encodeProduceResponse(response.offsets.map(Number));

  const routes: Record<string, FastGrpcRoute> = {
    "/tidelog.v1.LogService/Produce": (call) => {
      run(call, async () => {
        const request = decodeValidProduceRequest(await call.singleMessage(), validator, limits);
        const response = await produce(request, call);
        await call.send([encodeOffsets(response)]);
      });
    },

    "/tidelog.v1.LogService/ProduceStream": (call) => {
      run(call, async () => {
        const release = streams.acquire();
        try {
          const requests = mapAsync(call.messages(), (bytes) =>
            decodeValidProduceRequest(bytes, validator, limits),
          );
          for await (const response of produceStream(requests, call)) {
            const full = call.send([encodeOffsets(response)]);
            if (full !== undefined) await full;
          }
        } finally {
          release();
        }
      });
    },

    "/tidelog.v1.LogService/ConsumeStream": (call) => {
      run(call, async () => {
        // Read and validated before the stream is counted, as on the Connect route.
        const request = decodeValidRequest(
          ConsumeRequestSchema,
          await call.singleMessage("server-streaming"),
          validator,
          limits,
        );
        const release = streams.acquire();
        try {
          await sendWireAnswers(
            { broker, limits, answers },
            request,
            call.signal,
            frameConsumeResponse,
            (framed) => call.sendFramed(framed),
          );
        } finally {
          release();
        }
      });
    },
  };
  return {
    routes,
    callOptions: {
      // The same wire bound as the Connect routes (limits.ts), so both refuse alike.
      messageBytesMax: clientReadMaxBytes(limits),
      shutdown: deps.shutdown,
      logError: deps.logError,
    },
  };
}

/**
 * A ConsumeStream answer as a framed gRPC message. One function for every stream, so that the
 * streams caught up at the same offset send one message encoded once (TailReader.follow).
 */
function frameConsumeResponse(records: WireSlice, highWatermark: number): Buffer {
  return frameGrpcMessage(
    consumeResponseParts({ records: records.bytes, nextOffset: records.nextOffset, highWatermark }),
  );
}

/** Runs a call's body and ends the call with its outcome. */
function run(call: GrpcServerCall, body: () => Promise<void>): void {
  body().then(
    () => call.finish(),
    (error: unknown) => call.finish(error),
  );
}

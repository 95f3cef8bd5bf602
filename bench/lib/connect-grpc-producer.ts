// Produce through @connectrpc/connect-node's gRPC transport: one HTTP/2 (h2c) connection.
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { LogService, ProduceRequestSchema } from "../../src/gen/tidelog/v1/log_service_pb.js";
import { RecordSchema } from "../../src/gen/tidelog/v1/record_pb.js";
import { PipelinedRun } from "./inflight-window.js";
import { callTimeoutMs, type LoadOutcome, type LoadPlan } from "./load-plan.js";
import type { ProduceBatch, ProduceClient } from "./produce-client.js";

export function createConnectGrpcProducer(baseUrl: string, batch: ProduceBatch): ProduceClient {
  const sessions = new Http2SessionManager(baseUrl);
  const client = createClient(
    LogService,
    createGrpcTransport({ baseUrl, sessionManager: sessions }),
  );
  const request = create(ProduceRequestSchema, {
    topic: batch.topic,
    records: batch.values.map((value) => create(RecordSchema, { value })),
  });
  return {
    kind: "connect-grpc",
    async produce() {
      await client.produce(request, { timeoutMs: callTimeoutMs });
    },
    async stream(plan: LoadPlan): Promise<LoadOutcome> {
      const run = new PipelinedRun(plan);
      async function* requests() {
        for (let sent = 0; run.mayStillSend(sent); sent++) {
          if (!(await run.window.acquire())) return;
          run.window.sent(performance.now());
          yield request;
        }
      }
      try {
        const responses = client.produceStream(requests(), {
          timeoutMs: plan.durationMs + callTimeoutMs,
        });
        for await (const _response of responses) run.acked();
      } finally {
        run.window.close();
      }
      return run.outcome();
    },
    close() {
      sessions.abort();
    },
  };
}

// Produce through raw @grpc/grpc-js, with LogService loaded from proto/ (and third_party/ for its
// imports) by @grpc/proto-loader: no code of ours on the client side, for comparison.
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { PipelinedRun, writeWindowed } from "./inflight-window.js";
import { callTimeoutMs, type LoadOutcome, type LoadPlan } from "./load-plan.js";
import type { ProduceBatch, ProduceClient } from "./produce-client.js";

type ProduceMessage = { topic: string; records: { value: Buffer }[] };

interface GrpcLogClient extends grpc.Client {
  Produce(
    request: ProduceMessage,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: (error: grpc.ServiceError | null) => void,
  ): grpc.ClientUnaryCall;
  ProduceStream(
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
  ): grpc.ClientDuplexStream<ProduceMessage, unknown>;
}

let logServiceConstructor: grpc.ServiceClientConstructor | undefined;

function logService(): grpc.ServiceClientConstructor {
  if (logServiceConstructor === undefined) {
    const definition = protoLoader.loadSync("tidelog/v1/log_service.proto", {
      includeDirs: ["proto", "third_party"],
      longs: String,
      enums: String,
      defaults: true,
    });
    // biome-ignore lint/suspicious/noExplicitAny: proto-loader's package tree is untyped.
    const tidelog = (grpc.loadPackageDefinition(definition) as any).tidelog;
    logServiceConstructor = tidelog.v1.LogService as grpc.ServiceClientConstructor;
  }
  return logServiceConstructor;
}

/** `address` is host:port. */
export function createGrpcJsProducer(address: string, batch: ProduceBatch): ProduceClient {
  const LogService = logService();
  const client = new LogService(address, grpc.credentials.createInsecure(), {
    "grpc.max_receive_message_length": 64 * 1024 * 1024,
    "grpc.max_send_message_length": 64 * 1024 * 1024,
  }) as unknown as GrpcLogClient;
  const request: ProduceMessage = {
    topic: batch.topic,
    records: batch.values.map((value) => ({ value: Buffer.from(value) })),
  };
  return {
    kind: "grpc-js",
    produce() {
      return new Promise<void>((resolve, reject) => {
        client.Produce(
          request,
          new grpc.Metadata(),
          { deadline: Date.now() + callTimeoutMs },
          (error) => (error === null ? resolve() : reject(error)),
        );
      });
    },
    async stream(plan: LoadPlan): Promise<LoadOutcome> {
      const run = new PipelinedRun(plan);
      const call = client.ProduceStream(new grpc.Metadata(), {
        deadline: Date.now() + plan.durationMs + callTimeoutMs,
      });
      const finished = new Promise<void>((resolve, reject) => {
        call.on("data", () => {
          run.acked();
        });
        call.on("error", reject);
        call.on("end", resolve);
      });
      finished.catch(() => run.window.close());
      await writeWindowed(run, call, request, finished, () => {
        call.cancel();
      });
      return run.outcome();
    },
    close() {
      client.close();
    },
  };
}

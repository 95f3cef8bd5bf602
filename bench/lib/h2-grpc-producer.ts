// Produce over bare node:http2, gRPC spoken by hand: the request is encoded and framed once, each
// call writes those bytes, and each answer is cut and decoded only to check its offsets. The
// leanest client Node allows, so that a figure shows what the server costs: against a server
// that does nothing (h2-echo-server.ts), a unary call of Connect's node transport took ~0.57–0.97
// ms of client CPU here, this one ~0.10–0.13 ms (bench/README.md, "The clients' share").
import http2 from "node:http2";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  ProduceRequestSchema,
  ProduceResponseSchema,
} from "../../src/gen/tidelog/v1/log_service_pb.js";
import { RecordSchema } from "../../src/gen/tidelog/v1/record_pb.js";
import { GrpcMessageCutter } from "../../src/server/grpc-message-cutter.js";
import { PipelinedRun, writeWindowed } from "./inflight-window.js";
import { callTimeoutMs, type LoadOutcome, type LoadPlan } from "./load-plan.js";
import type { ProduceBatch, ProduceClient } from "./produce-client.js";

const answerBytesMax = 1024 * 1024;

function requestHeaders(method: string, timeoutMs: number): http2.OutgoingHttpHeaders {
  return {
    ":method": "POST",
    ":path": `/tidelog.v1.LogService/${method}`,
    "content-type": "application/grpc",
    te: "trailers",
    "grpc-timeout": `${timeoutMs}m`,
  };
}

/** Fails unless the call ended with grpc-status 0. */
function checkStatus(trailers: http2.IncomingHttpHeaders | undefined, method: string): void {
  const status = trailers?.["grpc-status"];
  if (status !== "0") {
    const message = trailers?.["grpc-message"];
    throw new Error(`${method}: grpc-status ${String(status)} ${String(message ?? "")}`.trim());
  }
}

/** `baseUrl` is http://host:port (h2c with prior knowledge). */
export function createH2GrpcProducer(baseUrl: string, batch: ProduceBatch): ProduceClient {
  const session = http2.connect(baseUrl);
  session.on("error", () => undefined);
  const body = toBinary(
    ProduceRequestSchema,
    create(ProduceRequestSchema, {
      topic: batch.topic,
      records: batch.values.map((value) => create(RecordSchema, { value })),
    }),
  );
  const frame = Buffer.allocUnsafe(5 + body.length);
  frame[0] = 0;
  frame.writeUInt32BE(body.length, 1);
  frame.set(body, 5);
  const recordsPerRequest = batch.values.length;

  /** Checks one answer: a ProduceResponse with an offset for every record sent. */
  const checkAnswer = (message: Buffer) => {
    const offsets = fromBinary(ProduceResponseSchema, message).offsets.length;
    if (offsets !== recordsPerRequest)
      throw new Error(`an answer with ${offsets} offsets for ${recordsPerRequest} records`);
  };

  return {
    kind: "h2-grpc",
    produce() {
      return new Promise<void>((resolve, reject) => {
        const stream = session.request(requestHeaders("Produce", callTimeoutMs), {
          waitForTrailers: false,
        });
        const cutter = new GrpcMessageCutter(answerBytesMax);
        let answers = 0;
        let trailers: http2.IncomingHttpHeaders | undefined;
        let failure: unknown;
        stream.on("data", (chunk: Buffer) => {
          try {
            cutter.push(chunk);
            for (let message = cutter.next(); message !== undefined; message = cutter.next()) {
              checkAnswer(message);
              answers++;
            }
          } catch (error) {
            failure ??= error;
          }
        });
        stream.on("trailers", (received) => (trailers = received));
        stream.once("error", (error) => (failure ??= error));
        stream.once("close", () => {
          try {
            if (failure !== undefined) throw failure;
            checkStatus(trailers, "Produce");
            if (answers !== 1) throw new Error(`Produce: ${answers} answers`);
            resolve();
          } catch (error) {
            reject(error);
          }
        });
        stream.end(frame);
      });
    },

    async stream(plan: LoadPlan): Promise<LoadOutcome> {
      const run = new PipelinedRun(plan);
      const stream = session.request(
        requestHeaders("ProduceStream", plan.durationMs + callTimeoutMs),
      );
      const cutter = new GrpcMessageCutter(answerBytesMax);
      let trailers: http2.IncomingHttpHeaders | undefined;
      const finished = new Promise<void>((resolve, reject) => {
        stream.on("data", (chunk: Buffer) => {
          try {
            cutter.push(chunk);
            for (let message = cutter.next(); message !== undefined; message = cutter.next()) {
              checkAnswer(message);
              run.acked();
            }
          } catch (error) {
            stream.destroy();
            reject(error);
          }
        });
        stream.on("trailers", (received) => (trailers = received));
        stream.once("error", reject);
        stream.once("close", () => {
          try {
            checkStatus(trailers, "ProduceStream");
            resolve();
          } catch (error) {
            reject(error);
          }
        });
      });
      finished.catch(() => run.window.close());
      await writeWindowed(run, stream, frame, finished, () => {
        if (!stream.destroyed) stream.destroy();
      });
      return run.outcome();
    },

    close() {
      session.destroy();
    },
  };
}

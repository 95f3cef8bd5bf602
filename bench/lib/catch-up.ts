// Catch-up read: fill a topic with large batched produces (bounded in time), then read it all
// from offset 0 over one ConsumeStream and measure how fast the records arrive.
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { ConsumeRequestSchema, LogService } from "../../src/gen/tidelog/v1/log_service_pb.js";
import { createConnectGrpcProducer } from "./connect-grpc-producer.js";
import type { BenchNode } from "./node-launcher.js";
import { startCpuSpan } from "./node-usage.js";
import { randomValues } from "./record-values.js";

/** Records per fill request: the server's default request limit (10,000 records, 8 MiB). */
const fillRecordsPerRequest = 10_000;
const fillInflight = 4;
/** Records per ConsumeStream response asked for (the server's maximum). */
const readRecordsPerResponse = 10_000;

export interface CatchUpPlan {
  recordsTarget: number;
  recordBytes: number;
  fillMsMax: number;
  readMsMax: number;
}

export interface CatchUpResult {
  recordsTarget: number;
  recordBytes: number;
  /** Records the fill reached within its time bound (the topic's size). */
  recordsFilled: number;
  fillSeconds: number;
  fillRecordsPerSecond: number;
  recordsRead: number;
  readSeconds: number;
  recordsPerSecond: number;
  /** Record value bytes read per second, in MB (10^6 bytes). */
  megabytesPerSecond: number;
  responses: number;
  /** CPU seconds during the read: the serving node, and this process (decoding). */
  readCpuSeconds: { server: number; client: number };
}

export async function runCatchUp(node: BenchNode, plan: CatchUpPlan): Promise<CatchUpResult> {
  const topic = "bench-catch-up";
  const producer = createConnectGrpcProducer(node.baseUrl, {
    topic,
    values: randomValues(fillRecordsPerRequest, plan.recordBytes),
  });
  let fill: Awaited<ReturnType<typeof producer.stream>>;
  try {
    fill = await producer.stream({
      inflight: fillInflight,
      durationMs: plan.fillMsMax,
      requestsMax: Math.ceil(plan.recordsTarget / fillRecordsPerRequest),
    });
  } finally {
    producer.close();
  }
  const recordsFilled = fill.requests * fillRecordsPerRequest;

  const sessions = new Http2SessionManager(node.baseUrl);
  const client = createClient(
    LogService,
    createGrpcTransport({ baseUrl: node.baseUrl, sessionManager: sessions }),
  );
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), plan.readMsMax);
  const endSpan = await startCpuSpan([{ id: node.id, pid: node.pid }]);
  const began = performance.now();
  let recordsRead = 0;
  let responses = 0;
  try {
    const stream = client.consumeStream(
      create(ConsumeRequestSchema, { topic, offset: 0n, maxRecords: readRecordsPerResponse }),
      { signal: controller.signal },
    );
    for await (const response of stream) {
      responses++;
      recordsRead += response.records.length;
      if (recordsRead >= recordsFilled) break;
    }
  } catch (error) {
    if (!controller.signal.aborted) throw error;
  } finally {
    clearTimeout(timer);
    controller.abort();
    sessions.abort();
  }
  const readSeconds = (performance.now() - began) / 1000;
  const cpu = await endSpan();
  return {
    recordsTarget: plan.recordsTarget,
    recordBytes: plan.recordBytes,
    recordsFilled,
    fillSeconds: fill.seconds,
    fillRecordsPerSecond: recordsFilled / fill.seconds,
    recordsRead,
    readSeconds,
    recordsPerSecond: recordsRead / readSeconds,
    megabytesPerSecond: (recordsRead * plan.recordBytes) / 1e6 / readSeconds,
    responses,
    readCpuSeconds: { server: cpu.nodes[node.id] ?? Number.NaN, client: cpu.client },
  };
}

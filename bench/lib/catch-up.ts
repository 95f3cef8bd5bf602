// Catch-up read: fill a topic with large batched produces (bounded in time), then read it all
// from offset 0 over one ConsumeStream and measure how fast the records arrive. The reader is
// the lean gRPC client of grpc-consume-stream.ts (raw node:http2, the protobuf wire walked by
// hand), which checks every record's offset and value size.
import { createConnectGrpcProducer } from "./connect-grpc-producer.js";
import { connectConsumeSession, consumeStream } from "./grpc-consume-stream.js";
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
  /** CPU seconds during the read: the serving node, and this process (parsing, checking). */
  readCpuSeconds: { server: number; client: number };
}

/** `onRead` is told when the read starts and ends (e.g. to window a CPU profile). */
export async function runCatchUp(
  node: BenchNode,
  plan: CatchUpPlan,
  onRead?: (phase: "start" | "end") => void,
): Promise<CatchUpResult> {
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

  const session = connectConsumeSession(node.baseUrl);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), plan.readMsMax);
  const endSpan = await startCpuSpan([{ id: node.id, pid: node.pid }]);
  onRead?.("start");
  const began = performance.now();
  let recordsRead = 0;
  let responses = 0;
  try {
    await consumeStream(
      session,
      { topic, start: { offset: 0 }, maxRecords: readRecordsPerResponse },
      {
        onRecord(offset, value) {
          // Offsets are checked contiguous by the client; the first must be 0.
          if (recordsRead === 0 && offset !== 0) throw new Error(`first record at ${offset}`);
          if (value.length !== plan.recordBytes)
            throw new Error(`record ${offset} has ${value.length} bytes`);
          recordsRead++;
        },
        onAnswer() {
          responses++;
          return recordsRead < recordsFilled;
        },
      },
      controller.signal,
    );
  } finally {
    clearTimeout(timer);
    controller.abort();
    session.destroy();
  }
  const readSeconds = (performance.now() - began) / 1000;
  onRead?.("end");
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

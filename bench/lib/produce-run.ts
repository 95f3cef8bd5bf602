// Runs one produce case against a running cluster: a warm-up (which also creates the topic),
// then the measured run, with the CPU every node and the client used during it.

import { runClosedLoop } from "./closed-loop.js";
import { createConnectGrpcProducer } from "./connect-grpc-producer.js";
import { createConnectJsonProducer } from "./connect-json-producer.js";
import { createGrpcJsProducer } from "./grpc-js-producer.js";
import { createH2GrpcProducer } from "./h2-grpc-producer.js";
import type { LatencySummary } from "./latency-samples.js";
import type { LoadOutcome, LoadPlan } from "./load-plan.js";
import type { BenchNode } from "./node-launcher.js";
import { startCpuSpan } from "./node-usage.js";
import type { ProduceCase } from "./produce-cases.js";
import type { ProduceBatch, ProduceClient } from "./produce-client.js";
import { randomValues } from "./record-values.js";

export interface ProduceTiming {
  warmupMs: number;
  /**
   * Requests the warm-up sends at least, past warmupMs, for at most warmupMsMax in all: a case
   * with one request in flight sends a few hundred in a second, too few for V8 to have compiled
   * the paths it runs (the optimizing compiler then works through the measured run).
   */
  warmupRequestsMin?: number;
  warmupMsMax?: number;
  durationMs: number;
  /** Records one measured run sends at most. */
  recordsMax: number;
}

export interface ProduceResult {
  clusterSize: number;
  recordBytes: number;
  case: string;
  description: string;
  client: string;
  inflight: number;
  recordsPerRequest: number;
  requests: number;
  records: number;
  seconds: number;
  recordsPerSecond: number;
  /** Record value bytes acknowledged per second, in MB (10^6 bytes). */
  megabytesPerSecond: number;
  /** Per request: call latency (unary) or send-to-ack latency (stream). */
  latency: LatencySummary;
  /** CPU seconds per million records acknowledged. */
  cpuSecondsPerMillionRecords: {
    allNodes: number;
    leader: number;
    client: number;
    byNode: Record<string, number>;
  };
}

export async function runProduceCase(
  cluster: { nodes: readonly BenchNode[]; leader: BenchNode },
  produceCase: ProduceCase,
  recordBytes: number,
  timing: ProduceTiming,
  /** Called as the measured run starts and ends (e.g. to cut a CPU profile to it). */
  observe?: (phase: "start" | "end") => void,
): Promise<ProduceResult> {
  const batch: ProduceBatch = {
    topic: `bench-${produceCase.key}-${recordBytes}`,
    values: randomValues(produceCase.recordsPerRequest, recordBytes),
  };
  const client = createProducer(produceCase.client, cluster.leader, batch);
  try {
    const run = (plan: LoadPlan): Promise<LoadOutcome> =>
      produceCase.call === "unary" ? runClosedLoop(plan, client.produce) : client.stream(plan);
    const requestsMax = Math.max(1, Math.floor(timing.recordsMax / produceCase.recordsPerRequest));
    const inflight = produceCase.inflight;
    await client.produce(); // creates the topic before the clock starts
    const warmupBegan = performance.now();
    const warmupRequestsMin = timing.warmupRequestsMin ?? 0;
    const warmupEnd = warmupBegan + Math.max(timing.warmupMs, timing.warmupMsMax ?? 0);
    let warmed = (await run({ inflight, durationMs: timing.warmupMs, requestsMax })).requests;
    while (warmed < warmupRequestsMin && performance.now() < warmupEnd) {
      const durationMs = Math.min(1_000, Math.ceil(warmupEnd - performance.now()));
      warmed += (await run({ inflight, durationMs, requestsMax: warmupRequestsMin - warmed }))
        .requests;
    }
    const endSpan = await startCpuSpan(cluster.nodes);
    observe?.("start");
    const outcome = await run({ inflight, durationMs: timing.durationMs, requestsMax });
    observe?.("end");
    const cpu = await endSpan();
    const records = outcome.requests * produceCase.recordsPerRequest;
    const perMillion = (seconds: number) =>
      records === 0 ? Number.NaN : (seconds / records) * 1e6;
    const nodeSeconds = Object.values(cpu.nodes).reduce((sum, seconds) => sum + seconds, 0);
    return {
      clusterSize: cluster.nodes.length,
      recordBytes,
      case: produceCase.key,
      description: produceCase.description,
      client: produceCase.client,
      inflight,
      recordsPerRequest: produceCase.recordsPerRequest,
      requests: outcome.requests,
      records,
      seconds: outcome.seconds,
      recordsPerSecond: records / outcome.seconds,
      megabytesPerSecond: (records * recordBytes) / 1e6 / outcome.seconds,
      latency: outcome.latency.summary(),
      cpuSecondsPerMillionRecords: {
        allNodes: perMillion(nodeSeconds),
        leader: perMillion(cpu.nodes[cluster.leader.id] ?? Number.NaN),
        client: perMillion(cpu.client),
        byNode: Object.fromEntries(
          Object.entries(cpu.nodes).map(([id, seconds]) => [id, perMillion(seconds)]),
        ),
      },
    };
  } finally {
    client.close();
  }
}

function createProducer(
  kind: ProduceCase["client"],
  node: BenchNode,
  batch: ProduceBatch,
): ProduceClient {
  switch (kind) {
    case "connect-grpc":
      return createConnectGrpcProducer(node.baseUrl, batch);
    case "grpc-js":
      return createGrpcJsProducer(node.address, batch);
    case "connect-json-h1":
      return createConnectJsonProducer(node.baseUrl, batch);
    case "h2-grpc":
      return createH2GrpcProducer(node.baseUrl, batch);
  }
}

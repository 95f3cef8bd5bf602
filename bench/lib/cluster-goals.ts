// The cluster benchmark's goals, checked against its results: each figure next to its target.
import type { CatchUpResult } from "./catch-up.js";
import type { ProduceResult } from "./produce-run.js";
import type { TailResult } from "./tail-latency.js";

export interface GoalCheck {
  goal: string;
  where: string;
  measured: number;
  target: number;
  unit: string;
  met: boolean;
}

/** Cases with many requests in flight, whose 3-node/1-node throughput ratio should be ≥ 0.5. */
export const manyInflightCases = [
  "stream-256",
  "batch-100x16",
  "grpcjs-stream-256",
  "h2-stream-256",
  "h2-batch-100x16",
  "h2-batch-100x64",
];

/** The clients the produce goals are measured with: the case key's prefix, and a name. */
const goalClients = [
  { prefix: "", client: "Connect" },
  { prefix: "h2-", client: "bare HTTP/2" },
] as const;
export const scalingRatioTarget = 0.5;

export interface ScalingRatio {
  case: string;
  recordBytes: number;
  oneNodeRecordsPerSecond: number;
  threeNodeRecordsPerSecond: number;
  ratio: number;
  /** Only many-in-flight cases carry the ≥ 0.5 target. */
  target: number | undefined;
}

export function checkGoals(
  produce: readonly ProduceResult[],
  catchUp: CatchUpResult | undefined,
  tails: readonly TailResult[],
): GoalCheck[] {
  const checks: GoalCheck[] = [];
  const find = (clusterSize: number, recordBytes: number, key: string) =>
    produce.find(
      (result) =>
        result.clusterSize === clusterSize &&
        result.recordBytes === recordBytes &&
        result.case === key,
    );
  const atLeast = (goal: string, where: string, measured: number, target: number, unit: string) =>
    checks.push({ goal, where, measured, target, unit, met: measured >= target });
  const atMost = (goal: string, where: string, measured: number, target: number, unit: string) =>
    checks.push({ goal, where, measured, target, unit, met: measured <= target });

  // Each produce goal is measured with two clients: Connect's node transport, the one the issue
  // names, and gRPC by hand over bare node:http2 (h2-grpc-producer.ts). On 2 cores the client
  // competes with the nodes for CPU, and Connect's costs 5× the other per record.
  for (const { prefix, client } of goalClients) {
    const streamed = find(3, 1024, `${prefix}stream-256`);
    if (streamed !== undefined)
      atLeast(
        "256 in flight",
        `3 nodes, 1 KiB, ${client}`,
        streamed.recordsPerSecond,
        20_000,
        "records/s",
      );
    for (const recordBytes of [100, 1024]) {
      for (const inflight of [16, 64]) {
        const batched = find(3, recordBytes, `${prefix}batch-100x${inflight}`);
        if (batched !== undefined)
          atLeast(
            `batched, ${inflight} in flight`,
            `3 nodes, ${label(recordBytes)}, ${client}`,
            batched.megabytesPerSecond,
            100,
            "MB/s",
          );
      }
    }
    for (const clusterSize of [1, 3]) {
      for (const recordBytes of [100, 1024]) {
        for (const [key, goal] of [
          ["unary-1", "1 in flight p50, unary"],
          ["stream-1", "1 in flight p50, stream"],
        ] as const) {
          const result = find(clusterSize, recordBytes, `${prefix}${key}`);
          if (result !== undefined)
            atMost(
              goal,
              `${clusterSize} node${clusterSize === 1 ? "" : "s"}, ${label(recordBytes)}, ${client}`,
              result.latency.p50Ms,
              0.6,
              "ms",
            );
        }
      }
    }
  }
  if (catchUp !== undefined)
    atLeast(
      "catch-up",
      `${catchUp.recordsRead.toLocaleString("en-US")} × ${label(catchUp.recordBytes)}`,
      catchUp.recordsPerSecond,
      1_000_000,
      "records/s",
    );
  const thousand = tails.find((result) => result.tails === 1000);
  if (thousand !== undefined)
    atMost(
      "1,000 tails p99 delivery",
      `${thousand.ratePerSecond}/s`,
      thousand.delivery.p99Ms,
      50,
      "ms",
    );
  for (const ratio of scalingRatios(produce))
    if (ratio.target !== undefined)
      atLeast(
        "3-node/1-node",
        `${ratio.case}, ${label(ratio.recordBytes)}`,
        ratio.ratio,
        ratio.target,
        "×",
      );
  return checks;
}

export function scalingRatios(produce: readonly ProduceResult[]): ScalingRatio[] {
  const ratios: ScalingRatio[] = [];
  for (const three of produce.filter((result) => result.clusterSize === 3)) {
    const one = produce.find(
      (result) =>
        result.clusterSize === 1 &&
        result.case === three.case &&
        result.recordBytes === three.recordBytes,
    );
    if (one === undefined) continue;
    ratios.push({
      case: three.case,
      recordBytes: three.recordBytes,
      oneNodeRecordsPerSecond: one.recordsPerSecond,
      threeNodeRecordsPerSecond: three.recordsPerSecond,
      ratio: three.recordsPerSecond / one.recordsPerSecond,
      target: manyInflightCases.includes(three.case) ? scalingRatioTarget : undefined,
    });
  }
  return ratios;
}

export function label(recordBytes: number): string {
  return recordBytes % 1024 === 0 ? `${recordBytes / 1024} KiB` : `${recordBytes} B`;
}

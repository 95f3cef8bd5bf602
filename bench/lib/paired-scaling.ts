// The 3-node/1-node throughput ratio measured in pairs: a 1-node and a 3-node cluster run side by
// side (the idle one costs only heartbeats), and each many-in-flight case alternates between them
// in short slices, each side first in turn. On this shared machine the throughput of one case
// swings 2× within minutes, so a ratio of two figures taken minutes apart (the full run's) says
// as much about the weather as about replication; slices a few seconds apart share it.
import { manyInflightCases, type ScalingRatio, scalingRatioTarget } from "./cluster-goals.js";
import type { BenchCluster, BenchNode } from "./node-launcher.js";
import { produceCases } from "./produce-cases.js";
import { runProduceCase } from "./produce-run.js";

export interface PairedScalingPlan {
  recordSizes: readonly number[];
  /** Slices per side and case; each slice is one measured run after its own warm-up. */
  slices: number;
  sliceMs: number;
  warmupMs: number;
  /** Records one slice sends at most. */
  recordsMax: number;
}

interface Side {
  cluster: BenchCluster;
  leader: BenchNode;
  records: number;
  seconds: number;
}

export async function runPairedScaling(
  one: { cluster: BenchCluster; leader: BenchNode },
  three: { cluster: BenchCluster; leader: BenchNode },
  plan: PairedScalingPlan,
  progress: (message: string) => void,
): Promise<ScalingRatio[]> {
  const ratios: ScalingRatio[] = [];
  for (const recordBytes of plan.recordSizes) {
    for (const key of manyInflightCases) {
      const produceCase = produceCases.find((candidate) => candidate.key === key)!;
      const sides: Side[] = [one, three].map((side) => ({ ...side, records: 0, seconds: 0 }));
      for (let slice = 0; slice < plan.slices; slice++) {
        const order = slice % 2 === 0 ? sides : [...sides].reverse();
        for (const side of order) {
          const result = await runProduceCase(
            { nodes: side.cluster.nodes, leader: side.leader },
            produceCase,
            recordBytes,
            { warmupMs: plan.warmupMs, durationMs: plan.sliceMs, recordsMax: plan.recordsMax },
          );
          side.records += result.records;
          side.seconds += result.seconds;
        }
      }
      const [single, triple] = sides.map((side) => side.records / side.seconds) as [number, number];
      const ratio: ScalingRatio = {
        case: key,
        recordBytes,
        oneNodeRecordsPerSecond: single,
        threeNodeRecordsPerSecond: triple,
        ratio: triple / single,
        target: scalingRatioTarget,
      };
      progress(
        `paired ${key} ${recordBytes} B: 1 node ${Math.round(single)}, 3 nodes ${Math.round(triple)} records/s, ratio ${ratio.ratio.toFixed(2)}`,
      );
      ratios.push(ratio);
    }
  }
  return ratios;
}

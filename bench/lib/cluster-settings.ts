// Durations and counts of the cluster benchmark, full and --quick. Every loop is bounded by
// time and by count; the full run finishes within about 10 minutes, the quick one in about 1.
import type { CatchUpPlan } from "./catch-up.js";
import type { PairedScalingPlan } from "./paired-scaling.js";
import type { ProduceTiming } from "./produce-run.js";

export interface ClusterBenchSettings {
  clusterSizes: readonly number[];
  recordSizes: readonly number[];
  produce: ProduceTiming;
  catchUp: CatchUpPlan;
  tails: {
    counts: readonly number[];
    ratePerSecond: number;
    warmupMs: number;
    durationMs: number;
    recordBytes: number;
  };
  disk: {
    fdatasync: { durationMs: number; countMax: number };
    sequential: { durationMs: number; bytesMax: number };
  };
  /** The bare HTTP/2 unary round trip between two processes (h2-round-trip.ts). */
  roundTrip: { durationMs: number; countMax: number };
  /** How long the profiled scenario (--profile) runs. */
  profileMs: number;
  /** --only=scaling: the ratios in alternating slices (see paired-scaling.ts). */
  scaling: PairedScalingPlan;
}

export const fullSettings: ClusterBenchSettings = {
  clusterSizes: [1, 3],
  recordSizes: [100, 1024],
  produce: {
    warmupMs: 1_000,
    warmupRequestsMin: 5_000,
    warmupMsMax: 10_000,
    durationMs: 8_000,
    recordsMax: 5_000_000,
  },
  catchUp: { recordsTarget: 1_000_000, recordBytes: 100, fillMsMax: 60_000, readMsMax: 60_000 },
  tails: {
    counts: [1, 100, 1000],
    ratePerSecond: 100,
    warmupMs: 1_000,
    durationMs: 10_000,
    recordBytes: 100,
  },
  disk: {
    fdatasync: { durationMs: 3_000, countMax: 100_000 },
    sequential: { durationMs: 5_000, bytesMax: 1024 * 1024 * 1024 },
  },
  roundTrip: { durationMs: 3_000, countMax: 20_000 },
  profileMs: 15_000,
  scaling: {
    recordSizes: [100, 1024],
    slices: 6,
    sliceMs: 2_000,
    warmupMs: 300,
    recordsMax: 2_000_000,
  },
};

export const quickSettings: ClusterBenchSettings = {
  clusterSizes: [1, 3],
  recordSizes: [100, 1024],
  produce: {
    warmupMs: 200,
    warmupRequestsMin: 500,
    warmupMsMax: 1_000,
    durationMs: 1_000,
    recordsMax: 200_000,
  },
  catchUp: { recordsTarget: 100_000, recordBytes: 100, fillMsMax: 10_000, readMsMax: 15_000 },
  tails: {
    counts: [1, 100, 1000],
    ratePerSecond: 100,
    warmupMs: 200,
    durationMs: 2_000,
    recordBytes: 100,
  },
  disk: {
    fdatasync: { durationMs: 1_000, countMax: 10_000 },
    sequential: { durationMs: 1_000, bytesMax: 256 * 1024 * 1024 },
  },
  roundTrip: { durationMs: 1_000, countMax: 5_000 },
  profileMs: 5_000,
  scaling: { recordSizes: [1024], slices: 2, sliceMs: 500, warmupMs: 100, recordsMax: 100_000 },
};

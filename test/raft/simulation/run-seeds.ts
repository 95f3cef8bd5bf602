// Runs a range of simulation seeds for one cluster size, or replays one seed.
//
//   RAFT_SIM_SEEDS=n    how many seeds per cluster size (default below, sized for ~1 minute)
//   RAFT_SIM_SEED=s     replay only seed s (its cluster size is picked by its test file)
//   RAFT_SIM_TRACE=1    with RAFT_SIM_SEED, print every event of the run

import assert from "node:assert/strict";
import { runSimulation, type SimulationResult } from "./cluster-sim.js";

export const DEFAULT_SEEDS_PER_SIZE = 3000;
const FAULTY_STEPS = 3_000;
const QUIET_STEPS_MAX = 3_000;

/** Seeds for a cluster size: 3-node runs take odd seeds, 5-node runs even ones. */
export function seedsFor(clusterSize: number): number[] {
  const replay = process.env.RAFT_SIM_SEED;
  const parity = clusterSize === 3 ? 1 : 0;
  if (replay !== undefined) {
    const seed = Number(replay);
    return seed % 2 === parity ? [seed] : [];
  }
  const count = Number(process.env.RAFT_SIM_SEEDS ?? DEFAULT_SEEDS_PER_SIZE);
  return Array.from({ length: count }, (_, i) => 2 * i + 2 - parity);
}

export function runSeeds(clusterSize: number): void {
  const seeds = seedsFor(clusterSize);
  const trace = process.env.RAFT_SIM_TRACE === "1" && seeds.length === 1;
  const started = performance.now();
  const totals = {
    acknowledged: 0,
    steps: 0,
    snapshotsSent: 0,
    confChanges: 0,
    leaderTerms: 0,
    unconvergedWithoutPreVote: 0,
  };
  for (const seed of seeds) {
    let result: SimulationResult;
    try {
      result = runSimulation({
        seed,
        clusterSize,
        faultySteps: FAULTY_STEPS,
        quietStepsMax: QUIET_STEPS_MAX,
        ...(trace ? { trace: (line: string) => console.log(line) } : {}),
      });
    } catch (error) {
      const reason = error instanceof Error ? (error.stack ?? error.message) : String(error);
      assert.fail(
        `simulation seed ${seed} (${clusterSize} nodes) failed; replay with RAFT_SIM_SEED=${seed} RAFT_SIM_TRACE=1\n${reason}`,
      );
    }
    totals.acknowledged += result.acknowledged;
    totals.steps += result.steps;
    totals.snapshotsSent += result.snapshotsSent;
    totals.confChanges += result.confChanges;
    totals.leaderTerms += result.leaderTerms;
    if (!result.converged) totals.unconvergedWithoutPreVote += 1;
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(
    `raft simulation: ${seeds.length} seeds × ${clusterSize} nodes in ${seconds}s: ${JSON.stringify(totals)}`,
  );
}

// The fault loop of the reliability suite, shared by the bounded test (a few rounds, in
// `npm test`) and the soak (`npm run soak`): three real nodes under concurrent produces and reads
// through every member, while in turns the leader and a follower are SIGKILLed (and restarted on
// their data directories) or stopped with SIGSTOP for longer than the election timeout (and
// continued). After every fault the time until writes are acknowledged again is measured; at the
// end the history checker proves: no acknowledged record lost or moved, no duplicate, no gap,
// replicas identical.
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { Cluster, clusterTickMs } from "../harness/cluster.js";
import { History } from "../harness/history.js";
import { verifyHistory } from "../harness/verify.js";
import { testSeed, Workload } from "../harness/workload.js";

const topics = ["orders", "events"];
/** The topic of the probe that measures the time to serve again (checked like the others). */
const probeTopic = "probe";
/** Deadline of one probe produce: short, so a call stuck on a dead leader does not hide recovery. */
const probeTimeoutMs = 1_000;
/** Over twice the longest election timeout (20 ticks). */
const pauseMs = 2 * 20 * clusterTickMs + 500;
/** After any fault, writes must be acknowledged again within this long. */
export const serveAgainMaxMs = 15_000;

type Fault = "kill leader" | "kill follower" | "pause leader" | "pause follower";
const faults: Fault[] = ["kill leader", "kill follower", "pause leader", "pause follower"];

export interface FaultLoopReport {
  rounds: number;
  faults: number;
  acknowledgedRecords: number;
  recordsChecked: number;
  serveAgainMs: number[];
}

export async function runFaultLoop(rounds: number, label: string): Promise<FaultLoopReport> {
  const seed = testSeed();
  const cluster = await Cluster.start({ size: 3 });
  const history = new History();
  let workload: Workload | undefined;
  const serveAgainMs: number[] = [];
  const deadline = Date.now() + rounds * 30_000 + 60_000;
  try {
    workload = Workload.start(cluster, history, {
      seed,
      topics,
      durationMs: rounds * 30_000 + 30_000,
      requestsMax: 50_000,
    });
    await workload.waitForAcknowledged(30, 20_000);
    let injected = 0;
    for (let round = 0; round < rounds && Date.now() < deadline; round++) {
      const fault = faults[round % faults.length]!;
      const leader = await cluster.waitForLeader();
      const victim = fault.endsWith("leader")
        ? leader
        : cluster.liveIds.find((id) => id !== leader)!;
      const started = performance.now();
      if (fault.startsWith("kill")) await cluster.kill(victim);
      else cluster.pause(victim);
      injected++;
      // Writes go on (a follower fault) or resume after an election (a leader fault): a probe
      // produces through the live members with a short deadline until one is acknowledged. (The
      // workload's own producers each wait out their 5 s deadline on a stopped leader.)
      serveAgainMs.push(await probe(cluster, history, victim, started, `${round}`));
      if (fault.startsWith("pause")) {
        const paused = performance.now() - started;
        if (paused < pauseMs) await sleep(pauseMs - paused);
        cluster.resume(victim);
      } else {
        await cluster.restart(victim);
      }
      await workload.waitForAcknowledged(10, 20_000);
      console.log(
        `[${label}] round ${round + 1}: ${fault} (${victim}); writes acknowledged again after ` +
          `${serveAgainMs.at(-1)} ms`,
      );
    }
    assert.equal(injected, rounds, "the fault loop ran out of time");
    await workload.stop();
    const report = await verifyHistory(cluster, history, {
      topics: [...topics, probeTopic],
      seed,
      label,
      faults: injected,
    });
    assert.ok(report.acknowledgedRecords > 50 * rounds, "too few records to prove anything");
    return {
      rounds,
      faults: injected,
      acknowledgedRecords: report.acknowledgedRecords,
      recordsChecked: report.recordsChecked,
      serveAgainMs,
    };
  } finally {
    await workload?.stop();
    await cluster.close();
  }
}

/** Produces one record at a time through live members other than `victim` until acknowledged. */
async function probe(
  cluster: Cluster,
  history: History,
  victim: string,
  started: number,
  round: string,
): Promise<number> {
  for (let attempt = 0; performance.now() - started < serveAgainMaxMs; attempt++) {
    const targets = cluster.liveIds.filter((id) => id !== victim);
    const via = targets[attempt % targets.length]!;
    const values = [`probe-${round}-${attempt}`];
    const operation = history.send("probe", via, probeTopic, values);
    try {
      const response = await cluster
        .client(via)
        .log.produce(
          { topic: probeTopic, records: values.map((value) => ({ value: Buffer.from(value) })) },
          { timeoutMs: probeTimeoutMs },
        );
      history.acknowledge(operation, response.offsets.map(Number));
      return Math.round(performance.now() - started);
    } catch (error) {
      history.fail(operation, error);
      await sleep(50);
    }
  }
  throw new Error(`writes not acknowledged within ${serveAgainMaxMs} ms after the fault`);
}

// SIGTERM on the leader: the node hands leadership to another voter before it exits, so the
// cluster does not wait out an election timeout. Proven by order: the others agree on a new
// leader by the time the old leader's process has exited. Without a handover they would hear its
// heartbeats until it stops its Raft node, just before exiting, and only then start an election
// timeout (10 to 20 ticks of 50 ms): they could not agree on a leader before the exit plus half
// the shortest election timeout (the slack covers the poll that saw the agreement).
// Under load; the history checks pass afterwards.
import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Cluster, clusterTickMs } from "../harness/cluster.js";
import { History } from "../harness/history.js";
import { verifyHistory } from "../harness/verify.js";
import { testSeed, Workload } from "../harness/workload.js";

const topics = ["orders"];
const rounds = 2;
/** A handover takes a few round trips; this bound only catches a stuck one (2 s elections). */
const handoverMaxMs = 40 * clusterTickMs;
const pollMs = 20;
const electionTimeoutMinMs = 10 * clusterTickMs;

test("SIGTERM on the leader hands leadership over before the process exits", async () => {
  await Cluster.run({ size: 3 }, async (cluster) => {
    const seed = testSeed();
    const history = new History();
    const workload = Workload.start(cluster, history, {
      seed,
      topics,
      producers: 2,
      durationMs: 60_000,
    });
    await workload.waitForAcknowledged(20, 20_000);
    for (let round = 0; round < rounds; round++) {
      const leader = await cluster.waitForLeader();
      const others = cluster.ids.filter((id) => id !== leader);
      const signalledAt = performance.now();
      let exitedAt: number | undefined;
      const exit = cluster.terminate(leader).then((status) => {
        exitedAt = performance.now();
        return status;
      });
      let successor: string | undefined;
      let agreedAt: number | undefined;
      for (let poll = 0; poll < 5_000 / pollMs && successor === undefined; poll++) {
        successor = await cluster.leader(others);
        if (successor !== undefined) agreedAt = performance.now();
        else await sleep(pollMs);
      }
      const status = await exit;
      assert.equal(status.code, 0, `the old leader exited badly\n${cluster.logs()}`);
      assert.ok(successor !== undefined, `no new leader within 5 s\n${cluster.logs()}`);
      const handoverMs = agreedAt! - signalledAt;
      console.log(
        `[leader sigterm] ${leader} → ${successor}: agreed after ${Math.round(handoverMs)} ms, exit after ${Math.round(exitedAt! - signalledAt)} ms`,
      );
      assert.ok(
        agreedAt! < exitedAt! + electionTimeoutMinMs / 2,
        `the new leader was known only after the old one exited: an election, not a handover\n${cluster.logs()}`,
      );
      assert.ok(handoverMs < handoverMaxMs, `the handover took ${Math.round(handoverMs)} ms`);
      await workload.waitForAcknowledged(10, 20_000);
      await cluster.restart(leader);
      await workload.waitForAcknowledged(10, 20_000);
    }
    await workload.stop();
    await verifyHistory(cluster, history, {
      topics,
      seed,
      label: "leader sigterm",
      faults: rounds,
    });
  });
});

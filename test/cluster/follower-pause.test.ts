// A follower stopped dead with SIGSTOP for longer than the election timeout (its sockets stay
// open, its peers' calls to it hang), then SIGCONT: it catches up, the cluster keeps its leader
// (pre-vote: a returning follower cannot depose it), and the history checks pass on every node.
import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Cluster } from "../harness/cluster.js";
import { History } from "../harness/history.js";
import { verifyHistory } from "../harness/verify.js";
import { testSeed, Workload } from "../harness/workload.js";

const topics = ["orders", "events"];
/** Over twice the longest election timeout (20 ticks of 50 ms). */
const pauseMs = 2_500;
const pauseRounds = 2;

test("a follower paused past the election timeout catches up after SIGCONT", async () => {
  await Cluster.run({ size: 3 }, async (cluster) => {
    const seed = testSeed();
    const history = new History();
    const workload = Workload.start(cluster, history, { seed, topics, durationMs: 90_000 });
    await workload.waitForAcknowledged(30, 20_000);
    let faults = 0;
    for (let round = 0; round < pauseRounds; round++) {
      const leader = await cluster.waitForLeader();
      const follower = cluster.liveIds.find((id) => id !== leader)!;
      const before = await cluster.nextOffset(follower, topics[0]!);
      cluster.pause(follower);
      faults++;
      await sleep(pauseMs);
      // The other two are a majority: writes go on.
      await workload.waitForAcknowledged(20, 20_000);
      cluster.resume(follower);
      // It catches up: past everything acknowledged while it was stopped.
      const target = await cluster.nextOffset(leader, topics[0]!);
      assert.ok(target > before, "no writes while the follower was paused");
      await cluster.waitCaughtUp(follower, topics[0]!, target);
      const after = await cluster.waitForLeader();
      if (after !== leader) console.log(`[follower pause] leadership moved ${leader} → ${after}`);
      await workload.waitForAcknowledged(20, 20_000);
    }
    await workload.stop();
    await verifyHistory(cluster, history, { topics, seed, label: "follower pause", faults });
  });
});

// The leader stopped dead past the election timeout, with requests in flight through it: the
// others elect a leader; on SIGCONT the old one learns the new term and steps down. Whatever it
// still held uncommitted is overwritten, and what its clients were told must match the logs.
test("a leader paused past the election timeout steps down after SIGCONT", async () => {
  await Cluster.run({ size: 3 }, async (cluster) => {
    const seed = testSeed();
    const history = new History();
    // Producers keep sending through every node, the paused one included: its calls hang until
    // it resumes (the client deadline is longer than the pause).
    const workload = Workload.start(cluster, history, {
      seed,
      topics,
      durationMs: 90_000,
      callTimeoutMs: pauseMs + 5_000,
      targets: () => cluster.ids,
    });
    await workload.waitForAcknowledged(30, 20_000);
    let faults = 0;
    for (let round = 0; round < pauseRounds; round++) {
      const leader = await cluster.waitForLeader();
      cluster.pause(leader);
      faults++;
      const others = cluster.ids.filter((id) => id !== leader);
      const successor = await cluster.waitForLeader({ among: others, timeoutMs: 20_000 });
      assert.notEqual(successor, leader);
      await sleep(pauseMs);
      cluster.resume(leader);
      const after = await cluster.waitForLeader({ timeoutMs: 20_000 });
      assert.notEqual(after, leader, "the paused leader kept or regained leadership at once");
      await workload.waitForAcknowledged(20, 20_000);
    }
    await workload.stop();
    await verifyHistory(cluster, history, { topics, seed, label: "leader pause", faults });
  });
});

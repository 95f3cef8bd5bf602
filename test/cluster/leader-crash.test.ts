// A 3-node cluster under concurrent produces through every node while the leader is SIGKILLed
// and restarted on its data directory, twice: no acknowledged record is lost, replicas agree.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Cluster } from "../harness/cluster.js";
import { History } from "../harness/history.js";
import { verifyHistory } from "../harness/verify.js";
import { testSeed, Workload } from "../harness/workload.js";

const topics = ["orders", "events"];
const crashRounds = 2;

test("SIGKILL of the leader under load loses nothing acknowledged", async () => {
  await Cluster.run({ size: 3 }, async (cluster) => {
    const seed = testSeed();
    const history = new History();
    const workload = Workload.start(cluster, history, { seed, topics, durationMs: 90_000 });
    await workload.waitForAcknowledged(40, 20_000);
    let faults = 0;
    for (let round = 0; round < crashRounds; round++) {
      const leader = await cluster.waitForLeader();
      await cluster.kill(leader);
      faults++;
      const successor = await cluster.waitForLeader({ excluding: [leader] });
      assert.notEqual(successor, leader);
      // The two survivors are a majority: writes go on while the old leader is down.
      await workload.waitForAcknowledged(30, 20_000);
      await cluster.restart(leader);
      await workload.waitForAcknowledged(30, 20_000);
    }
    await workload.stop();
    const report = await verifyHistory(cluster, history, {
      topics,
      seed,
      label: "leader crash",
      faults,
    });
    assert.ok(report.acknowledgedRecords > 100, "too few records to prove anything");
  });
});

// Partitions through TCP proxies between the nodes (each node advertises its proxy to peers):
//   1. the leader isolated both ways: the majority elects a leader and takes writes; nothing sent
//      through the isolated node is acknowledged while it is cut off; heal; all converge.
//   2. a one-way cut: the leader receives nothing (black-holed: calls hang, as in a real network)
//      while its own messages still go out; check-quorum makes it step down, the others elect
//      a leader and take writes; heal; all converge.
// The history checker then passes on every node: nothing acknowledged was lost or duplicated.
import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Cluster } from "../harness/cluster.js";
import { exitWhenDone } from "../harness/exit-when-done.js";
import { History } from "../harness/history.js";
import { verifyHistory } from "../harness/verify.js";
import { testSeed, Workload } from "../harness/workload.js";

exitWhenDone();

const topics = ["orders", "events"];
/** How long a cut lasts after the majority took writes (old leader's timeouts run out). */
const partitionHoldMs = 1_000;

test("partitions: isolated leader, one-way cut; the majority goes on, nothing is lost", async () => {
  await Cluster.run({ size: 3, proxies: true }, async (cluster) => {
    const seed = testSeed();
    const history = new History();
    const workload = Workload.start(cluster, history, { seed, topics, durationMs: 90_000 });
    await workload.waitForAcknowledged(30, 20_000);
    let faults = 0;

    // 1. Isolate the leader, both directions.
    const isolated = await cluster.waitForLeader();
    const majority = cluster.ids.filter((id) => id !== isolated);
    cluster.isolate(isolated);
    const isolatedAt = performance.now();
    faults++;
    const successor = await cluster.waitForLeader({ among: majority, timeoutMs: 20_000 });
    assert.notEqual(successor, isolated);
    await workload.waitForAcknowledged(30, 20_000);
    await sleep(partitionHoldMs);
    // The cut was both ways: the others' proxies turned away connections the isolated node
    // opened (it campaigns, or sends appends, while cut off).
    const turnedAway = majority.map((id) => cluster.member(id).proxy!.severedFrom(isolated));
    assert.ok(
      turnedAway.some((count) => count > 0),
      `no connection from ${isolated} was recognised and cut: ${turnedAway}`,
    );
    const healedAt = performance.now();
    cluster.heal();
    // Nothing sent through the cut-off node once it was cut off can have been acknowledged
    // before the heal: an acknowledgement needs a majority.
    const impossible = history.produceOperations.filter(
      (operation) =>
        operation.via === isolated &&
        operation.sentAtMs > isolatedAt + 100 &&
        operation.outcome.kind === "acknowledged" &&
        operation.outcome.ackAtMs < healedAt,
    );
    assert.deepEqual(
      impossible.map((operation) => operation.id),
      [],
      "acknowledged through an isolated node",
    );
    await cluster.waitForLeader({ timeoutMs: 20_000 });
    await workload.waitForAcknowledged(30, 20_000);

    // 2. One-way: the leader hears nothing, its own messages still reach the others.
    const deaf = await cluster.waitForLeader();
    cluster.cut(deaf, undefined, "blackhole");
    faults++;
    const others = cluster.ids.filter((id) => id !== deaf);
    const next = await cluster.waitForLeader({ among: others, timeoutMs: 20_000 });
    assert.notEqual(next, deaf);
    await workload.waitForAcknowledged(30, 20_000);
    await sleep(partitionHoldMs);
    cluster.heal();
    await cluster.waitForLeader({ timeoutMs: 20_000 });
    await workload.waitForAcknowledged(30, 20_000);

    await workload.stop();
    await verifyHistory(cluster, history, { topics, seed, label: "partition", faults });
  });
});

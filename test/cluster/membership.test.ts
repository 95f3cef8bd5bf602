// Membership under load: a 4th node joins with --join (through a follower, which forwards the
// Join) while producers write; it becomes a voter and GetServers lists it everywhere. Then the
// leader is removed with Leave (sent to a follower): it steps down, the others elect a leader
// among themselves and GetServers no longer lists it. The history checks pass on the members left.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Cluster, waitUntil } from "../harness/cluster.js";
import { History } from "../harness/history.js";
import { verifyHistory } from "../harness/verify.js";
import { testSeed, Workload } from "../harness/workload.js";

const topics = ["orders", "events"];

test("membership under load: join a 4th node, then Leave the leader", async () => {
  await Cluster.run({ size: 3 }, async (cluster) => {
    const seed = testSeed();
    const history = new History();
    const workload = Workload.start(cluster, history, { seed, topics, durationMs: 90_000 });
    await workload.waitForAcknowledged(30, 20_000);

    const leader = await cluster.waitForLeader();
    const follower = cluster.ids.find((id) => id !== leader)!;
    await cluster.addNode("n4", { through: follower });
    const four = ["n1", "n2", "n3", "n4"];
    await expectMembership(cluster, cluster.ids, four);
    await workload.waitForAcknowledged(30, 20_000);

    const leaving = await cluster.waitForLeader();
    const asked = cluster.ids.find((id) => id !== leaving)!;
    await cluster.client(asked).cluster.leave({ id: leaving }, { timeoutMs: 10_000 });
    cluster.markRemoved(leaving);
    const remaining = four.filter((id) => id !== leaving);
    const successor = await cluster.waitForLeader({ among: remaining, timeoutMs: 20_000 });
    assert.notEqual(successor, leaving);
    await expectMembership(cluster, remaining, remaining);
    await workload.waitForAcknowledged(30, 20_000);
    await cluster.terminate(leaving);

    await workload.stop();
    await verifyHistory(cluster, history, { topics, seed, label: "membership", faults: 2 });
  });
});

/** Every member of `askIds` lists exactly `expected`, all voters (bounded wait: changes spread). */
async function expectMembership(cluster: Cluster, askIds: string[], expected: string[]) {
  const views = new Map<string, string>();
  await waitUntil(
    async () => {
      for (const id of askIds) {
        views.set(id, (await cluster.membership(id).catch(() => ["(unreachable)"])).join(","));
      }
      return [...views.values()].every((view) => view === [...expected].sort().join(","));
    },
    () => `membership views ${JSON.stringify(Object.fromEntries(views))}, expected ${expected}`,
    15_000,
    100,
  );
}

// A follower whose data directory is wiped comes back with --join under its old id: the cluster
// refuses (already_exists), since a member that forgot its log and votes could lose committed
// entries. The refused attempt leaves the directory empty of cluster state. Only after an explicit
// Leave of its id does a new --join let it in again; it then holds the same records as the others.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Cluster } from "../harness/cluster.js";
import { History } from "../harness/history.js";
import { verifyHistory } from "../harness/verify.js";
import { testSeed, Workload } from "../harness/workload.js";

const topics = ["orders", "events"];

test("a wiped member rejoins only after Leave", async () => {
  await Cluster.run({ size: 3 }, async (cluster) => {
    const seed = testSeed();
    const history = new History();
    const leader = await cluster.waitForLeader();
    const victim = cluster.ids.find((id) => id !== leader)!;
    const survivor = cluster.ids.find((id) => id !== leader && id !== victim)!;
    const workload = Workload.start(cluster, history, {
      seed,
      topics,
      producers: 2,
      durationMs: 60_000,
      targets: () => [leader, survivor],
    });
    await workload.waitForAcknowledged(40, 20_000);

    await cluster.terminate(victim);
    await cluster.wipe(victim);
    const join = ["--join", cluster.member(survivor).address];
    await assert.rejects(cluster.restart(victim, join), /already_exists|already a member/);
    // The refused attempt must not have left cluster state behind: without --join the directory
    // still counts as empty (else the wiped node would come back as a member on its next start).
    await assert.rejects(cluster.restart(victim), /holds no cluster state/);
    assert.deepEqual(
      await cluster.membership(leader),
      [leader, survivor, victim].sort(),
      "the refused join changed the membership",
    );

    // Leave (sent to a follower: forwarded to the leader), then a new --join.
    await cluster.client(survivor).cluster.leave({ id: victim }, { timeoutMs: 10_000 });
    assert.deepEqual(await cluster.membership(leader), [leader, survivor].sort());
    await workload.waitForAcknowledged(20, 20_000);
    await cluster.restart(victim, join);
    assert.deepEqual(await cluster.membership(leader), [leader, survivor, victim].sort());
    await workload.waitForAcknowledged(20, 20_000);

    await workload.stop();
    await verifyHistory(cluster, history, { topics, seed, label: "wiped node", faults: 1 });
  });
});

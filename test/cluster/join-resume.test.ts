// A node killed while it joins (added as a learner, still catching up) and restarted with only
// its data directory must still become a voter. The Join call that would have promoted it is
// gone with the leader that served it; a restart skipped joining because the data directory
// held state, so the node stayed a learner for good: replicating, never counted.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Cluster, waitUntil } from "../harness/cluster.js";
import {
  produceBacklog,
  backlogValues as values,
  waitLearnerHoldingEntries,
} from "./large-backlog.js";

const topic = "resume";

/** A 2-node cluster holding ~19 MB (large-backlog.ts), and n3 killed while a learner. */
async function killedWhileJoining(cluster: Cluster): Promise<{ leader: string; other: string }> {
  const leader = await cluster.waitForLeader();
  const other = cluster.ids.find((id) => id !== leader)!;
  await produceBacklog(cluster, leader, topic);
  const adding = cluster.addNode("n3").then(
    () => undefined,
    (error: unknown) => error,
  );
  // Killed once it is a learner that holds entries (a restart needs state to resume from).
  await waitLearnerHoldingEntries(cluster, leader, "n3");
  await cluster.kill("n3");
  assert.ok((await adding) instanceof Error, "the killed node's start must fail");
  assert.ok((await cluster.membership(leader)).includes("n3 (learner)"));
  return { leader, other };
}

test("a node killed while it joins becomes a voter after a restart with only its data", async () => {
  await Cluster.run({ size: 2 }, async (cluster) => {
    const { leader, other } = await killedWhileJoining(cluster);
    // The Join that was promoting n3 ends with its leader's term.
    await cluster
      .client(leader)
      .cluster.transferLeadership({ targetId: other }, { timeoutMs: 15_000 });
    const newLeader = await cluster.waitForLeader({ excluding: [leader] });

    await cluster.restart("n3");
    await waitUntil(
      async () => (await cluster.membership(newLeader).catch((): string[] => [])).includes("n3"),
      () => `n3 is a voter (${cluster.logs()})`,
      60_000,
    );
    await cluster.waitCaughtUp("n3", topic, values.length, 30_000);
    const [mine, theirs] = await Promise.all([
      cluster.readLog(newLeader, topic),
      cluster.readLog("n3", topic),
    ]);
    assert.equal(mine.length, values.length);
    assert.ok(theirs.length === mine.length && theirs.every((v, i) => v === mine[i]));
    const marker = join(cluster.member("n3").dataDirectory, "join-pending");
    await waitUntil(
      () => !existsSync(marker),
      () => "the join marker is gone",
      10_000,
    );
  });
});

test("a node removed while it was down mid-join is not added back by its restart", async () => {
  await Cluster.run({ size: 2 }, async (cluster) => {
    const { leader } = await killedWhileJoining(cluster);
    await cluster.client(leader).cluster.leave({ id: "n3" }, { timeoutMs: 15_000 });
    cluster.markRemoved("n3");
    await cluster.restart("n3");
    const n3 = cluster.member("n3").process!;
    await waitUntil(
      () => n3.stderr.includes("was removed from the cluster while it was joining"),
      () => `n3 says it was removed (stderr: ${n3.stderr.slice(-2000)})`,
      30_000,
    );
    assert.deepEqual(
      await cluster.membership(leader),
      [leader, cluster.ids.find((id) => id !== leader && id !== "n3")!].sort(),
    );
  });
});

test("a node whose Join's leader dies mid-join finishes through the next leader", async () => {
  await Cluster.run({ size: 3 }, async (cluster) => {
    const leader = await cluster.waitForLeader();
    await produceBacklog(cluster, leader, topic);
    const adding = cluster.addNode("n4", { through: leader });
    await waitLearnerHoldingEntries(cluster, leader, "n4");
    await cluster.kill(leader);
    const newLeader = await cluster.waitForLeader({ excluding: [leader, "n4"] });
    await adding; // n4 serves once its join finished, through the new leader
    assert.ok((await cluster.membership(newLeader)).includes("n4"));
    await cluster.restart(leader);
    await cluster.waitCaughtUp("n4", topic, values.length, 30_000);
  });
});

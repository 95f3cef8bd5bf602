// A node joining a cluster that already holds ~19 MB of large entries: the leader sends the
// backlog as soon as the learner's probe succeeds, hundreds of KiB per append. It must reach the
// learner in frames the learner reads (StepStream refuses a message over its request limit):
// once the whole backlog went out as one 19 MB frame, every stream was refused and the node
// never caught up (its join timed out).
import assert from "node:assert/strict";
import { test } from "node:test";
import { Cluster } from "../harness/cluster.js";
import { produceBacklog, backlogValues as values } from "./large-backlog.js";

const topic = "backlog";

test("a node joins and catches up behind a backlog of large entries", async () => {
  await Cluster.run({ size: 1 }, async (cluster) => {
    const leader = await cluster.waitForLeader();
    await produceBacklog(cluster, leader, topic);
    const began = Date.now();
    await cluster.addNode("n2");
    await cluster.waitCaughtUp("n2", topic, values.length, 30_000);
    console.log(`[join after backlog] n2 joined and caught up in ${Date.now() - began} ms`);
    const [mine, theirs] = await Promise.all([
      cluster.readLog(leader, topic),
      cluster.readLog("n2", topic),
    ]);
    // The requests were concurrent: the leader holds the records in some order, n2 in the same.
    const expected = values.map((value) => Buffer.from(value).toString("utf8")).sort();
    assert.ok([...mine].sort().every((v, i) => v === expected[i]) && mine.length === values.length);
    assert.ok(theirs.length === mine.length && theirs.every((v, i) => v === mine[i]));
  });
});

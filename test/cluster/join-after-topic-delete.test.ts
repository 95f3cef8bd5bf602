// A node that needs a snapshot right after a topic was deleted. The leader's latest snapshot
// listed the topic, and no member serves a deleted topic's records (FetchSnapshot: not_found),
// so the install failed on every try; the leader kept sending that snapshot until it took a later
// one, after 50,000 more entries by default: in a quiet cluster an outside probe saw a joiner
// stay "joining" for good (its Join never finished) and a restarted follower answer not_found for
// a live topic. A deletion now makes the next Ready take a checkpoint.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Cluster } from "../harness/cluster.js";
import { produceInOrder } from "../harness/produce-in-order.js";
import { installedSnapshot } from "../harness/raft-files.js";

test("a node joins, from a snapshot, right after a topic was deleted in a quiet cluster", async () => {
  await Cluster.run(
    { size: 2, args: ["--snapshot-entries", "100", "--compaction-keep-entries", "10"] },
    async (cluster) => {
      const leader = await cluster.waitForLeader();
      const kept: string[] = [];
      const gone: string[] = [];
      for (let i = 0; i < 110; i++) {
        await produceInOrder(cluster, leader, "keep", [`k-${i}`], kept);
        await produceInOrder(cluster, leader, "gone", [`g-${i}`], gone);
      }
      await cluster.client(leader).topics.deleteTopic({ name: "gone" }, { timeoutMs: 10_000 });

      // Nothing more is written: the join must not wait for later entries.
      const joined = await cluster.addNode("n3");
      await cluster.waitConverged(["keep"], { minimum: new Map([["keep", kept.length]]) });
      const { entriesStart } = await installedSnapshot(joined.dataDirectory);
      assert.ok(entriesStart > 2, `n3 installed a snapshot (its log starts at ${entriesStart})`);
      assert.deepEqual(await cluster.readLog("n3", "keep"), kept);
      assert.equal((await cluster.readiness("n3")).status, 200);
    },
  );
});

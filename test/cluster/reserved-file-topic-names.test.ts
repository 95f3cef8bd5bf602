// Topic names that a node's own files have or had. An outside probe produced to a topic named
// COMPLETE, the name of the file that marked a staged snapshot complete: every replica then
// stopped at its next start (it removed the marker from its topics directory, which threw on the
// topic's directory), and no node could install a snapshot (writing the marker into the staging
// directory met the topic's). The marker now has a name no topic can have.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Cluster } from "../harness/cluster.js";
import { produceInOrder } from "../harness/produce-in-order.js";
import { installedSnapshot } from "../harness/raft-files.js";

const topic = "COMPLETE";

test("a topic named COMPLETE survives restarts and snapshot installs", async () => {
  await Cluster.run(
    { size: 2, args: ["--snapshot-entries", "20", "--compaction-keep-entries", "5"] },
    async (cluster) => {
      const acked: string[] = [];
      let leader = await cluster.waitForLeader();
      for (let i = 0; i < 60; i++) await produceInOrder(cluster, leader, topic, [`c-${i}`], acked);
      await cluster.waitConverged([topic], { minimum: new Map([[topic, acked.length]]) });

      for (const id of cluster.ids) {
        await cluster.terminate(id);
        await cluster.restart(id);
      }
      leader = await cluster.waitForLeader();
      for (let i = 60; i < 70; i++) await produceInOrder(cluster, leader, topic, [`c-${i}`], acked);

      // The leader's log was compacted: a new node needs a snapshot, COMPLETE's records in it.
      const joined = await cluster.addNode("n3");
      await cluster.waitConverged([topic], { minimum: new Map([[topic, acked.length]]) });
      const { entriesStart } = await installedSnapshot(joined.dataDirectory);
      assert.ok(entriesStart > 2, `n3 installed a snapshot (its log starts at ${entriesStart})`);
      for (const id of cluster.ids) assert.deepEqual(await cluster.readLog(id, topic), acked, id);
    },
  );
});

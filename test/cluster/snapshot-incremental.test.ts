// A follower that falls behind the leader's compacted Raft log installs a snapshot, and builds
// the topics it already holds from its own records, fetching only the rest from the leader. A
// topic deleted and created again meanwhile is another topic (created by another Raft entry):
// none of the follower's records of the old one may survive, even where the new one is longer.
// Seen from outside: the node logs how it built each topic ("snapshot prepared"), and every node
// ends up holding exactly the records produced, at their acknowledged offsets.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Cluster } from "../harness/cluster.js";

const valueBytes = 2048;
const recordsPerRequest = 20;

interface InstalledTopic {
  name: string;
  reused: number;
  fetched: number;
}

test("a lagging follower installs a snapshot from its own records plus the missing rest", async () => {
  await Cluster.run(
    {
      size: 3,
      args: ["--snapshot-bytes", String(256 * 1024), "--compaction-keep-bytes", String(128 * 1024)],
    },
    async (cluster) => {
      const expected = new Map<string, string[]>([
        ["kept", []],
        ["redone", []],
      ]);
      const produce = async (leader: string, topic: string, requests: number, tag: string) => {
        const values = expected.get(topic)!;
        for (let request = 0; request < requests; request++) {
          const batch = Array.from({ length: recordsPerRequest }, (_, i) =>
            `${tag}-${request}-${i}-`.padEnd(valueBytes, "x"),
          );
          const response = await cluster
            .client(leader)
            .log.produce(
              { topic, records: batch.map((value) => ({ value: Buffer.from(value) })) },
              { timeoutMs: 20_000 },
            );
          assert.deepEqual(
            response.offsets.map(Number),
            batch.map((_, i) => values.length + i),
          );
          values.push(...batch);
        }
      };
      let leader = await cluster.waitForLeader();
      await produce(leader, "kept", 20, "a");
      await produce(leader, "redone", 10, "old");
      const lagging = cluster.ids.find((id) => id !== leader)!;
      await cluster.waitConverged(["kept", "redone"]);
      await cluster.kill(lagging);

      // While it is down: more records, and "redone" deleted and created again, longer than before.
      leader = await cluster.waitForLeader({ excluding: [lagging] });
      await produce(leader, "kept", 20, "b");
      await cluster.client(leader).topics.deleteTopic({ name: "redone" }, { timeoutMs: 10_000 });
      expected.set("redone", []);
      await produce(leader, "redone", 15, "new");

      await cluster.restart(lagging);
      await cluster.waitConverged(["kept", "redone"], {
        minimum: new Map([...expected].map(([topic, values]) => [topic, values.length])),
        timeoutMs: 60_000,
      });
      const prepared = cluster
        .member(lagging)
        .process!.stdout.map((line) => JSON.parse(line) as { message?: string; topics?: unknown })
        .filter((entry) => entry.message === "snapshot prepared");
      assert.ok(prepared.length > 0, `${lagging} installed no snapshot\n${cluster.logs()}`);
      const topics = new Map(
        (prepared.at(-1)!.topics as InstalledTopic[]).map((topic) => [topic.name, topic]),
      );
      // The snapshot covers what the leader held when it was taken; entries after it replay.
      const kept = topics.get("kept")!;
      assert.equal(kept.reused, 400, `kept: ${JSON.stringify(kept)}`);
      assert.ok(kept.fetched > 0 && kept.fetched <= 400, `kept: ${JSON.stringify(kept)}`);
      const redone = topics.get("redone")!;
      assert.equal(redone.reused, 0, `redone: ${JSON.stringify(redone)}`);
      assert.ok(redone.fetched > 0 && redone.fetched <= 300, `redone: ${JSON.stringify(redone)}`);

      for (const id of cluster.ids) {
        for (const [topic, values] of expected) {
          const held = await cluster.readLog(id, topic);
          assert.equal(held.length, values.length, `${id} ${topic}: ${held.length} records`);
          const differing = held.findIndex((value, offset) => value !== values[offset]);
          assert.equal(differing, -1, `${id} ${topic}: record ${differing} differs`);
        }
      }
      console.log(`[snapshot incremental] ${lagging}: ${JSON.stringify([...topics.values()])}`);
    },
  );
});

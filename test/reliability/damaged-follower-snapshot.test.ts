// A follower with one damaged record in a sealed topic segment falls behind the leader's
// compacted Raft log, so it must install a snapshot, built from its own records where it can.
// Its own copy of the damaged record fails its CRC: the records before it are kept, the rest is
// fetched from the leader, and the damaged copy is discarded with the old topic log. It logs
// that once, not a stack per retry. Afterwards every acknowledged record is on every node, at
// its offset, and reads back intact (the damaged one too: the replica repaired it from a peer).
import assert from "node:assert/strict";
import { test } from "node:test";
import { Cluster } from "../harness/cluster.js";
import { damageSealedRecord } from "../harness/damaged-record.js";
import { produceInOrder } from "../harness/produce-in-order.js";

const topic = "fragile";
const args = [
  "--snapshot-entries",
  "50",
  "--compaction-keep-entries",
  "20",
  "--segment-bytes",
  String(64 * 1024),
];

test("a follower whose own copy is damaged still installs the snapshot it needs, repaired from a peer", async () => {
  await Cluster.run({ size: 3, args }, async (cluster) => {
    const acked: string[] = [];
    const produce = async (leader: string, requests: number, records: number, tag: string) => {
      for (let request = 0; request < requests; request++) {
        const values = Array.from({ length: records }, (_, i) =>
          `${tag}-${request}-${i}-`.padEnd(200, "v"),
        );
        await produceInOrder(cluster, leader, topic, values, acked);
      }
    };

    let leader = await cluster.waitForLeader();
    // ~430 KB: several 64 KiB segments, in 100 entries: the follower's own checkpoints cover
    // the oldest segment, so its restart does not rewrite it by replaying its Raft log.
    await produce(leader, 100, 20, "a");
    const follower = cluster.ids.find((id) => id !== leader)!;
    await cluster.waitConverged([topic], { minimum: new Map([[topic, acked.length]]) });
    await cluster.terminate(follower);
    const damaged = await damageSealedRecord(
      cluster.member(follower).dataDirectory,
      topic,
      (count) => Math.floor(count / 2),
    );

    // 120 entries while it is down: the leader snapshots every 50 and keeps 20 behind, so the
    // follower's next entry is gone from its log and it gets a snapshot.
    leader = await cluster.waitForLeader({ excluding: [follower] });
    await produce(leader, 120, 5, "b");
    await cluster.restart(follower);
    await cluster.waitConverged([topic], {
      minimum: new Map([[topic, acked.length]]),
      timeoutMs: 60_000,
    });

    const node = cluster.member(follower).process!;
    const prepared = node.stdout.filter((line) => line.includes('"snapshot prepared"'));
    assert.ok(prepared.length > 0, `${follower} installed no snapshot`);
    // Kept: its own records before the damaged one (the oldest segment starts at 0); the rest of
    // what the snapshot covers was fetched (entries after the snapshot are replicated as such).
    const built = JSON.parse(prepared.at(-1)!) as { topics: { reused: number; fetched: number }[] };
    assert.equal(built.topics[0]!.reused, damaged.offset, prepared.at(-1));
    assert.ok(built.topics[0]!.fetched > 0, prepared.at(-1));
    const warnings = node.stderr
      .split("\n")
      .filter((line) => line.includes(`topic ${topic} is damaged here`));
    assert.ok(
      warnings.length >= 1 && warnings.length <= 2,
      `expected one warning about the damaged record, got ${warnings.length}: ${prepared.join("\n")}\n${node.stderr}`,
    );
    assert.match(warnings[0]!, new RegExp(`corrupt record at offset ${damaged.offset}\\b`));
    const stacks = node.stderr.split("\n").filter((line) => line.includes('"level":"error"'));
    assert.deepEqual(stacks, [], "errors logged by the follower");

    // Every acknowledged record on every node, byte for byte, the damaged offset included.
    for (const id of cluster.ids) {
      const held = await cluster.readLog(id, topic);
      assert.equal(held.length, acked.length, `${id}: ${held.length} records`);
      const differing = held.findIndex((value, offset) => value !== acked[offset]);
      assert.equal(differing, -1, `${id}: record ${differing} differs`);
    }
    const ready = await fetch(`http://${cluster.member(follower).address}/readyz`);
    assert.equal(ready.status, 200, await ready.text());
    console.log(
      `[damaged follower] ${follower}: record ${damaged.offset} damaged; ${acked.length} records identical on ${cluster.ids.length} nodes; ${prepared.at(-1)}`,
    );
  });
});

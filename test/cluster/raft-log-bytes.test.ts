// The Raft log a node keeps in memory is bounded in bytes, not only in entries: with large
// entries (here ~200 KiB produce requests) a node snapshots every --snapshot-bytes and keeps at
// most --compaction-keep-bytes behind a snapshot, long before the entry-count defaults (50,000 and
// 10,000) would. Seen from outside: after ~12 MB in a few dozen entries the leader has taken
// snapshots, and a node that joins then must install one (its Raft log starts after it) — and
// still holds exactly the records the others hold.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Cluster } from "../harness/cluster.js";
import { produceInOrder } from "../harness/produce-in-order.js";
import { installedSnapshot } from "../harness/raft-files.js";

const topic = "big";
const requests = 60;
const recordsPerRequest = 4;
const valueBytes = 50 * 1024;

test("large entries trigger snapshots and compaction by bytes; a joiner installs a snapshot", async () => {
  await Cluster.run(
    {
      size: 3,
      args: [
        "--snapshot-bytes",
        String(1024 * 1024),
        "--compaction-keep-bytes",
        String(512 * 1024),
      ],
    },
    async (cluster) => {
      const leader = await cluster.waitForLeader();
      const expected: string[] = [];
      for (let request = 0; request < requests; request++) {
        const values = Array.from({ length: recordsPerRequest }, (_, i) =>
          `${request}-${i}-`.padEnd(valueBytes, String.fromCharCode(97 + ((request + i) % 26))),
        );
        await produceInOrder(cluster, leader, topic, values, expected);
      }
      const leaderState = await installedSnapshot(cluster.member(leader).dataDirectory);
      assert.ok(
        leaderState.snapshotIndex > requests / 4,
        `the leader took no snapshot by bytes: its latest is at ${leaderState.snapshotIndex}`,
      );

      const joined = await cluster.addNode("n4");
      await cluster.waitConverged([topic], { minimum: new Map([[topic, expected.length]]) });
      const installed = await installedSnapshot(joined.dataDirectory);
      assert.ok(
        installed.entriesStart > 2 && installed.snapshotIndex >= installed.entriesStart - 1,
        `n4 was sent entries from the start: its Raft log starts at ${installed.entriesStart}, its snapshot is at ${installed.snapshotIndex}`,
      );
      for (const id of cluster.ids) {
        const values = await cluster.readLog(id, topic);
        assert.equal(values.length, expected.length, `${id} holds ${values.length} records`);
        const differing = values.findIndex((value, offset) => value !== expected[offset]);
        assert.equal(differing, -1, `${id}: record ${differing} differs`);
      }
      console.log(
        `[raft log bytes] leader snapshot at ${leaderState.snapshotIndex} after ${requests} entries; n4 installed one at ${installed.entriesStart - 1}`,
      );
    },
  );
});

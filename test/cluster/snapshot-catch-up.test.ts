// Snapshot catch-up: nodes snapshot every 200 applied entries and keep 10,000 entries behind the
// snapshot for lagging followers, so past ~10,400 entries the leader's Raft log no longer starts
// at the beginning. A node that joins then cannot be sent entries from the start: it installs a
// snapshot, fetching each topic's records from the leader with RaftService.FetchSnapshot, while
// producers go on. Proven on disk (its Raft log begins right after an installed snapshot, not at
// the first entry) and by the history checker: it holds the very records the others hold.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Cluster } from "../harness/cluster.js";
import { History } from "../harness/history.js";
import { installedSnapshot } from "../harness/raft-files.js";
import { verifyHistory } from "../harness/verify.js";
import { testSeed, Workload } from "../harness/workload.js";

const topics = ["orders", "events", "audit"];
const snapshotEntries = 200;
/** The driver's default compaction lag (entries kept behind a snapshot), plus a margin. */
const entriesBeforeJoin = 10_000 + 3 * snapshotEntries;

test("a node joining after log compaction catches up from a snapshot", async () => {
  await Cluster.run(
    {
      size: 3,
      args: ["--snapshot-entries", String(snapshotEntries)],
    },
    async (cluster) => {
      const seed = testSeed();
      const history = new History();
      // One Raft entry per produce request: many small concurrent requests fill the log fastest.
      const workload = Workload.start(cluster, history, {
        seed,
        topics,
        producers: 96,
        consumers: 1,
        recordsPerRequestMax: 1,
        requestsMax: 300,
        producerPauseMs: 0,
        durationMs: 150_000,
      });
      await workload.waitForAcknowledged(entriesBeforeJoin, 120_000);

      const joined = await cluster.addNode("n4");
      await workload.waitForAcknowledged(200, 30_000);
      await workload.stop();

      const installed = await installedSnapshot(joined.dataDirectory);
      assert.ok(
        installed.entriesStart > 2 && installed.snapshotIndex >= installed.entriesStart - 1,
        `n4 did not catch up from a snapshot: its Raft log starts at ${installed.entriesStart}, its snapshot is at ${installed.snapshotIndex}\n${cluster.logs()}`,
      );
      console.log(
        `[snapshot catch-up] n4's Raft log starts at ${installed.entriesStart}: it installed a snapshot at ${installed.entriesStart - 1}`,
      );
      await verifyHistory(cluster, history, {
        topics,
        seed,
        label: "snapshot catch-up",
        faults: 0,
      });
    },
  );
});

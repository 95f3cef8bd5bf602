// A follower's disk fills while the leader's has room. Every node guards its own disk: the
// follower stops taking Raft entries at its reserve instead of writing until ENOSPC (fatal by
// design, see docs/DECISIONS.md), stays up and serves, and catches up once space returns.
//
// n1 and n2 on ordinary temp directories; n3 on a 64 MiB tmpfs (or loop ext4; skipped, saying
// why, when nothing can be mounted) mostly taken by a filler file, with --disk-reserve-bytes
// 8 MiB. Produce to the leader until n3 says it refuses entries and its disk is within 2 MiB of
// the reserve, and some more: every produce is acknowledged (n1 and n2 commit), n3 still runs and
// answers GetServers and Consume, holds fewer records than were acknowledged (taking them all
// would have put it below its reserve), and every acknowledged record is on n1 and n2. Then the
// filler is removed: n3 holds the whole topic, identical to the leader's, within a bounded wait.
//
// n3's first refusal is not enough to stop the fill at: its guard charges an entry twice (Raft
// log and topic log), but the Raft log's copy lands in zeros written ahead, so it refuses while
// the disk still has megabytes above the reserve; its next sample shows them, and it rightly takes
// entries again. On a loaded machine it could catch up with the whole topic that way.
import assert from "node:assert/strict";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { Cluster, waitUntil, withLogs } from "../harness/cluster.js";
import { freeBytes, mountSmall } from "./small-filesystem.js";
import {
  type Acknowledged,
  type Clients,
  checkLog,
  clientsFor,
  MiB,
  produceValues,
  readTopic,
} from "./support.js";

const sizeMiB = 64;
const fillerBytes = 24 * MiB;
const reserveBytes = 8 * MiB;
const refusingLine = "takes no new Raft entries";
/** Bounds of the fill: batches of 4 × 64 KiB, and wall time. */
const fillBatchesMax = 600;
const fillMs = 120_000;
/**
 * The fill stops once n3's disk has less than this above the reserve: the most n3 is offered in
 * one append (1 MiB of entries, the leader's message size) charged twice, so n3 refuses whatever
 * it is offered from there on.
 */
const fullWithinBytes = 2 * MiB;
/** Once n3 refused, how long it gets to take what it has room for before the next batch. */
const settleMs = 2_500;
/**
 * Batches produced once n3 is full, to show the cluster still commits: 3 MiB of records, more than
 * n3 has above its reserve.
 */
const batchesWhileFull = 12;
const catchUpWithinMs = 60_000;

test("a follower at its disk reserve refuses entries, stays up, loses nothing, and catches up", async (t) => {
  const mounted = await mountSmall(sizeMiB);
  if (typeof mounted === "string") {
    t.skip(mounted);
    return;
  }
  const filler = join(mounted.directory, "filler");
  await writeFile(filler, Buffer.alloc(fillerBytes, 1));
  const cluster = await Cluster.start({ size: 2 });
  const opened: Clients[] = [];
  const clientOf = (id: string) => {
    const clients = clientsFor(`http://${cluster.member(id).address}`);
    opened.push(clients);
    return clients;
  };
  try {
    await cluster.addNode("n3", {
      dataDirectory: join(mounted.directory, "n3"),
      args: ["--disk-reserve-bytes", String(reserveBytes)],
    });
    const n3 = cluster.member("n3").process!;
    const leaderId = await cluster.leader();
    assert.ok(leaderId !== undefined && leaderId !== "n3", `leader ${leaderId}`);
    const healthyId = leaderId === "n1" ? "n2" : "n1";
    const leader = clientOf(leaderId);
    const acked: Acknowledged = new Map();
    const value = "f".repeat(64 * 1024);
    let sequence = 0;
    const batch = () => Array.from({ length: 4 }, () => `${sequence++}:${value}`);

    // Fill n3 to its reserve through replication; every produce must still be acknowledged.
    const deadline = Date.now() + fillMs;
    let batches = 0;
    const full = async () =>
      n3.stderr.includes(refusingLine) &&
      (await freeBytes(mounted.directory)) < reserveBytes + fullWithinBytes;
    while (n3.running && !(await full())) {
      if (batches >= fillBatchesMax || Date.now() >= deadline) {
        const refused = n3.stderr.includes(refusingLine) ? "refused entries" : "never refused";
        const free = await freeBytes(mounted.directory);
        assert.fail(`n3 never reached its reserve: it ${refused}, ${free} bytes free`);
      }
      if (n3.stderr.includes(refusingLine)) {
        // n3 may have refused early (see above) and take what the leader holds for it after its
        // next sample (every second): let it, rather than produce more than its disk can hold
        // even once the filler is gone.
        const settled = Date.now() + settleMs;
        while (Date.now() < settled && !(await full())) await delay(100);
        if (await full()) break;
      }
      await produceValues(leader, "fill", batch(), acked, 30_000);
      batches++;
    }
    assert.ok(n3.running, `n3 exited while filling:\n${n3.describe()}`);
    const ackedAtRefusal = acked.size;
    for (let i = 0; i < batchesWhileFull; i++) {
      await produceValues(leader, "fill", batch(), acked, 30_000);
    }
    const freeWhileFull = await freeBytes(mounted.directory);
    assert.ok(n3.running, `n3 exited while full:\n${n3.describe()}`);
    assert.doesNotMatch(n3.stderr, /fatal/);
    // Alive and serving: membership, and the records it has; not ready (it takes no entries).
    const readyWhileFull = await fetch(`http://${cluster.member("n3").address}/readyz`);
    assert.equal(readyWhileFull.status, 503, "n3's /readyz while it refuses entries");
    const readyBody = (await readyWhileFull.json()) as { reason?: string };
    assert.match(String(readyBody.reason), /nearly full/);
    const servers = await cluster.servers("n3");
    assert.equal(servers.servers.length, 3);
    const onN3 = await readTopic(clientOf("n3"), "fill");
    assert.ok(
      onN3.length < acked.size,
      `n3 took every entry (${acked.size}, ${freeWhileFull} bytes free): it wrote past its reserve`,
    );
    checkLog(onN3, new Map([...acked].filter(([offset]) => offset < onN3.length)), "n3 while full");
    let checked = checkLog(await readTopic(leader, "fill"), acked, `leader ${leaderId}`);
    const healthy = clientOf(healthyId);
    await waitUntil(
      async () => (await readTopic(healthy, "fill")).length >= acked.size,
      () => `${healthyId} did not reach ${acked.size} records`,
      30_000,
      200,
    );
    checkLog(await readTopic(healthy, "fill"), acked, healthyId);

    // Space returns: n3 takes entries again and catches up, without a restart.
    await rm(filler);
    const freed = Date.now();
    const n3Clients = clientOf("n3");
    await waitUntil(
      async () => {
        const topic = await n3Clients.topics.getTopic({ name: "fill" });
        return Number(topic.topic?.nextOffset ?? 0) >= acked.size;
      },
      () => `n3 did not catch up with ${acked.size} records`,
      catchUpWithinMs,
      200,
    );
    const catchUpMs = Date.now() - freed;
    const leaderRecords = await readTopic(leader, "fill");
    const n3Records = await readTopic(n3Clients, "fill");
    assert.deepEqual(n3Records, leaderRecords, "n3's topic differs from the leader's");
    checked = checkLog(n3Records, acked, "n3 after space returned");
    assert.ok(n3.running, n3.describe());
    assert.match(n3.stdout.join("\n"), /has room again/);
    assert.equal((await fetch(`http://${cluster.member("n3").address}/readyz`)).status, 200);
    console.log(
      `[follower disk full] ${mounted.kind}, reserve ${reserveBytes / MiB} MiB: n3 refused ` +
        `entries at its reserve after ${ackedAtRefusal} acknowledged records and held ` +
        `${onN3.length} of ${acked.size} while full (${(freeWhileFull / MiB).toFixed(1)} MiB free); all ` +
        `${acked.size} acknowledged, ${checked} checked on ${leaderId}, ${healthyId} and n3, ` +
        `lost 0; n3 caught up ${catchUpMs} ms after the filler was removed`,
    );
  } catch (error) {
    throw withLogs(error, cluster);
  } finally {
    for (const clients of opened) clients.close();
    await cluster.close();
    await mounted.unmount();
  }
});

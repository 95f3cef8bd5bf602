// The disks of a majority of voters fill while the leader's has room. Each follower drops the
// entries it has no room for and says so on every batch it sends (StepRequest.refusing_entries);
// the leader, hearing that the voters with room are no majority, answers writes at once with
// resource_exhausted instead of proposing entries that cannot commit (the client would wait out
// the 30 s proposal timeout for "unavailable, outcome unknown").
//
// n1 (the leader) on an ordinary temp directory; n2 and n3 each on a 64 MiB tmpfs (or loop ext4;
// skipped, saying why, when nothing can be mounted) partly taken by a filler file, more on n3's,
// with --disk-reserve-bytes 8 MiB. Produce to the leader:
//   1. until n3 refuses entries, and some more: one follower full, every produce is acknowledged
//      (n1 and n2 commit) and the leader stays ready;
//   2. until n2 refuses too, and both disks are filled below the reserve: now produce through the leader and through either follower, and a
//      topic creation, answer resource_exhausted well within the proposal timeout, and the
//      leader's /readyz says why;
//   3. the fillers are removed: produce works again, through the leader and a follower, and every
//      node holds every acknowledged record at its offset.
import assert from "node:assert/strict";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { ConnectError } from "@connectrpc/connect";
import { Cluster, waitUntil, withLogs } from "../harness/cluster.js";
import { freeBytes, mountSmall } from "./small-filesystem.js";
import {
  type Acknowledged,
  type Clients,
  Code,
  checkLog,
  clientsFor,
  MiB,
  produceValues,
  readTopic,
  sleep,
} from "./support.js";

const sizeMiB = 64;
/** n3 fills first: its filler leaves it ~16 MiB less room than n2's leaves n2. */
const fillerBytes = { n2: 4 * MiB, n3: 20 * MiB };
const reserveBytes = 8 * MiB;
/** How far below the reserve the full disks are taken (more than a node has in flight). */
const belowReserveBytes = 2 * MiB;
const refusingLine = "takes no new Raft entries";
/** Bounds of each fill: batches of 4 × 64 KiB, and wall time. */
const fillBatchesMax = 400;
const fillMs = 120_000;
/** Batches produced once n3 refuses, to show that the majority with room still commits. */
const batchesWithOneFull = 8;
/** A refusal must come well within the 30 s proposal timeout (not a tight timing). */
const refusalWithinMs = 10_000;
const recoverWithinMs = 60_000;

test("with a majority of voters out of disk, writes are resource_exhausted at once, nothing is lost, and they resume", async (t) => {
  const mounts = { n2: await mountSmall(sizeMiB), n3: await mountSmall(sizeMiB) };
  if (typeof mounts.n2 === "string" || typeof mounts.n3 === "string") {
    for (const mounted of Object.values(mounts))
      if (typeof mounted !== "string") await mounted.unmount();
    t.skip(String(typeof mounts.n2 === "string" ? mounts.n2 : mounts.n3));
    return;
  }
  const disks = { n2: mounts.n2, n3: mounts.n3 };
  const fillers = {
    n2: join(disks.n2.directory, "filler"),
    n3: join(disks.n3.directory, "filler"),
  };
  await writeFile(fillers.n2, Buffer.alloc(fillerBytes.n2, 1));
  await writeFile(fillers.n3, Buffer.alloc(fillerBytes.n3, 1));
  const cluster = await Cluster.start({ size: 1 });
  const opened: Clients[] = [];
  const clientOf = (id: string) => {
    const clients = clientsFor(`http://${cluster.member(id).address}`);
    opened.push(clients);
    return clients;
  };
  const readyz = async (id: string) => {
    const response = await fetch(`http://${cluster.member(id).address}/readyz`);
    const body = (await response.json()) as { reason?: string };
    return { status: response.status, reason: String(body.reason ?? "") };
  };
  try {
    for (const id of ["n2", "n3"] as const) {
      await cluster.addNode(id, {
        dataDirectory: join(disks[id].directory, id),
        args: ["--disk-reserve-bytes", String(reserveBytes)],
      });
    }
    const proc = (id: string) => cluster.member(id).process!;
    assert.equal(await cluster.waitForLeader(), "n1");
    const leader = clientOf("n1");
    const acked: Acknowledged = new Map();
    const value = "m".repeat(64 * 1024);
    let sequence = 0;
    const batch = () => Array.from({ length: 4 }, () => `${sequence++}:${value}`);

    // 1. n3 fills to its reserve; n1 and n2 still commit every produce.
    const deadline1 = Date.now() + fillMs;
    for (let batches = 0; !proc("n3").stderr.includes(refusingLine); batches++) {
      assert.ok(batches < fillBatchesMax && Date.now() < deadline1, "n3 never refused entries");
      assert.ok(proc("n3").running, `n3 exited while filling:\n${proc("n3").describe()}`);
      await produceValues(leader, "fill", batch(), acked, 30_000);
    }
    const ackedAtN3Refusal = acked.size;
    await waitUntil(
      () => /a peer refuses Raft entries[^\n]*"peer":"n3"/.test(proc("n1").stderr),
      () => "n1 never heard that n3 refuses entries",
      refusalWithinMs,
    );
    for (let i = 0; i < batchesWithOneFull; i++) {
      await produceValues(leader, "fill", batch(), acked, 30_000);
    }
    assert.doesNotMatch(proc("n2").stderr, new RegExp(refusingLine), "n2 filled too early");
    assert.equal((await readyz("n1")).status, 200, "the leader with one follower full");
    const ackedWithOneFull = acked.size;

    // 2. n2 fills too. The produce whose entry n2 refuses first cannot commit (the leader could
    // not know): it is kept aside, and must not be acknowledged unless it committed.
    let stuck: Promise<unknown> | undefined;
    let refusedAtFill: ConnectError | undefined;
    const deadline2 = Date.now() + fillMs;
    for (let batches = 0; stuck === undefined && refusedAtFill === undefined; batches++) {
      assert.ok(batches < fillBatchesMax && Date.now() < deadline2, "n2 never refused entries");
      assert.ok(proc("n2").running, `n2 exited while filling:\n${proc("n2").describe()}`);
      const outcome = produceValues(leader, "fill", batch(), acked, 60_000).then(
        () => "acknowledged" as const,
        (error: unknown) => ConnectError.from(error),
      );
      // Until it settles or n2 says it refuses entries; bounded by the produce's own deadline.
      for (let polls = 0; ; polls++) {
        assert.ok(polls < 1_500, "a produce neither settled nor met a refusal in 75 s");
        const settled = await Promise.race([outcome, sleep(50).then(() => undefined)]);
        if (settled === "acknowledged") break;
        if (settled instanceof ConnectError) {
          // The leader heard before this produce (a follower says so once its disk is below the
          // reserve, before it drops anything).
          assert.equal(settled.code, Code.ResourceExhausted, settled.message);
          refusedAtFill = settled;
          break;
        }
        if (proc("n2").stderr.includes(refusingLine)) {
          stuck = outcome;
          break;
        }
      }
    }
    // Both now hover at their reserve: a follower that dropped an entry may take it after its next
    // sample (its estimate between samples errs on the safe side). Something else fills both
    // disks the rest of the way, below the reserve, so that they stay full until space returns.
    const toppedUp: string[] = [];
    for (const id of ["n2", "n3"] as const) {
      const surplus = (await freeBytes(disks[id].directory)) - (reserveBytes - belowReserveBytes);
      const topUp = join(disks[id].directory, "top-up");
      if (surplus > 0) await writeFile(topUp, Buffer.alloc(surplus, 1));
      toppedUp.push(topUp);
    }
    // Until each follower's guard samples its disk again (every second), its estimate predates
    // the top-up: it may still take the entry it dropped, and then say it refuses none.
    await sleep(2_500);
    await waitUntil(
      async () => /out of disk space/.test((await readyz("n1")).reason),
      () => "n1's /readyz never said its voters are out of disk space",
      refusalWithinMs,
    );
    const ready = await readyz("n1");
    assert.equal(ready.status, 503);
    assert.match(ready.reason, /^2 of 3 voters are out of disk space or open files \(n2, n3\)/);
    const ackedBeforeRefusals = acked.size;
    const refusals: string[] = [];
    for (const via of ["n1", "n2", "n3"]) {
      const started = Date.now();
      const error = await produceValues(clientOf(via), "fill", batch(), acked, 30_000).then(
        () => assert.fail(`a produce through ${via} was acknowledged with 2 of 3 voters full`),
        (caught: unknown) => ConnectError.from(caught),
      );
      const tookMs = Date.now() - started;
      assert.equal(error.code, Code.ResourceExhausted, `through ${via}: ${error.message}`);
      assert.match(
        error.rawMessage,
        /2 of 3 voters are out of disk space or open files \(n2, n3\)/,
      );
      assert.ok(tookMs < refusalWithinMs, `through ${via}: refused after ${tookMs} ms`);
      refusals.push(`${via} ${tookMs} ms`);
    }
    const creation = await leader.topics
      .createTopic({ name: "another" }, { timeoutMs: 30_000 })
      .then(
        () => assert.fail("a topic was created with 2 of 3 voters full"),
        (caught: unknown) => ConnectError.from(caught),
      );
    assert.equal(creation.code, Code.ResourceExhausted, creation.message);
    assert.equal(acked.size, ackedBeforeRefusals);
    for (const id of ["n2", "n3"]) {
      assert.ok(proc(id).running, `${id} exited while full:\n${proc(id).describe()}`);
      assert.doesNotMatch(proc(id).stderr, /fatal/);
    }

    // 3. Space returns: writes commit again, through the leader and through a follower.
    for (const file of [fillers.n2, fillers.n3, ...toppedUp]) await rm(file, { force: true });
    const freed = Date.now();
    let resumed = false;
    await waitUntil(
      async () => {
        try {
          await produceValues(leader, "fill", batch(), acked, 5_000);
          resumed = true;
        } catch (error) {
          const code = ConnectError.from(error).code;
          // Refused until the followers take entries again; a produce proposed just before the
          // leader hears so may time out here and commit later (outcome unknown).
          assert.ok(
            code === Code.ResourceExhausted || code === Code.DeadlineExceeded,
            `after space returned: ${String(error)}`,
          );
        }
        return resumed;
      },
      () => "produce never worked again after space returned",
      recoverWithinMs,
      200,
    );
    const resumeMs = Date.now() - freed;
    await produceValues(clientOf("n3"), "fill", batch(), acked, 30_000);
    assert.equal((await readyz("n1")).status, 200);
    // The produce kept aside: committed once space returned, or timed out (outcome unknown).
    const stuckOutcome = await stuck;
    if (stuckOutcome instanceof ConnectError)
      assert.equal(stuckOutcome.code, Code.Unavailable, stuckOutcome.message);

    // Nothing acknowledged is lost: every node holds every acknowledged record at its offset.
    await cluster.waitConverged(["fill"], { timeoutMs: recoverWithinMs });
    const leaderRecords = await readTopic(leader, "fill");
    let checked = 0;
    for (const id of ["n1", "n2", "n3"]) {
      const records = await readTopic(clientOf(id), "fill");
      assert.deepEqual(records, leaderRecords, `${id}'s topic differs from the leader's`);
      checked += checkLog(records, acked, id);
    }
    console.log(
      `[majority disk full] ${disks.n2.kind}, reserve ${reserveBytes / MiB} MiB: n3 refused ` +
        `entries first (after ${ackedAtN3Refusal} records), ${ackedWithOneFull - ackedAtN3Refusal} ` +
        `more were acknowledged with it full; with n2 full too ${stuck === undefined ? "no produce was in flight" : `one produce was in flight (${stuckOutcome instanceof ConnectError ? stuckOutcome.message : "acknowledged once space returned"})`}` +
        `${refusedAtFill === undefined ? "" : " (refused at once)"}; produce refused through ` +
        `${refusals.join(", ")}; resumed ${resumeMs} ms after the fillers were removed; ` +
        `${acked.size} acknowledged, ${checked} records checked on 3 nodes, lost 0`,
    );
  } catch (error) {
    throw withLogs(error, cluster);
  } finally {
    for (const clients of opened) clients.close();
    await cluster.close();
    await disks.n2.unmount();
    await disks.n3.unmount();
  }
});

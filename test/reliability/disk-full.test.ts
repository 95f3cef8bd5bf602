// Disk full: a node whose data directory is a small size-limited filesystem (a 48 MiB tmpfs, or a
// loop-mounted ext4 image when tmpfs cannot be mounted; skipped, saying why, when neither can —
// mounting needs root). Never faked.
//
// 1. With --disk-reserve-bytes 8 MiB: produce until refused. The refusal is resource_exhausted;
//    everything acknowledged is there; once space returns (a filler file we made is removed) a
//    produce succeeds again, without a restart.
// 2. With --disk-reserve-bytes 0 the disk truly fills. The node must not acknowledge anything it
//    did not persist: it either refuses, or exits (a failed Raft log write is fatal by design, see
//    docs/DECISIONS.md). After a restart with room, every acknowledged record is there.
import assert from "node:assert/strict";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { ConnectError } from "@connectrpc/connect";
import { NodeProcess } from "../harness/node-process.js";
import { freeBytes, mountSmall } from "./small-filesystem.js";
import {
  type Acknowledged,
  Code,
  checkLog,
  clientsFor,
  MiB,
  produceValues,
  readTopic,
  sleep,
} from "./support.js";

const sizeMiB = 48;
const reserveBytes = 8 * MiB;
/** After space returns, a produce must succeed within this long (the guard samples every 1 s). */
const resumeWithinMs = 10_000;

test("at the reserve, produce is resource_exhausted, nothing is lost, and it resumes when space returns", async (t) => {
  const mounted = await mountSmall(sizeMiB);
  if (typeof mounted === "string") {
    t.skip(mounted);
    return;
  }
  const filler = join(mounted.directory, "filler");
  await writeFile(filler, Buffer.alloc(12 * MiB, 1));
  const node = await NodeProcess.start({
    dataDirectory: join(mounted.directory, "data"),
    args: ["--bootstrap", "--disk-reserve-bytes", String(reserveBytes), "--snapshot-entries", "50"],
  });
  const clients = clientsFor(node.baseUrl);
  const acked: Acknowledged = new Map();
  try {
    const value = "d".repeat(64 * 1024);
    let sequence = 0;
    let refusal: ConnectError | undefined;
    const deadline = Date.now() + 60_000;
    for (let i = 0; i < 2_000 && Date.now() < deadline; i++) {
      try {
        await produceValues(
          clients,
          "fill",
          Array.from({ length: 4 }, () => `${sequence++}:${value}`),
          acked,
        );
      } catch (error) {
        refusal = ConnectError.from(error);
        break;
      }
    }
    assert.ok(refusal !== undefined, "the disk never filled");
    assert.equal(refusal.code, Code.ResourceExhausted, refusal.message);
    assert.match(refusal.rawMessage, /nearly full/);
    const free = await freeBytes(mounted.directory);
    assert.ok(node.running, node.describe());
    // Still refused while nothing changed (a request of the same size: a tiny one may still fit
    // above the reserve, which is right); reads still served.
    await assert.rejects(
      produceValues(
        clients,
        "fill",
        Array.from({ length: 4 }, () => `again:${value}`),
        new Map(),
      ),
      (error: unknown) => ConnectError.from(error).code === Code.ResourceExhausted,
    );
    let checked = checkLog(await readTopic(clients, "fill"), acked, "at the reserve");
    // Space returns: the node takes writes again, without a restart.
    await rm(filler);
    const freed = Date.now();
    let resumedMs = -1;
    while (Date.now() - freed < resumeWithinMs) {
      try {
        await produceValues(
          clients,
          "fill",
          Array.from({ length: 4 }, () => `${sequence++}:${value}`),
          acked,
        );
        resumedMs = Date.now() - freed;
        break;
      } catch (error) {
        assert.equal(ConnectError.from(error).code, Code.ResourceExhausted);
        await sleep(200);
      }
    }
    assert.ok(resumedMs >= 0, `writes did not resume within ${resumeWithinMs} ms`);
    checked = checkLog(await readTopic(clients, "fill"), acked, "after space returned");
    console.log(
      `[disk full] ${mounted.kind}: refused with resource_exhausted at ${(free / MiB).toFixed(1)} ` +
        `MiB free after ${acked.size - 4} records; writes resumed ${resumedMs} ms after the ` +
        `filler was removed; ${checked} records checked, lost 0`,
    );
  } finally {
    clients.close();
    await node.destroy();
  }
});

test("with no reserve the disk truly fills: nothing unpersisted is acknowledged, restart recovers", async (t) => {
  const mounted = await mountSmall(sizeMiB);
  if (typeof mounted === "string") {
    t.skip(mounted);
    return;
  }
  const dataDirectory = join(mounted.directory, "data");
  const node = await NodeProcess.start({
    dataDirectory,
    args: ["--bootstrap", "--disk-reserve-bytes", "0", "--snapshot-entries", "50"],
  });
  const acked: Acknowledged = new Map();
  let clients = clientsFor(node.baseUrl);
  const outcomes = new Map<string, number>();
  try {
    const value = "f".repeat(64 * 1024);
    let sequence = 0;
    const batch = () => Array.from({ length: 4 }, () => `${sequence++}:${value}`);
    for (let i = 0; i < 20; i++) await produceValues(clients, "fill", batch(), acked);
    // The guard only estimates between its samples (it counts request bytes; the disk takes the
    // Raft log, the topic log and its index): leave 2 MiB, then burst 8 MiB of produces before it
    // can notice, so the writes themselves hit ENOSPC.
    const free = await freeBytes(mounted.directory);
    await writeFile(join(mounted.directory, "filler"), Buffer.alloc(Math.max(0, free - 2 * MiB)));
    const deadline = Date.now() + 30_000;
    for (let burst = 0; burst < 5 && node.running && Date.now() < deadline; burst++) {
      await Promise.all(
        Array.from({ length: 32 }, async () => {
          try {
            await produceValues(clients, "fill", batch(), acked, 5_000);
            outcomes.set("OK", (outcomes.get("OK") ?? 0) + 1);
          } catch (error) {
            const code = Code[ConnectError.from(error).code];
            outcomes.set(code, (outcomes.get(code) ?? 0) + 1);
          }
        }),
      );
    }
    await sleep(500);
    const exit = node.running ? undefined : await node.waitExit();
    const stderrAtFull = node.stderr.slice(0, 600);
    const behaviour = node.running
      ? `kept running, refusing writes (${[...outcomes].map(([c, n]) => `${c}×${n}`).join(", ")})`
      : `exited (code ${exit?.code}, signal ${exit?.signal}) after ${[...outcomes].map(([c, n]) => `${c}×${n}`).join(", ")}`;
    if (node.running) {
      // Whatever it answered, what it acknowledged must be readable now.
      checkLog(await readTopic(clients, "fill"), acked, "full disk, still running");
    }
    clients.close();
    await node.stop();
    // Room again, restart on the same directory: every acknowledged record is there.
    await mounted.grow(96);
    const started = Date.now();
    await node.restart();
    clients = clientsFor(node.baseUrl);
    // After replay the topic must hold every acknowledged record (replay is part of starting).
    let records = await readTopic(clients, "fill");
    for (let i = 0; i < 50 && records.length < acked.size; i++) {
      await sleep(100);
      records = await readTopic(clients, "fill");
    }
    const checked = checkLog(records, acked, "after restart with room");
    await produceValues(clients, "fill", ["after-restart"], acked);
    console.log(
      `[disk full, no reserve] ${mounted.kind}: the node ${behaviour}; ${acked.size - 1} ` +
        `acknowledged before; restarted with room and served in ${Date.now() - started} ms; ` +
        `${checked} records checked (${records.length - (acked.size - 1)} written but not ` +
        `acknowledged), lost 0`,
    );
    if (stderrAtFull.length > 0)
      console.log(`[disk full, no reserve] node stderr: ${stderrAtFull}`);
    assert.equal(
      node.stderr.includes("fatal"),
      false,
      `the restarted node failed:\n${node.describe()}`,
    );
  } finally {
    clients.close();
    await node.destroy();
  }
});

// The open-files guard refuses writes while fewer descriptors than the reserve are free, counts
// topics accepted since its last sample as open, and the entry admission of a follower drops
// entries while its guard says so. Limits and counts are injected; samples are taken by hand.
import assert from "node:assert/strict";
import { test } from "node:test";
import { encodeAdmin } from "../../src/cluster/commands.js";
import { DiskSpaceGuard } from "../../src/cluster/disk-space-guard.js";
import { EntryAdmission } from "../../src/cluster/entry-admission.js";
import {
  OpenFilesGuard,
  openFilesReserve,
  procOpenFiles,
  procOpenFilesLimit,
} from "../../src/cluster/open-files-guard.js";
import { TidelogError } from "../../src/errors.js";
import { defaultTopicConfig } from "../../src/log/topic-registry.js";
import type { Message } from "../../src/raft/index.js";

const hour = 3_600_000;

async function guardWith(files: { limit: number; inUse: number }): Promise<OpenFilesGuard> {
  return OpenFilesGuard.start({
    sampleIntervalMs: hour,
    limit: async () => files.limit,
    inUse: async () => files.inUse,
  });
}

test("the reserve grows with the limit, within bounds", () => {
  assert.equal(openFilesReserve(100), 32);
  assert.equal(openFilesReserve(2_000), 250);
  assert.equal(openFilesReserve(1_048_576), 1_024);
});

test("writes are refused within the reserve; topics accepted count until the next sample", async () => {
  const files = { limit: 2_000, inUse: 1_700 };
  const guard = await guardWith(files);
  try {
    assert.equal(guard.shortage(), undefined);
    guard.check();
    // 1,750 is the line (2,000 less 250): 50 topics of one file fit, the 51st does not.
    for (let i = 0; i < 50; i++) guard.acceptTopic();
    assert.equal(guard.inUse, 1_750);
    assert.throws(
      () => guard.acceptTopic(),
      (error: unknown) =>
        error instanceof TidelogError &&
        error.code === "resource_exhausted" &&
        /1750 of its 2000 open files in use/.test(error.message),
    );
    guard.check(); // at the line, not past it
    files.inUse = 1_760;
    await guard.sample(); // the topics are open now: counted once
    assert.equal(guard.inUse, 1_760);
    assert.throws(() => guard.check(), /ulimit -n/);
    assert.match(guard.shortage() ?? "", /delete topics or raise the open-file limit/);
    files.inUse = 1_200;
    await guard.sample();
    assert.equal(guard.shortage(), undefined);
    guard.acceptTopic();
  } finally {
    guard.stop();
  }
});

test("without a known limit the guard never refuses", async () => {
  const guard = await guardWith({ limit: Number.POSITIVE_INFINITY, inUse: 1e9 });
  try {
    guard.check();
    guard.acceptTopic();
  } finally {
    guard.stop();
  }
});

test("this process's limit and descriptors are read from /proc", async () => {
  const limit = await procOpenFilesLimit();
  const inUse = await procOpenFiles();
  assert.ok(inUse > 0 && inUse < limit, `${inUse} of ${limit}`);
});

test("a follower short of descriptors drops entries and says why, until it has room", async () => {
  const files = { limit: 1_000, inUse: 990 };
  const guard = await guardWith(files);
  const disk = await DiskSpaceGuard.start({
    directory: "/data",
    reserveBytes: 0,
    sampleIntervalMs: hour,
    freeBytesOf: async () => 1e12,
  });
  const append: Message = {
    type: "append",
    from: "n1",
    to: "n2",
    term: 2,
    prevLogIndex: 0,
    prevLogTerm: 0,
    entries: [{ index: 1, term: 2, type: "normal", data: new Uint8Array(10) }],
    commit: 0,
  };
  try {
    const admission = new EntryAdmission(disk, "/data", guard);
    assert.equal(admission.refusing, true, "known before any entry is dropped");
    assert.equal(admission.admits(append), false);
    assert.match(admission.refusalReason() ?? "", /open files in use.*takes no new Raft entries/);
    const heartbeat: Message = { type: "heartbeat", from: "n1", to: "n2", term: 2, commit: 0 };
    assert.equal(admission.admits(heartbeat), true);
    // What takes no room still passes: a new leader's empty entry, a topic delete, a membership
    // change. A topic creation does not.
    const carrying = (data: Uint8Array, type: "normal" | "confChange" = "normal"): Message => ({
      ...append,
      entries: [{ index: 1, term: 2, type, data }],
    });
    assert.equal(admission.admits(carrying(new Uint8Array())), true);
    assert.equal(admission.admits(carrying(encodeAdmin({ op: "deleteTopic", name: "t" }))), true);
    assert.equal(admission.admits(carrying(new Uint8Array([1, 2]), "confChange")), true);
    const creation = encodeAdmin({ op: "createTopic", name: "t", config: defaultTopicConfig });
    assert.equal(admission.admits(carrying(creation)), false);
    files.inUse = 100;
    await guard.sample();
    assert.equal(admission.admits(append), true);
    assert.equal(admission.refusing, false);
  } finally {
    guard.stop();
    disk.stop();
  }
});

// When a node says it refuses entries (what it sends its peers as StepRequest.refusing_entries,
// and what its /readyz reports): once it dropped an append for want of room, until it takes one
// again; and whenever its disk is below the reserve, before any entry was lost to it. Free space
// comes from an injected sampler; samples are taken by hand.
import assert from "node:assert/strict";
import { test } from "node:test";
import { DiskSpaceGuard } from "../../src/cluster/disk-space-guard.js";
import { EntryAdmission } from "../../src/cluster/entry-admission.js";
import type { Message } from "../../src/raft/index.js";

const MiB = 1024 * 1024;

function append(index: number, bytes: number): Message {
  return {
    type: "append",
    from: "n1",
    to: "n2",
    term: 2,
    prevLogIndex: index - 1,
    prevLogTerm: 2,
    entries: [{ index, term: 2, type: "normal", data: new Uint8Array(bytes) }],
    commit: index - 1,
  };
}

/** A disk guard with an 8 MiB reserve over `disk`, sampled by hand. */
function guardOf(disk: { free: number }): Promise<DiskSpaceGuard> {
  return DiskSpaceGuard.start({
    directory: "/data",
    reserveBytes: 8 * MiB,
    sampleIntervalMs: 3_600_000,
    freeBytesOf: async () => disk.free,
  });
}

test("a node refuses entries after dropping one, and says so until it takes one again", async () => {
  const disk = { free: 20 * MiB };
  const guard = await guardOf(disk);
  try {
    const admission = new EntryAdmission(guard, "/data");
    assert.equal(admission.refusing, false);
    assert.equal(admission.admits(append(1, 2 * MiB)), true); // 4 MiB of 12 above the reserve
    assert.equal(admission.refusing, false);
    assert.equal(admission.admits(append(2, 5 * MiB)), false); // 10 MiB: no room
    assert.equal(admission.refusing, true);
    assert.match(admission.refusalReason() ?? "", /nearly full/);
    // Heartbeats still pass and change nothing.
    const heartbeat: Message = { type: "heartbeat", from: "n1", to: "n2", term: 2, commit: 1 };
    assert.equal(admission.admits(heartbeat), true);
    assert.equal(admission.refusing, true);
    disk.free = 100 * MiB;
    await guard.sample();
    assert.equal(admission.refusing, true, "until it takes entries again");
    assert.equal(admission.admits(append(2, 5 * MiB)), true);
    assert.equal(admission.refusing, false);
    assert.equal(admission.refusalReason(), undefined);
  } finally {
    guard.stop();
  }
});

test("a disk below the reserve is reported before any entry is dropped", async () => {
  const disk = { free: 20 * MiB };
  const guard = await guardOf(disk);
  try {
    const admission = new EntryAdmission(guard, "/data");
    assert.equal(admission.refusing, false);
    disk.free = 8 * MiB - 1; // something else filled the disk
    await guard.sample();
    assert.equal(admission.refusing, true);
    disk.free = 8 * MiB;
    await guard.sample();
    assert.equal(admission.refusing, false);
  } finally {
    guard.stop();
  }
});

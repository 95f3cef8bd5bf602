// The disk-space guard's estimate between samples: what it accepted and was not on disk when a
// sample began is still taken off that sample, so refusals come at the reserve, not past it.
// Free space comes from an injected sampler (the "disk" is a number the test moves as the
// accepted bytes are "written"); the timer is kept out of the way and samples are taken by hand.
import assert from "node:assert/strict";
import { test } from "node:test";
import { DiskSpaceGuard } from "../../src/cluster/disk-space-guard.js";
import { isTidelogError } from "../../src/errors.js";

const MiB = 1024 * 1024;

async function guardOn(disk: { free: number }, reserveBytes = 10 * MiB) {
  let gate: Promise<void> = Promise.resolve();
  const guard = await DiskSpaceGuard.start({
    directory: "/data",
    reserveBytes,
    sampleIntervalMs: 3_600_000,
    freeBytesOf: async () => {
      const seen = disk.free; // statfs answers as of when it was called
      await gate;
      return seen;
    },
  });
  return {
    guard,
    /** The next sample waits for `release` before it returns. */
    holdNextSample(): () => void {
      let open = () => {};
      gate = new Promise((resolve) => {
        open = resolve;
      });
      return open;
    },
  };
}

test("refuses at the reserve with resource_exhausted, counting what it accepted", async () => {
  const disk = { free: 100 * MiB };
  const { guard } = await guardOn(disk);
  try {
    guard.check(80 * MiB);
    assert.equal(guard.free, 20 * MiB);
    assert.throws(
      () => guard.check(11 * MiB),
      (error: unknown) =>
        isTidelogError(error, "resource_exhausted") &&
        /nearly full \(about 20 MiB free, reserve 10 MiB\)/.test(error.message),
    );
    assert.equal(guard.tryAccept(11 * MiB), false);
    assert.equal(guard.tryAccept(10 * MiB), true, "exactly down to the reserve fits");
    assert.equal(guard.hasRoomFor(1), false);
  } finally {
    guard.stop();
  }
});

test("a sample taken before the writes land does not forget them", async () => {
  const disk = { free: 100 * MiB };
  const { guard } = await guardOn(disk);
  try {
    guard.check(60 * MiB);
    // The old guard overwrote its estimate with each sample: 100 MiB here, not 40.
    await guard.sample();
    assert.equal(guard.free, 40 * MiB);
    assert.equal(guard.tryAccept(31 * MiB), false);
    // The write lands and is released; the next sample sees it on disk, and counts it once.
    disk.free -= 60 * MiB;
    guard.release(60 * MiB);
    assert.equal(guard.free, 40 * MiB, "released bytes stay counted until a sample sees them");
    await guard.sample();
    assert.equal(guard.free, 40 * MiB);
    assert.equal(guard.unwritten, 0);
    // Space returns (a file was removed): the next sample says so.
    disk.free += 50 * MiB;
    await guard.sample();
    assert.equal(guard.free, 90 * MiB);
  } finally {
    guard.stop();
  }
});

test("bytes released while a sample runs still count against that sample", async () => {
  const disk = { free: 100 * MiB };
  const { guard, holdNextSample } = await guardOn(disk);
  try {
    guard.check(50 * MiB);
    const open = holdNextSample();
    const sampling = guard.sample(); // statfs has looked: 100 MiB, the write not yet there
    disk.free -= 50 * MiB;
    guard.release(50 * MiB);
    // A second sample while the first runs is skipped (it could finish first, then be undone).
    await guard.sample();
    open();
    await sampling;
    assert.equal(guard.free, 50 * MiB);
    await guard.sample();
    assert.equal(guard.free, 50 * MiB);
  } finally {
    guard.stop();
  }
});

test("a failed sample keeps the last estimate", async () => {
  let fail = false;
  const guard = await DiskSpaceGuard.start({
    directory: "/data",
    reserveBytes: MiB,
    sampleIntervalMs: 3_600_000,
    freeBytesOf: async () => {
      if (fail) throw new Error("EIO");
      return 8 * MiB;
    },
  });
  try {
    guard.check(2 * MiB);
    fail = true;
    await guard.sample();
    assert.equal(guard.free, 6 * MiB);
  } finally {
    guard.stop();
  }
});

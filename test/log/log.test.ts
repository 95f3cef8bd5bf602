import assert from "node:assert/strict";
import { mkdir, readdir, rename, stat, truncate, utimes } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { TidelogError } from "../../src/errors.js";
import { batchBufferPool } from "../../src/log/buffer-pool.js";
import { encodeBatch, frameBytes } from "../../src/log/frame.js";
import { Log } from "../../src/log/log.js";
import { payloadFor, payloadsFor, temporaryDirectory } from "./temp-directory.js";

const everything = { maxRecords: Number.MAX_SAFE_INTEGER, maxBytes: Number.MAX_SAFE_INTEGER };
/** 100-byte payloads make 112-byte frames: a 1 KiB segment holds 9 of them. */
const small = { segmentBytesMax: 1024 };

async function appendOneByOne(log: Log, first: number, count: number, size = 100) {
  for (let offset = first; offset < first + count; offset++) {
    assert.equal(await log.append([payloadFor(offset, size)]), offset);
  }
}

async function expectRecords(log: Log, from: number, to: number, size = 100) {
  const records = await log.readRange(from, { ...everything, endOffset: to });
  assert.deepEqual(
    records.map((record) => record.offset),
    Array.from({ length: to - from }, (_, i) => from + i),
  );
  for (const record of records) assert.deepEqual(record.payload, payloadFor(record.offset, size));
}

async function outOfRange(promise: Promise<unknown>): Promise<Record<string, unknown>> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof TidelogError, String(error));
    assert.equal(error.code, "out_of_range");
    return error.details;
  }
  assert.fail("expected out_of_range");
}

describe("Log", () => {
  it("appends and reads single records and ranges", async (t) => {
    const log = await Log.open(await temporaryDirectory());
    t.after(() => log.close());
    assert.equal(log.lowestOffset, 0);
    assert.equal(log.nextOffset, 0);
    assert.equal(await log.append([Buffer.from("a")]), 0);
    assert.equal(await log.append(payloadsFor(1, 4)), 1);
    assert.equal(log.nextOffset, 5);
    assert.deepEqual((await log.read(0)).payload, Buffer.from("a"));
    assert.deepEqual((await log.read(3)).payload, payloadFor(3, 100));
    await expectRecords(log, 1, 5);
    assert.equal((await log.readRange(1, { maxRecords: 2, maxBytes: 1e9 })).length, 2);
    // maxBytes bounds the payload total but at least one record is returned.
    assert.equal((await log.readRange(1, { maxRecords: 100, maxBytes: 1 })).length, 1);
    assert.equal((await log.readRange(1, { maxRecords: 100, maxBytes: 250 })).length, 3);
    const bounded = await log.readRange(0, { ...everything, endOffset: 3 });
    assert.deepEqual(
      bounded.map((record) => record.offset),
      [0, 1, 2],
    );
    // Empty payloads are records too.
    assert.equal(await log.append([Buffer.alloc(0)]), 5);
    assert.equal((await log.read(5)).payload.length, 0);
  });

  it("reports out_of_range with requested/lowest/next", async (t) => {
    const log = await Log.open(await temporaryDirectory(), { initialOffset: 10 });
    t.after(() => log.close());
    assert.deepEqual(await outOfRange(log.read(10)), { requested: 10, lowest: 10, next: 10 });
    await log.append(payloadsFor(10, 3));
    assert.deepEqual(await outOfRange(log.read(13)), { requested: 13, lowest: 10, next: 13 });
    assert.deepEqual(await outOfRange(log.read(9)), { requested: 9, lowest: 10, next: 13 });
    assert.deepEqual(await outOfRange(log.readRange(12, { ...everything, endOffset: 12 })), {
      requested: 12,
      lowest: 10,
      next: 12,
    });
    await outOfRange(log.read(-1));
    await outOfRange(log.read(10.5));
    await outOfRange(log.read(Number.NaN));
  });

  it("rolls segments and finds records across many of them", async (t) => {
    const directory = await temporaryDirectory();
    const log = await Log.open(directory, small);
    await appendOneByOne(log, 0, 200);
    assert.ok(log.segmentCount >= 200 / 9, `segments: ${log.segmentCount}`);
    for (const offset of [0, 1, 8, 9, 10, 99, 100, 150, 199]) {
      assert.deepEqual((await log.read(offset)).payload, payloadFor(offset, 100));
    }
    // A range spans segment boundaries.
    await expectRecords(log, 5, 200);
    const names = (await readdir(directory)).filter((name) => name.endsWith(".store"));
    assert.equal(names.length, log.segmentCount);
    await log.close();
    const reopened = await Log.open(directory, small);
    t.after(() => reopened.close());
    assert.equal(reopened.nextOffset, 200);
    assert.equal(reopened.segmentCount, names.length);
    await expectRecords(reopened, 0, 200);
    assert.equal(await reopened.append([payloadFor(200, 100)]), 200);
  });

  it("a sealed segment cut under the running log reads as data_loss at its offset", async (t) => {
    // Outside probe R7: the short read was internal, with a stack trace in the log.
    const directory = await temporaryDirectory();
    const log = await Log.open(directory, small);
    t.after(() => log.close());
    await appendOneByOne(log, 0, 40);
    const [first, second] = (await readdir(directory))
      .filter((name) => name.endsWith(".store"))
      .sort();
    assert.ok(second !== undefined, "two segments at least");
    await truncate(join(directory, first!), 300);
    await assert.rejects(
      log.readRange(5, { maxRecords: 3, maxBytes: 1_000_000 }),
      (error: unknown) => {
        assert.ok(error instanceof TidelogError, String(error));
        assert.equal(error.code, "data_loss");
        assert.equal(error.details.offset, 5);
        return true;
      },
    );
    // Records before the cut are served as they were.
    assert.deepEqual((await log.read(0)).payload, payloadFor(0, 100));
  });

  it("keeps concurrent appends within the segment size, also from an empty segment", async (t) => {
    const directory = await temporaryDirectory();
    const log = await Log.open(directory, small);
    t.after(() => log.close());
    // 40 appends of 2 × 100 B (224 bytes) queued at once are written in groups: a group must
    // stop before the batch that passes the limit, the empty segment's first group too.
    const offsets = await Promise.all(
      Array.from({ length: 40 }, (_, i) => log.append(payloadsFor(2 * i, 2))),
    );
    assert.deepEqual(
      offsets,
      Array.from({ length: 40 }, (_, i) => 2 * i),
    );
    const stores = (await readdir(directory)).filter((name) => name.endsWith(".store"));
    for (const name of stores) {
      const { size } = await stat(join(directory, name));
      assert.ok(size <= 1024, `${name} holds ${size} bytes`);
    }
    await expectRecords(log, 0, 80);
  });

  it("puts an oversized batch alone in a fresh segment", async (t) => {
    const log = await Log.open(await temporaryDirectory(), small);
    t.after(() => log.close());
    await log.append([payloadFor(0, 100)]);
    assert.equal(await log.append(payloadsFor(1, 20)), 1); // 2240 bytes > 1024
    assert.equal(log.segmentCount, 2);
    await expectRecords(log, 0, 21);
  });

  it("tracks the synced offset", async (t) => {
    const log = await Log.open(await temporaryDirectory());
    t.after(() => log.close());
    assert.equal(log.syncedOffset, 0);
    await log.append(payloadsFor(0, 3));
    assert.equal(log.syncedOffset, 0);
    await log.sync();
    assert.equal(log.syncedOffset, 3);
    await log.sync(); // nothing new: returns at once
    const pending = log.append(payloadsFor(3, 2));
    await log.sync(); // covers appends issued before the call
    assert.equal(await pending, 3);
    assert.equal(log.syncedOffset, 5);
  });

  it("truncates a prefix by whole segments only", async (t) => {
    const log = await Log.open(await temporaryDirectory(), small);
    t.after(() => log.close());
    await appendOneByOne(log, 0, 40);
    const removed = await log.truncatePrefix(20);
    assert.ok(removed >= 1);
    assert.ok(log.lowestOffset <= 20 && log.lowestOffset > 0, `lowest ${log.lowestOffset}`);
    assert.equal(log.lowestOffset % 9, 0);
    await expectRecords(log, log.lowestOffset, 40);
    assert.deepEqual(await outOfRange(log.read(0)), {
      requested: 0,
      lowest: log.lowestOffset,
      next: 40,
    });
    // The active segment is never removed, even when the offset is past the end.
    await log.truncatePrefix(1000);
    assert.equal(log.segmentCount, 1);
    assert.equal(log.nextOffset, 40);
    await expectRecords(log, log.lowestOffset, 40);
  });

  it("reports a failed deletion of truncated segments at the next prefix truncation", async (t) => {
    const directory = await temporaryDirectory();
    const log = await Log.open(directory, small);
    t.after(() => log.close());
    await appendOneByOne(log, 0, 30); // segments at 0, 9, 18 and 27
    // The segment at 0 keeps its open store; its name now holds a directory, which rm refuses.
    const store = join(directory, `${"0".repeat(20)}.store`);
    await rename(store, `${store}.moved`);
    await mkdir(store);
    assert.equal(await log.truncatePrefix(9), 1);
    assert.equal(log.lowestOffset, 9);
    await expectRecords(log, 9, 30);
    await assert.rejects(log.truncatePrefix(18), { code: "internal" });
    assert.equal(log.lowestOffset, 9);
    assert.equal(await log.append([payloadFor(30, 100)]), 30);
  });

  it("truncates a suffix inside a segment, at a boundary and across segments", async (t) => {
    const directory = await temporaryDirectory();
    const log = await Log.open(directory, small);
    await appendOneByOne(log, 0, 40);
    await log.sync();
    await log.truncateSuffix(35); // inside the last segment
    assert.equal(log.nextOffset, 35);
    assert.equal(log.syncedOffset, 35);
    await expectRecords(log, 0, 35);
    await log.truncateSuffix(27); // exactly a segment boundary (9 records per segment)
    assert.equal(log.nextOffset, 27);
    await expectRecords(log, 0, 27);
    await log.truncateSuffix(12); // across segments, inside one
    assert.equal(log.nextOffset, 12);
    await outOfRange(log.read(12));
    await log.truncateSuffix(100); // past the end: nothing
    assert.equal(log.nextOffset, 12);
    assert.equal(await log.append([Buffer.from("new 12")]), 12);
    await appendOneByOne(log, 13, 20);
    assert.deepEqual((await log.read(12)).payload, Buffer.from("new 12"));
    await log.close();
    const reopened = await Log.open(directory, small);
    t.after(() => reopened.close());
    assert.equal(reopened.nextOffset, 33);
    assert.deepEqual((await reopened.read(12)).payload, Buffer.from("new 12"));
    await expectRecords(reopened, 13, 33);
    await expectRecords(reopened, 0, 12);
  });

  it("truncates a suffix below the lowest offset to an empty log that continues there", async (t) => {
    const directory = await temporaryDirectory();
    const log = await Log.open(directory, small);
    await appendOneByOne(log, 0, 30);
    await log.truncatePrefix(20);
    const lowest = log.lowestOffset;
    await log.truncateSuffix(lowest - 5);
    assert.equal(log.lowestOffset, lowest - 5);
    assert.equal(log.nextOffset, lowest - 5);
    assert.equal(await log.append([payloadFor(lowest - 5, 100)]), lowest - 5);
    await log.close();
    const reopened = await Log.open(directory, small);
    t.after(() => reopened.close());
    assert.equal(reopened.lowestOffset, lowest - 5);
    assert.equal(reopened.nextOffset, lowest - 4);
  });

  it("reopens no segment that a prefix truncation is still deleting", async (t) => {
    const directory = await temporaryDirectory();
    const log = await Log.open(directory, small);
    await appendOneByOne(log, 0, 30); // segments at 0, 9, 18 and 27
    // Not awaited: the suffix truncation below lowestOffset opens a segment at 9, the name of
    // one the prefix truncation drops and deletes outside the write chain.
    const prefix = log.truncatePrefix(18);
    const suffix = log.truncateSuffix(9);
    assert.equal(await prefix, 2);
    await suffix;
    assert.equal(log.lowestOffset, 9);
    assert.equal(log.nextOffset, 9);
    assert.equal(await log.append([payloadFor(9, 100)]), 9);
    await log.close();
    const reopened = await Log.open(directory, small);
    t.after(() => reopened.close());
    assert.equal(reopened.lowestOffset, 9);
    assert.equal(reopened.nextOffset, 10);
    await expectRecords(reopened, 9, 10);
  });

  it("keeps records of a batch cut by truncateSuffix across a roll and a reopen", async (t) => {
    const directory = await temporaryDirectory();
    const log = await Log.open(directory, small);
    await log.append(payloadsFor(0, 6)); // one batch of 6 (672 bytes)
    await log.truncateSuffix(4);
    await log.append(payloadsFor(4, 6)); // does not fit: rolls, sealing the cut segment
    assert.equal(log.segmentCount, 2);
    await log.close();
    const reopened = await Log.open(directory, small);
    t.after(() => reopened.close());
    assert.equal(reopened.nextOffset, 10);
    await expectRecords(reopened, 0, 10);
  });

  it("applies retention by bytes, never removing the active segment", async (t) => {
    const log = await Log.open(await temporaryDirectory(), small);
    t.after(() => log.close());
    await appendOneByOne(log, 0, 90); // 10 segments of 9 records (1008 bytes each)
    assert.equal(log.segmentCount, 10);
    assert.equal(await log.applyRetention({ retentionBytes: 0, retentionMs: 0 }), 0);
    const removed = await log.applyRetention({ retentionBytes: 3000, retentionMs: 0 });
    // Keeps at least 3000 bytes: 3 segments (3024); dropping another would leave 2016.
    assert.equal(removed, 7);
    assert.ok(log.sizeBytes >= 3000 && log.sizeBytes < 3000 + 1008);
    assert.equal(log.lowestOffset, 63);
    await expectRecords(log, 63, 90);
    assert.equal(await log.applyRetention({ retentionBytes: 3000, retentionMs: 0 }), 0);
    await log.applyRetention({ retentionBytes: 1, retentionMs: 0 });
    assert.equal(log.segmentCount, 1);
    assert.equal(log.lowestOffset, 81);
  });

  it("applies retention by age from each segment's last write (store mtime after reopen)", async (t) => {
    const directory = await temporaryDirectory();
    const first = await Log.open(directory, small);
    await appendOneByOne(first, 0, 30); // segments based 0, 9, 18, 27
    await first.close();
    const hour = 3_600_000;
    const now = Date.now();
    const names = (await readdir(directory)).filter((name) => name.endsWith(".store")).sort();
    const ages = [5 * hour, 3 * hour, 1 * hour, 0];
    for (const [i, name] of names.entries()) {
      const when = new Date(now - ages[i]!);
      await utimes(join(directory, name), when, when);
    }
    const log = await Log.open(directory, small);
    t.after(() => log.close());
    assert.equal(await log.applyRetention({ retentionBytes: 0, retentionMs: 4 * hour }, now), 1);
    assert.equal(log.lowestOffset, 9);
    assert.equal(await log.applyRetention({ retentionBytes: 0, retentionMs: 30 * 60_000 }, now), 2);
    assert.equal(log.lowestOffset, 27);
    // With nowMs far ahead, everything is old, but the active segment stays.
    await log.applyRetention({ retentionBytes: 0, retentionMs: 1 }, now + 100 * hour);
    assert.equal(log.segmentCount, 1);
    await expectRecords(log, 27, 30);
  });

  it("streams a log and restores it elsewhere byte for byte", async (t) => {
    const log = await Log.open(await temporaryDirectory(), { ...small, initialOffset: 1000 });
    t.after(() => log.close());
    for (let i = 0; i < 50; i++) await log.append(payloadsFor(1000 + i * 3, 3, (o) => o % 150));
    await log.truncatePrefix(1030);
    const lowest = log.lowestOffset;
    const target = join(await temporaryDirectory(), "restored");
    const restored = await Log.restore(target, log.stream({ batchBytes: 700 }), small);
    t.after(() => restored.close());
    assert.equal(restored.lowestOffset, lowest);
    assert.equal(restored.nextOffset, log.nextOffset);
    assert.equal(restored.syncedOffset, restored.nextOffset);
    const original = await log.readRange(lowest, everything);
    const copy = await restored.readRange(lowest, everything);
    assert.deepEqual(copy, original);
    // A partial stream from an offset with an end bound.
    const partial: number[] = [];
    for await (const batch of log.stream({ fromOffset: lowest + 4, endOffset: lowest + 20 })) {
      partial.push(...batch.map((record) => record.offset));
    }
    assert.deepEqual(
      partial,
      Array.from({ length: 16 }, (_, i) => lowest + 4 + i),
    );
  });

  it("restores an empty stream to an empty log and rejects a gap", async () => {
    const empty = await Log.restore(
      join(await temporaryDirectory(), "r"),
      (async function* () {})(),
    );
    assert.equal(empty.nextOffset, 0);
    await empty.close();
    const gap = (async function* () {
      yield [{ offset: 5, payload: Buffer.from("a") }];
      yield [{ offset: 7, payload: Buffer.from("b") }];
    })();
    await assert.rejects(Log.restore(join(await temporaryDirectory(), "r"), gap), {
      code: "invalid_argument",
    });
  });

  it("rejects bad appends without changing the log", async (t) => {
    const log = await Log.open(await temporaryDirectory(), { appendQueueBytesMax: 4096 });
    t.after(() => log.close());
    await assert.rejects(log.append([]), { code: "invalid_argument" });
    await assert.rejects(log.append(new Array(70_000).fill(Buffer.alloc(0))), {
      code: "resource_exhausted",
    });
    await assert.rejects(log.append([Buffer.alloc(8192)]), { code: "resource_exhausted" });
    assert.equal(log.nextOffset, 0);
    assert.equal(await log.append([Buffer.from("ok")]), 0);
  });

  it("appends a batch laid out as frames elsewhere byte for byte, and refuses a malformed one", async (t) => {
    const directory = await temporaryDirectory();
    const log = await Log.open(directory, { appendQueueBytesMax: 64 * 1024 });
    t.after(() => log.close());
    await log.append(payloadsFor(0, 3, () => 100));
    const frames = encodeBatch(payloadsFor(3, 4, () => 100));
    const copy = Buffer.from(frames);
    const malformed: [string, Buffer, number][] = [
      ["count too high", frames, 5],
      ["count too low", frames, 3],
      ["cut short", frames.subarray(0, frames.length - 1), 4],
      ["a byte more", Buffer.concat([frames, Buffer.alloc(1)]), 4],
      ["not the frames of one batch", Buffer.concat([encodeBatch([payloadFor(0, 1)]), frames]), 5],
      ["no records", Buffer.alloc(0), 0],
    ];
    for (const [what, bytes, count] of malformed) {
      await assert.rejects(log.appendFrames(bytes, count), { code: "invalid_argument" }, what);
    }
    await assert.rejects(log.appendFrames(frames, 70_000), { code: "resource_exhausted" });
    // A whole batch, larger than the write queue.
    await assert.rejects(log.appendFrames(encodeBatch(payloadsFor(0, 800, () => 100)), 800), {
      code: "resource_exhausted",
    });
    assert.equal(log.nextOffset, 3);
    assert.equal(await log.appendFrames(frames, 4), 3);
    // Written as given, and the caller's bytes left alone.
    assert.deepEqual(frames, copy);
    // Never taken into the log's pool, even when they are memory the pool could take.
    const pooled = encodeBatch(
      payloadsFor(7, 60, () => 100),
      (bytes) => batchBufferPool.acquire(bytes),
    );
    const kept = batchBufferPool.kept;
    assert.equal(await log.appendFrames(pooled, 60), 7);
    assert.equal(batchBufferPool.kept, kept);
    batchBufferPool.release(pooled);
    assert.equal(batchBufferPool.kept, kept + 1, "the pool would have taken it");
    await expectRecords(log, 0, 67);
    await log.close();
    const reopened = await Log.open(directory);
    t.after(() => reopened.close());
    await expectRecords(reopened, 0, 67);
  });

  it("appends payloads written straight into their frames, as append would", async (t) => {
    const log = await Log.open(await temporaryDirectory());
    t.after(() => log.close());
    const payloads = payloadsFor(0, 5, () => 100);
    const offset = await log.appendWritten(
      payloads.map((payload) => 1 + payload.length),
      (buffer, at, i) => {
        buffer[at] = i;
        buffer.set(payloads[i]!, at + 1);
        return at + 1 + payloads[i]!.length;
      },
    );
    assert.equal(offset, 0);
    const records = await log.readRange(0, everything);
    assert.deepEqual(
      records.map((record) => record.payload),
      payloads.map((payload, i) => Buffer.concat([Buffer.from([i]), payload])),
    );
    await assert.rejects(
      log.appendWritten([70 * 1024 * 1024], () => 0),
      {
        code: "resource_exhausted",
      },
    );
  });

  it("rejects a batch with more records than an empty segment's index holds", async (t) => {
    const log = await Log.open(await temporaryDirectory(), { indexBytesMax: 12 * 4 });
    t.after(() => log.close());
    await assert.rejects(log.append(payloadsFor(0, 5, () => 1)), { code: "resource_exhausted" });
    assert.equal(await log.append(payloadsFor(0, 4, () => 1)), 0);
    assert.equal(await log.append(payloadsFor(4, 1, () => 1)), 4); // index full: rolls
    assert.equal(log.segmentCount, 2);
  });

  it("fails appends, reads and syncs after close with unavailable", async () => {
    const log = await Log.open(await temporaryDirectory());
    await log.append([Buffer.from("x")]);
    await log.close();
    await log.close(); // idempotent
    await assert.rejects(log.append([Buffer.from("y")]), { code: "unavailable" });
    await assert.rejects(log.read(0), { code: "unavailable" });
    await assert.rejects(log.sync(), { code: "unavailable" });
  });

  it("writes appends queued before close durably; later ones never half-succeed", async (t) => {
    const directory = await temporaryDirectory();
    const log = await Log.open(directory);
    const before = Array.from({ length: 10 }, (_, i) => log.append([payloadFor(i, 100)]));
    const closing = log.close();
    // Issued while close waits its turn: it joins the pending drain and is written (resolving)
    // or, once closed, rejected with unavailable. Either way the outcome matches the disk.
    const during = log.append([payloadFor(10, 100)]).then(
      (offset) => offset,
      (error: unknown) => error,
    );
    await closing;
    assert.deepEqual(await Promise.all(before), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const outcome = await during;
    const reopened = await Log.open(directory);
    t.after(() => reopened.close());
    if (typeof outcome === "number") {
      assert.equal(outcome, 10);
      assert.equal(reopened.nextOffset, 11);
    } else {
      assert.equal((outcome as TidelogError).code, "unavailable");
      assert.equal(reopened.nextOffset, 10);
    }
    await expectRecords(reopened, 0, reopened.nextOffset);
  });

  it("reports the bytes of frames in sizeBytes", async (t) => {
    const log = await Log.open(await temporaryDirectory());
    t.after(() => log.close());
    await log.append([Buffer.alloc(10), Buffer.alloc(20)]);
    assert.equal(log.sizeBytes, frameBytes(10) + frameBytes(20));
  });
});

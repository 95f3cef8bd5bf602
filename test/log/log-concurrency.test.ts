import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isTidelogError } from "../../src/errors.js";
import { Log } from "../../src/log/log.js";
import { Store } from "../../src/log/store.js";
import { payloadFor, temporaryDirectory } from "./temp-directory.js";

/** Counts calls to a Store method for the duration of a test. */
function countCalls(method: "append" | "sync"): { count: number; restore: () => void } {
  const prototype = Store.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  const original = prototype[method]!;
  const counter = {
    count: 0,
    restore: () => {
      prototype[method] = original;
    },
  };
  prototype[method] = function (this: Store, ...args: unknown[]) {
    counter.count++;
    return original.apply(this, args);
  };
  return counter;
}

describe("Log under concurrency", () => {
  it("coalesces concurrent appends into few writes and keeps their order", async (t) => {
    const log = await Log.open(await temporaryDirectory());
    t.after(() => log.close());
    const writes = countCalls("append");
    t.after(writes.restore);
    const offsets = await Promise.all(
      Array.from({ length: 2000 }, (_, i) => log.append([payloadFor(i, 100)])),
    );
    writes.restore();
    assert.deepEqual(
      offsets,
      Array.from({ length: 2000 }, (_, i) => i),
    );
    assert.ok(writes.count < 100, `${writes.count} writes for 2000 appends`);
    const records = await log.readRange(0, { maxRecords: 5000, maxBytes: 1e9 });
    records.forEach((record, i) => {
      assert.deepEqual(record.payload, payloadFor(i, 100));
    });
  });

  it("keeps batches contiguous when concurrent appends of different sizes interleave", async (t) => {
    const log = await Log.open(await temporaryDirectory(), { segmentBytesMax: 4096 });
    t.after(() => log.close());
    const sizes = Array.from({ length: 300 }, (_, i) => 1 + (i % 9));
    const results = await Promise.all(
      sizes.map((size, batch) =>
        log.append(Array.from({ length: size }, (_, i) => payloadFor(batch * 100 + i, 30))),
      ),
    );
    let expected = 0;
    for (const [batch, base] of results.entries()) {
      assert.equal(base, expected);
      const records = await log.readRange(base, { maxRecords: sizes[batch]!, maxBytes: 1e9 });
      records.forEach((record, i) => {
        assert.deepEqual(record.payload, payloadFor(batch * 100 + i, 30));
      });
      expected += sizes[batch]!;
    }
  });

  it("coalesces concurrent syncs into few fdatasyncs", async (t) => {
    const log = await Log.open(await temporaryDirectory());
    t.after(() => log.close());
    const syncs = countCalls("sync");
    t.after(syncs.restore);
    const work = Array.from({ length: 200 }, async (_, i) => {
      const offset = await log.append([payloadFor(i, 100)]);
      await log.sync();
      assert.ok(log.syncedOffset > offset);
    });
    await Promise.all(work);
    syncs.restore();
    assert.equal(log.syncedOffset, 200);
    assert.ok(syncs.count < 50, `${syncs.count} fdatasyncs for 200 syncs`);
  });

  it("serves reads concurrent with appends and retention: right content or out_of_range", async (t) => {
    const log = await Log.open(await temporaryDirectory(), { segmentBytesMax: 2048 });
    t.after(() => log.close());
    let writing = true;
    const writer = (async () => {
      for (let batch = 0; batch < 300; batch++) {
        const base = log.nextOffset;
        await log.append(Array.from({ length: 5 }, (_, i) => payloadFor(base + i, 100)));
        if (batch % 20 === 0) await log.applyRetention({ retentionBytes: 8000, retentionMs: 0 });
      }
      writing = false;
    })();
    let served = 0;
    let outOfRange = 0;
    const reader = async (seed: number) => {
      let state = seed;
      while (writing) {
        state = (state * 1103515245 + 12345) & 0x7fffffff;
        const span = Math.max(1, log.nextOffset - log.lowestOffset);
        const offset = log.lowestOffset + (state % span);
        try {
          const records = await log.readRange(offset, { maxRecords: 50, maxBytes: 1e9 });
          for (const record of records) {
            assert.deepEqual(record.payload, payloadFor(record.offset, 100));
          }
          served += records.length;
        } catch (error) {
          if (!isTidelogError(error, "out_of_range")) throw error;
          outOfRange++;
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    await Promise.all([writer, reader(1), reader(2), reader(3)]);
    assert.ok(served > 0);
    assert.ok(log.lowestOffset > 0, "retention removed segments");
    t.diagnostic(`served ${served} records, ${outOfRange} out_of_range`);
  });

  it("keeps offsets readable while truncateSuffix empties the log below its lowest", async (t) => {
    const log = await Log.open(await temporaryDirectory(), { segmentBytesMax: 1024 });
    t.after(() => log.close());
    for (let i = 0; i < 30; i++) await log.append([payloadFor(i, 100)]);
    await log.truncatePrefix(25);
    const target = log.lowestOffset - 3;
    let done = false;
    const truncating = log.truncateSuffix(target).finally(() => {
      done = true;
    });
    const seen: string[] = [];
    for (;;) {
      const finished = done;
      try {
        seen.push(`${log.lowestOffset}-${log.nextOffset}`);
        await log.readRange(log.lowestOffset, { maxRecords: 1, maxBytes: 1 }).catch((error) => {
          if (!isTidelogError(error, "out_of_range")) throw error;
        });
      } catch (error) {
        await truncating.catch(() => undefined);
        throw error;
      }
      if (finished) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    await truncating;
    assert.ok(seen.length > 1);
    assert.equal(log.nextOffset, target);
    assert.equal(await log.append([Buffer.from("again")]), target);
  });

  it("flushes in the background once backgroundSyncBytes were written, without a sync()", async (t) => {
    const log = await Log.open(await temporaryDirectory(), { backgroundSyncBytes: 4096 });
    t.after(() => log.close());
    const syncs = countCalls("sync");
    t.after(syncs.restore);
    const flushed = new Promise<void>((resolve) => {
      const unsubscribe = log.subscribe(() => {
        if (log.syncedOffset > 0) {
          unsubscribe();
          resolve();
        }
      });
    });
    for (let i = 0; i < 30; i++) await log.append([payloadFor(i, 100)]); // 30 × 112 B = 3,360 B
    assert.equal(syncs.count, 0, "below the threshold nothing is flushed");
    for (let i = 30; i < 60; i++) await log.append([payloadFor(i, 100)]);
    await flushed;
    syncs.restore();
    assert.ok(syncs.count >= 1 && syncs.count <= 2, `${syncs.count} background fdatasyncs`);
    assert.ok(log.syncedOffset >= 37 && log.syncedOffset <= 60, `synced ${log.syncedOffset}`);
    await log.sync();
    assert.equal(log.syncedOffset, 60);
  });

  it("a failed background fdatasync poisons the log like a failed sync()", async (t) => {
    const log = await Log.open(await temporaryDirectory(), { backgroundSyncBytes: 1024 });
    t.after(() => log.close());
    const prototype = Store.prototype as unknown as { sync: () => Promise<void> };
    const original = prototype.sync;
    t.after(() => {
      prototype.sync = original;
    });
    prototype.sync = () => Promise.reject(Object.assign(new Error("EIO"), { code: "EIO" }));
    const outcomes: string[] = [];
    for (let i = 0; i < 20; i++) {
      outcomes.push(
        await log.append([payloadFor(i, 100)]).then(
          () => "ok",
          (error: { code: string }) => error.code,
        ),
      );
    }
    // The tenth append (1,120 B) started the flush; once it failed, appends are refused.
    assert.deepEqual(outcomes.slice(0, 10), Array(10).fill("ok"));
    assert.equal(outcomes.at(-1), "data_loss", outcomes.join(" "));
    await assert.rejects(log.sync(), { code: "data_loss" });
  });

  it("an fdatasync that began before a suffix truncation does not cover records written after it", async (t) => {
    const log = await Log.open(await temporaryDirectory());
    t.after(() => log.close());
    for (let i = 0; i < 10; i++) await log.append([payloadFor(i, 100)]);
    const prototype = Store.prototype as unknown as { sync: (this: Store) => Promise<void> };
    const original = prototype.sync;
    t.after(() => {
      prototype.sync = original;
    });
    // Hold the first fdatasync until the truncation and the new appends are done.
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let calls = 0;
    prototype.sync = function (this: Store) {
      calls++;
      return calls === 1 ? held.then(() => original.call(this)) : original.call(this);
    };
    const early = log.sync(); // covers offsets below 10 when it began
    await log.truncateSuffix(5);
    for (let i = 5; i < 8; i++) await log.append([payloadFor(100 + i, 100)]);
    release();
    await early;
    assert.ok(log.syncedOffset <= 5, `syncedOffset ${log.syncedOffset} claims unsynced records`);
    await log.sync();
    assert.equal(log.syncedOffset, 8);
  });

  it("fsyncs the recovered tail on open before reporting it as synced", async (t) => {
    const directory = await temporaryDirectory();
    const crashed = await Log.open(directory);
    t.after(() => crashed.close());
    await crashed.append([Buffer.from("written, never synced")]);
    assert.equal(crashed.syncedOffset, 0);
    // A second open of the same files stands in for a restart after a crash.
    const syncs = countCalls("sync");
    t.after(syncs.restore);
    const reopened = await Log.open(directory);
    syncs.restore();
    t.after(() => reopened.close());
    assert.equal(reopened.syncedOffset, 1);
    assert.ok(syncs.count >= 1, "the recovered tail was fsynced");
  });

  it("fails sync and append waiters with unavailable once closed, never hanging", async (t) => {
    const log = await Log.open(await temporaryDirectory());
    t.after(() => log.close());
    await log.append([Buffer.from("a")]);
    await log.close();
    const results = await Promise.allSettled([log.sync(), log.append([Buffer.from("b")])]);
    for (const result of results) {
      assert.equal(result.status, "rejected");
      assert.equal((result as PromiseRejectedResult).reason.code, "unavailable");
    }
  });
});

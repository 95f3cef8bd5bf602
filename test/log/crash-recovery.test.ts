// Crash recovery: a log's files are copied while it is open (the state a crash would leave,
// without close's sync and index trim), damaged the ways a crash or a bad disk damages them, and
// reopened. Property: every record outside the destroyed byte range, in a batch wholly before it,
// reads back intact; nothing is ever served with wrong content; the next append lands at
// nextOffset. Runs are bounded (TIDELOG_CRASH_RUNS overrides the count).
import assert from "node:assert/strict";
import { appendFile, copyFile, mkdir, open, readdir, rm, stat, truncate } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { frameBytes } from "../../src/log/frame.js";
import { indexEntryBytes } from "../../src/log/index-file.js";
import { Log } from "../../src/log/log.js";
import { segmentFileName } from "../../src/log/segment.js";
import { payloadFor, temporaryDirectory } from "./temp-directory.js";

const runs = Number(process.env.TIDELOG_CRASH_RUNS ?? 75);
const everything = { maxRecords: Number.MAX_SAFE_INTEGER, maxBytes: Number.MAX_SAFE_INTEGER };

type Operation =
  | { kind: "append"; sizes: number[]; concurrent: boolean }
  | { kind: "sync" }
  | { kind: "truncateSuffix"; fraction: number };

type StoreDamage =
  | { kind: "none" }
  | { kind: "truncateStore"; fraction: number }
  | { kind: "garbage"; bytes: Uint8Array }
  | { kind: "flipLastFrame"; fraction: number; mask: number };

type IndexDamage =
  | { kind: "none" }
  | { kind: "truncateIndex"; segment: number; fraction: number }
  | { kind: "zeroIndexTail"; segment: number; fraction: number }
  | { kind: "deleteIndex"; segment: number }
  | { kind: "indexLonger"; entries: number };

const operation: fc.Arbitrary<Operation> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("append" as const),
      sizes: fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 6 }),
      concurrent: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ kind: "sync" as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("truncateSuffix" as const),
      fraction: fc.double({ min: 0, max: 1, noNaN: true }),
    }),
  },
);

// Integers scaled, not fc.double: its doubles cluster at 0 and 1, so a cut inside a frame was rare.
const fraction = fc.integer({ min: 0, max: 1000 }).map((n) => n / 1000);
const storeDamage: fc.Arbitrary<StoreDamage> = fc.oneof(
  fc.constant({ kind: "none" as const }),
  fc.record({ kind: fc.constant("truncateStore" as const), fraction }),
  fc.record({
    kind: fc.constant("garbage" as const),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 200 }),
  }),
  fc.record({
    kind: fc.constant("flipLastFrame" as const),
    fraction,
    mask: fc.integer({ min: 1, max: 255 }),
  }),
);
const segmentPick = fc.nat(1000);
const indexDamage: fc.Arbitrary<IndexDamage> = fc.oneof(
  fc.constant({ kind: "none" as const }),
  fc.record({ kind: fc.constant("truncateIndex" as const), segment: segmentPick, fraction }),
  fc.record({ kind: fc.constant("zeroIndexTail" as const), segment: segmentPick, fraction }),
  fc.record({ kind: fc.constant("deleteIndex" as const), segment: segmentPick }),
  fc.record({ kind: fc.constant("indexLonger" as const), entries: fc.integer({ min: 1, max: 5 }) }),
);

/** The log as the model sees it: each record's payload size and batch. */
interface ModelRecord {
  size: number;
  batch: number;
}

async function baseOffsets(directory: string): Promise<number[]> {
  return (await readdir(directory))
    .filter((name) => name.endsWith(".store"))
    .map((name) => Number(name.slice(0, 20)))
    .sort((a, b) => a - b);
}

async function copyDirectory(from: string, to: string): Promise<void> {
  for (const name of await readdir(from)) await copyFile(join(from, name), join(to, name));
}

function at(fractionValue: number, size: number): number {
  return Math.min(size, Math.floor(fractionValue * (size + 1)));
}

describe("crash recovery", () => {
  it("recovers every intact record after random crashes and damage", async () => {
    const root = await temporaryDirectory("tidelog-crash-");
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(operation, { minLength: 1, maxLength: 30 }),
        fc.constantFrom(256, 1024, 4096),
        fc.constantFrom(0, 512, 2048),
        storeDamage,
        indexDamage,
        fc.record({
          kind: fc.constantFrom("none", "unsyncedAppend", "truncateSuffix"),
          fraction: fc.double({ min: 0.5, max: 1, noNaN: true }),
        }),
        async (operations, segmentBytesMax, zeroFillBytes, damage, indexHarm, ending) => {
          run++;
          const live = join(root, `live-${run}`);
          const crashed = join(root, `crashed-${run}`);
          // With zeroFillBytes, the active segment's file may end in zeros written ahead.
          const options = { segmentBytesMax, zeroFillBytes };
          const model: ModelRecord[] = [];
          const log = await Log.open(live, options);
          let syncedAtCrash: number;
          try {
            let batch = 0;
            for (const step of operations) {
              if (step.kind === "append") {
                const first = model.length;
                const payloads = step.sizes.map((size, i) => payloadFor(first + i, size));
                for (const size of step.sizes) model.push({ size, batch });
                batch++;
                const appended = log.append(payloads);
                // Concurrent appends are left in flight: they coalesce with the next ones.
                if (!step.concurrent) assert.equal(await appended, first);
                else void appended.then((offset) => assert.equal(offset, first));
              } else if (step.kind === "sync") {
                await log.sync();
              } else {
                await log.sync(); // waits for appends in flight
                const target = Math.floor(step.fraction * (model.length + 1));
                await log.truncateSuffix(target);
                model.length = Math.min(model.length, target);
                // A batch cut by the truncation now ends at the cut: later records start anew.
                batch++;
              }
            }
            await log.sync().catch(() => undefined);
            if (ending.kind === "unsyncedAppend") {
              // Written, not synced: in the copy only through the page cache.
              await log.append([payloadFor(model.length, 1), payloadFor(model.length + 1, 2)]);
              model.push({ size: 1, batch }, { size: 2, batch });
              batch++;
            } else if (ending.kind === "truncateSuffix") {
              // The crash comes right after a truncation (possibly inside a batch).
              const target = Math.floor(ending.fraction * (model.length + 1));
              await log.truncateSuffix(target);
              model.length = Math.min(model.length, target);
            }
            syncedAtCrash = log.syncedOffset;
            assert.equal(log.nextOffset, model.length);
            await mkdir(crashed, { recursive: true });
            await copyDirectory(live, crashed);
          } finally {
            await log.close();
          }
          await rm(live, { recursive: true, force: true });

          // Damage the copy.
          const bases = await baseOffsets(crashed);
          const lastBase = bases.at(-1)!;
          const storePath = join(crashed, segmentFileName(lastBase, "store"));
          const storeSize = (await stat(storePath)).size;
          const lastRecords = model.slice(lastBase);
          const positions: number[] = [];
          let position = 0;
          for (const record of lastRecords) {
            positions.push(position);
            position += frameBytes(record.size);
          }
          const recordsEnd = position;
          if (zeroFillBytes === 0) assert.equal(recordsEnd, storeSize, "model and store agree");
          else assert.ok(recordsEnd <= storeSize, "the store holds the model's records");
          for (const base of bases.slice(0, -1)) {
            const sealedSize = (await stat(join(crashed, segmentFileName(base, "store")))).size;
            const sealedRecords = model.slice(base, bases[bases.indexOf(base) + 1]);
            const sealedEnd = sealedRecords.reduce(
              (sum, record) => sum + frameBytes(record.size),
              0,
            );
            assert.equal(sealedSize, sealedEnd, "a sealed segment ends with its last record");
          }
          let destroyedFrom = storeSize;
          if (damage.kind === "truncateStore") {
            destroyedFrom = at(damage.fraction, storeSize);
            await truncate(storePath, destroyedFrom);
          } else if (damage.kind === "garbage") {
            await appendFile(storePath, damage.bytes);
          } else if (damage.kind === "flipLastFrame" && lastRecords.length > 0) {
            const lastPosition = positions.at(-1)!;
            const flipAt = lastPosition + at(damage.fraction, storeSize - lastPosition - 1);
            const handle = await open(storePath, "r+");
            const byte = Buffer.alloc(1);
            await handle.read(byte, 0, 1, flipAt);
            byte[0]! ^= damage.mask;
            await handle.write(byte, 0, 1, flipAt);
            await handle.close();
            destroyedFrom = flipAt;
          }
          if (indexHarm.kind !== "none") {
            const base =
              indexHarm.kind === "indexLonger"
                ? lastBase
                : bases[indexHarm.segment % bases.length]!;
            const indexPath = join(crashed, segmentFileName(base, "index"));
            const indexSize = (await stat(indexPath)).size;
            if (indexHarm.kind === "truncateIndex") {
              await truncate(indexPath, at(indexHarm.fraction, indexSize));
            } else if (indexHarm.kind === "zeroIndexTail") {
              const from = at(indexHarm.fraction, indexSize);
              const handle = await open(indexPath, "r+");
              await handle.write(Buffer.alloc(indexSize - from), 0, indexSize - from, from);
              await handle.close();
            } else if (indexHarm.kind === "deleteIndex") {
              await rm(indexPath);
            } else {
              // Well-formed entries past the last record, pointing beyond the store.
              const entries = Buffer.alloc(indexHarm.entries * indexEntryBytes);
              for (let i = 0; i < indexHarm.entries; i++) {
                entries.writeUInt32LE(lastRecords.length + i, i * indexEntryBytes);
                entries.writeUInt32LE(storeSize + 1 + i * 13, i * indexEntryBytes + 4);
              }
              const handle = await open(indexPath, "r+");
              await handle.write(entries, 0, entries.length, lastRecords.length * indexEntryBytes);
              await handle.close();
            }
          }

          // Expected survivors: everything before the last segment, and in it every batch that
          // ends at or before the first destroyed byte. A batch cut by the damage goes whole.
          let expectedNext = lastBase;
          for (let i = 0; i < lastRecords.length; ) {
            let j = i;
            while (j < lastRecords.length && lastRecords[j]!.batch === lastRecords[i]!.batch) j++;
            const batchEnd = j < lastRecords.length ? positions[j]! : recordsEnd;
            if (batchEnd > destroyedFrom) break;
            expectedNext = lastBase + j;
            i = j;
          }

          const recovered = await Log.open(crashed, options);
          try {
            assert.equal(recovered.lowestOffset, 0);
            assert.equal(recovered.nextOffset, expectedNext);
            assert.equal(recovered.syncedOffset, expectedNext);
            if (damage.kind === "none" || damage.kind === "garbage") {
              assert.equal(expectedNext, model.length, "no store damage: nothing lost");
              assert.ok(syncedAtCrash <= expectedNext);
            }
            if (expectedNext > 0) {
              const records = await recovered.readRange(0, everything);
              assert.equal(records.length, expectedNext);
              for (const record of records) {
                const expected = payloadFor(record.offset, model[record.offset]!.size);
                assert.ok(record.payload.equals(expected), `record ${record.offset} intact`);
              }
            }
            if (damage.kind === "none")
              assert.equal(recovered.recovery.droppedBytes, 0, "a zero tail is not a torn one");
            await assert.rejects(recovered.read(expectedNext), { code: "out_of_range" });
            const after = payloadFor(expectedNext, 17);
            assert.equal(await recovered.append([after]), expectedNext);
            await recovered.sync();
            assert.ok((await recovered.read(expectedNext)).payload.equals(after));
          } finally {
            await recovered.close();
          }
          // Recovery is stable: a second open changes nothing.
          const again = await Log.open(crashed, options);
          try {
            assert.equal(again.nextOffset, expectedNext + 1);
            assert.deepEqual(again.recovery, { droppedBytes: 0, rebuiltEntries: 0 });
          } finally {
            await again.close();
          }
          await rm(crashed, { recursive: true, force: true });
        },
      ),
      {
        numRuns: runs,
        examples: [
          // A suffix truncation cutting the last batch, then a crash.
          [
            [
              { kind: "append", sizes: [10, 20, 30, 40, 50], concurrent: false },
              { kind: "truncateSuffix", fraction: 0.6 },
            ],
            1024,
            0,
            { kind: "none" },
            { kind: "none" },
            { kind: "none", fraction: 1 },
          ],
        ],
      },
    );
  });

  it("reports a flipped byte in the middle of a sealed segment as data_loss, never serving it", async () => {
    const directory = await temporaryDirectory();
    const options = { segmentBytesMax: 1024 };
    const log = await Log.open(directory, options);
    for (let i = 0; i < 30; i++) await log.append([payloadFor(i, 100)]);
    await log.close();
    // Offset 4 of the first (sealed) segment: frames are 112 bytes.
    const storePath = join(directory, segmentFileName(0, "store"));
    const handle = await open(storePath, "r+");
    await handle.write(Buffer.from([0xff]), 0, 1, 4 * 112 + 60);
    await handle.close();
    const reopened = await Log.open(directory, options);
    try {
      assert.equal(reopened.nextOffset, 30);
      await assert.rejects(reopened.read(4), { code: "data_loss" });
      await assert.rejects(reopened.readRange(0, everything), { code: "data_loss" });
      assert.ok((await reopened.read(3)).payload.equals(payloadFor(3, 100)));
      assert.ok((await reopened.read(5)).payload.equals(payloadFor(5, 100)));
      const tail = await reopened.readRange(5, everything);
      assert.equal(tail.length, 25);
    } finally {
      await reopened.close();
    }
  });

  it("refuses to open when a sealed segment lost its tail, rather than renumber records", async () => {
    const directory = await temporaryDirectory();
    const options = { segmentBytesMax: 1024 };
    const log = await Log.open(directory, options);
    for (let i = 0; i < 30; i++) await log.append([payloadFor(i, 100)]);
    await log.close();
    const storePath = join(directory, segmentFileName(0, "store"));
    await truncate(storePath, (await stat(storePath)).size - 3);
    await assert.rejects(Log.open(directory, options), { code: "data_loss" });
  });

  it("leaves a sealed segment whose last batch is damaged as it is, and refuses to open", async () => {
    const directory = await temporaryDirectory();
    const options = { segmentBytesMax: 1024 };
    const log = await Log.open(directory, options);
    // Batches of 5 frames of 112 bytes: each segment holds one (560 bytes; two would pass 1,024).
    for (let i = 0; i < 30; i += 5)
      await log.append(Array.from({ length: 5 }, (_, j) => payloadFor(i + j, 100)));
    await log.close();
    const storePath = join(directory, segmentFileName(0, "store"));
    const size = (await stat(storePath)).size;
    assert.equal(size, 5 * 112);
    // A flipped byte in the last frame of the sealed segment: its batch now looks incomplete,
    // which recovery of a last segment would drop whole (records 0-4, four of them intact).
    const handle = await open(storePath, "r+");
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, 4 * 112 + 50);
    await handle.write(Buffer.from([byte[0]! ^ 0xff]), 0, 1, 4 * 112 + 50);
    await assert.rejects(Log.open(directory, options), {
      code: "data_loss",
      message: /segment 0 is sealed/,
    });
    assert.equal((await stat(storePath)).size, size, "nothing was cut");
    // Repaired (here: the byte put back), every record is there again.
    await handle.write(byte, 0, 1, 4 * 112 + 50);
    await handle.close();
    const reopened = await Log.open(directory, options);
    try {
      assert.equal(reopened.nextOffset, 30);
      const records = await reopened.readRange(0, everything);
      assert.equal(records.length, 30);
    } finally {
      await reopened.close();
    }
  });

  it("reopens after a crash by abandoning the open log (no close) in the same directory", async () => {
    const directory = await temporaryDirectory();
    const options = { segmentBytesMax: 1024 };
    const abandoned = await Log.open(directory, options);
    for (let i = 0; i < 20; i++) await abandoned.append([payloadFor(i, 100)]);
    await abandoned.sync();
    await abandoned.append([payloadFor(20, 100), payloadFor(21, 100)]);
    const reopened = await Log.open(directory, options);
    try {
      assert.equal(reopened.nextOffset, 22);
      const records = await reopened.readRange(0, everything);
      records.forEach((record) => {
        assert.ok(record.payload.equals(payloadFor(record.offset, 100)));
      });
      assert.equal(await reopened.append([payloadFor(22, 100)]), 22);
    } finally {
      await reopened.close();
      // The abandoned object still holds descriptors and mappings: release them without
      // writing (a close here would trim the index the reopened log already closed).
      await abandoned.close().catch(() => undefined);
    }
  });
});

import assert from "node:assert/strict";
import { appendFile, open, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { encodeBatch, frameBytes } from "../../src/log/frame.js";
import { indexEntryBytes } from "../../src/log/index-file.js";
import { Segment, segmentFileName } from "../../src/log/segment.js";
import { Store } from "../../src/log/store.js";
import { payloadFor, payloadsFor, temporaryDirectory } from "./temp-directory.js";

const limits = { storeBytesMax: 1024 * 1024, indexBytesMax: 1024 * indexEntryBytes };

async function appendBatch(segment: Segment, payloads: Buffer[]): Promise<number> {
  return segment.append([encodeBatch(payloads)], payloads.length);
}

async function readAll(segment: Segment): Promise<Buffer[]> {
  if (segment.count === 0) return [];
  const records = await segment.read(
    segment.baseOffset,
    segment.nextOffset,
    Number.MAX_SAFE_INTEGER,
    Number.MAX_SAFE_INTEGER,
  );
  return records.map((record) => record.payload);
}

/** Writes batches of the given sizes (offsets from 0), closes cleanly, returns the payloads. */
async function writeSegment(directory: string, batchSizes: number[]): Promise<Buffer[]> {
  const { segment } = await Segment.open(directory, 0, limits);
  const all: Buffer[] = [];
  for (const size of batchSizes) {
    const payloads = payloadsFor(all.length, size, (offset) => 20 + (offset % 7) * 10);
    await appendBatch(segment, payloads);
    all.push(...payloads);
  }
  await segment.close();
  return all;
}

describe("Segment", () => {
  it("names files by the zero-padded base offset", () => {
    assert.equal(segmentFileName(42, "store"), "00000000000000000042.store");
    assert.equal(segmentFileName(0, "index"), "00000000000000000000.index");
  });

  it("appends batches, reads ranges with maxRecords/maxBytes/endOffset", async () => {
    const directory = await temporaryDirectory();
    const { segment } = await Segment.open(directory, 100, limits);
    assert.equal(segment.count, 0);
    assert.equal(await appendBatch(segment, payloadsFor(100, 3)), 100);
    assert.equal(await appendBatch(segment, payloadsFor(103, 5)), 103);
    assert.equal(segment.nextOffset, 108);
    const range = await segment.read(101, 108, 4, 1_000_000);
    assert.deepEqual(
      range.map((record) => record.offset),
      [101, 102, 103, 104],
    );
    range.forEach((record) => {
      assert.deepEqual(record.payload, payloadFor(record.offset, 100));
    });
    assert.equal((await segment.read(101, 103, 100, 1_000_000)).length, 2);
    // maxBytes bounds the span (frames are 112 bytes); at least one record comes back.
    assert.equal((await segment.read(100, 108, 100, 1)).length, 1);
    assert.equal((await segment.read(100, 108, 100, 250)).length, 3);
    await segment.close();
  });

  it("reopens a cleanly closed segment unchanged", async () => {
    const directory = await temporaryDirectory();
    const written = await writeSegment(directory, [1, 4, 2]);
    const { segment, recovery } = await Segment.open(directory, 0, limits);
    assert.deepEqual(recovery, { droppedBytes: 0, rebuiltEntries: 0 });
    assert.deepEqual(await readAll(segment), written);
    await segment.close();
  });

  it("rebuilds a deleted index from the store", async () => {
    const directory = await temporaryDirectory();
    const written = await writeSegment(directory, [3, 3, 1]);
    await rm(join(directory, segmentFileName(0, "index")));
    const { segment, recovery } = await Segment.open(directory, 0, limits);
    // A fresh, zero-filled index has a well-formed slot 0 (offset 0 at position 0), which the
    // store confirms, so it is not counted as rebuilt.
    assert.ok(recovery.rebuiltEntries >= 6);
    assert.equal(recovery.droppedBytes, 0);
    assert.deepEqual(await readAll(segment), written);
    await segment.close();
  });

  it("rebuilds a zeroed or truncated index tail", async () => {
    const directory = await temporaryDirectory();
    const written = await writeSegment(directory, [5, 5]);
    const indexPath = join(directory, segmentFileName(0, "index"));
    const bytes = await readFile(indexPath);
    bytes.fill(0, 4 * indexEntryBytes + 3);
    await writeFile(indexPath, bytes);
    const first = await Segment.open(directory, 0, limits);
    assert.deepEqual(await readAll(first.segment), written);
    await first.segment.close();
    await truncate(indexPath, 2 * indexEntryBytes + 7);
    const second = await Segment.open(directory, 0, limits);
    assert.deepEqual(await readAll(second.segment), written);
    await second.segment.close();
  });

  it("drops index entries that point past the store (index longer than store)", async () => {
    const directory = await temporaryDirectory();
    const written = await writeSegment(directory, [2, 2, 2]);
    const storePath = join(directory, segmentFileName(0, "store"));
    const keptBytes = written.slice(0, 4).reduce((sum, p) => sum + frameBytes(p.length), 0);
    await truncate(storePath, keptBytes);
    const { segment, recovery } = await Segment.open(directory, 0, limits);
    assert.equal(segment.count, 4);
    assert.equal(recovery.droppedBytes, 0);
    assert.deepEqual(await readAll(segment), written.slice(0, 4));
    assert.equal(await appendBatch(segment, [Buffer.from("next")]), 4);
    assert.deepEqual((await segment.read(4, 5, 1, 100))[0]!.payload, Buffer.from("next"));
    await segment.close();
  });

  it("zeroes the index entries of a failed write, which were staged while it was in flight", async () => {
    const directory = await temporaryDirectory();
    const { segment } = await Segment.open(directory, 0, limits);
    await appendBatch(segment, [Buffer.from("kept")]);
    const prototype = Store.prototype as unknown as { append: Store["append"] };
    const original = prototype.append;
    let stagedDuringWrite = -1;
    const indexPath = join(directory, segmentFileName(0, "index"));
    prototype.append = async function (this: Store, parts: readonly Buffer[]) {
      await new Promise((resolve) => setImmediate(resolve));
      // The segment put the entries in the mapping after submitting the write.
      stagedDuringWrite = (await readFile(indexPath)).readUInt32LE(indexEntryBytes);
      throw Object.assign(new Error("EIO"), { code: "EIO", parts });
    };
    try {
      await assert.rejects(appendBatch(segment, [Buffer.from("lost"), Buffer.from("too")]));
    } finally {
      prototype.append = original;
    }
    assert.equal(stagedDuringWrite, 1);
    assert.equal(segment.count, 1);
    const index = await readFile(indexPath);
    assert.ok(index.subarray(indexEntryBytes).every((byte) => byte === 0));
    assert.equal(await appendBatch(segment, [Buffer.from("next")]), 1);
    assert.deepEqual(await readAll(segment), [Buffer.from("kept"), Buffer.from("next")]);
    await segment.close();
  });

  it("cuts a torn tail and drops an incomplete trailing batch whole", async () => {
    const directory = await temporaryDirectory();
    const written = await writeSegment(directory, [2, 4]);
    const storePath = join(directory, segmentFileName(0, "store"));
    const size = (await stat(storePath)).size;
    // Cut inside the last frame of the 4-record batch: three of its frames stay whole.
    await truncate(storePath, size - 5);
    const { segment, recovery } = await Segment.open(directory, 0, limits);
    assert.equal(segment.count, 2);
    const firstBatchBytes = written.slice(0, 2).reduce((sum, p) => sum + frameBytes(p.length), 0);
    assert.equal(recovery.droppedBytes, size - 5 - firstBatchBytes);
    assert.equal((await stat(storePath)).size, firstBatchBytes);
    assert.deepEqual(await readAll(segment), written.slice(0, 2));
    await segment.close();
  });

  it("cuts garbage appended after the last frame", async () => {
    const directory = await temporaryDirectory();
    const written = await writeSegment(directory, [3]);
    const storePath = join(directory, segmentFileName(0, "store"));
    await appendFile(storePath, Buffer.from([0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    const { segment, recovery } = await Segment.open(directory, 0, limits);
    assert.equal(recovery.droppedBytes, 13);
    assert.deepEqual(await readAll(segment), written);
    await segment.close();
  });

  it("drops the last batch when a byte of its last frame is flipped", async () => {
    const directory = await temporaryDirectory();
    const written = await writeSegment(directory, [2, 3]);
    const storePath = join(directory, segmentFileName(0, "store"));
    const handle = await open(storePath, "r+");
    const { size } = await handle.stat();
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, size - 2);
    byte[0]! ^= 0x10;
    await handle.write(byte, 0, 1, size - 2);
    await handle.close();
    const { segment } = await Segment.open(directory, 0, limits);
    assert.deepEqual(await readAll(segment), written.slice(0, 2));
    await segment.close();
  });

  it("reports a flipped byte in the middle as data_loss on read, never serving it", async () => {
    const directory = await temporaryDirectory();
    const written = await writeSegment(directory, [4, 4]);
    const storePath = join(directory, segmentFileName(0, "store"));
    const bytes = await readFile(storePath);
    const third = written.slice(0, 2).reduce((sum, p) => sum + frameBytes(p.length), 0);
    bytes[third + 15]! ^= 0x01; // inside the payload of offset 2
    await writeFile(storePath, bytes);
    const { segment } = await Segment.open(directory, 0, limits);
    assert.equal(segment.count, 8); // the tail is intact, so nothing is cut on open
    assert.deepEqual((await segment.read(1, 2, 1, 1000))[0]!.payload, written[1]);
    await assert.rejects(segment.read(2, 3, 1, 1000), { code: "data_loss" });
    await assert.rejects(segment.read(0, 8, 100, 100_000), { code: "data_loss" });
    assert.deepEqual((await segment.read(3, 4, 1, 1000))[0]!.payload, written[3]);
    await segment.close();
  });

  it("keeps the records before a suffix truncation in the middle of a batch across a reopen", async () => {
    const directory = await temporaryDirectory();
    const written = await writeSegment(directory, [2, 5]);
    const { segment } = await Segment.open(directory, 0, limits);
    await segment.truncateFrom(4); // keeps offsets 2 and 3 of the second batch
    await segment.sync();
    assert.deepEqual(await readAll(segment), written.slice(0, 4));
    await segment.close();
    const reopened = await Segment.open(directory, 0, limits);
    assert.deepEqual(await readAll(reopened.segment), written.slice(0, 4));
    await reopened.segment.close();
  });

  it("recovers an empty or missing store to an empty segment", async () => {
    const directory = await temporaryDirectory();
    await writeSegment(directory, [3]);
    await writeFile(join(directory, segmentFileName(0, "store")), Buffer.alloc(0));
    const { segment } = await Segment.open(directory, 0, limits);
    assert.equal(segment.count, 0);
    assert.equal(await appendBatch(segment, [Buffer.from("a")]), 0);
    await segment.close();
  });
});

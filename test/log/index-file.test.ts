import assert from "node:assert/strict";
import { readFile, stat, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { encodeBatch, frameBytes } from "../../src/log/frame.js";
import { IndexFile, indexEntryBytes } from "../../src/log/index-file.js";
import { temporaryDirectory } from "./temp-directory.js";

describe("IndexFile", () => {
  it("grows a new file to its capacity before mapping", async () => {
    const path = join(await temporaryDirectory(), "0.index");
    const index = await IndexFile.open(path, 10 * indexEntryBytes);
    assert.equal(index.capacity, 10);
    assert.equal((await stat(path)).size, 10 * indexEntryBytes);
    // An all-zero first slot is well formed (offset 0 at position 0); the segment checks it
    // against the store. Truncating to 0 gives the empty index the segment starts from.
    index.truncate(0);
    assert.equal(index.count, 0);
    await index.close();
  });

  it("maps a large capacity a little at a time, growing the file as entries come", async () => {
    // V8 counts a mapping's whole length as external memory: 10 MiB per segment at once made
    // restarts with thousands of topics collect garbage most of the time.
    const path = join(await temporaryDirectory(), "0.index");
    const capacity = Math.floor((10 * 1024 * 1024) / indexEntryBytes);
    const index = await IndexFile.open(path, capacity * indexEntryBytes);
    index.truncate(0);
    assert.equal(index.capacity, capacity);
    assert.equal((await stat(path)).size, 64 * 1024);
    const entries = 20_000; // past two doublings
    for (let i = 0; i < entries; i++) index.append(i * 40);
    const grown = (await stat(path)).size;
    assert.ok(
      grown >= entries * indexEntryBytes && grown <= 4 * entries * indexEntryBytes,
      `${grown}`,
    );
    assert.equal(index.position(0), 0);
    assert.equal(index.position(entries - 1), (entries - 1) * 40);
    // Staged frames grow it too: 1,000 one-byte frames in one batch.
    const batch = encodeBatch(Array.from({ length: 1_000 }, () => Buffer.from("x")));
    index.stageFrames([batch], entries * 40, 1_000);
    index.commitStaged();
    assert.equal(index.count, entries + 1_000);
    index.release(); // a crash: no trim
    const reopened = await IndexFile.open(path, capacity * indexEntryBytes);
    assert.equal(reopened.count, entries + 1_000);
    assert.equal(reopened.position(entries - 1), (entries - 1) * 40);
    await reopened.close();
    assert.equal((await stat(path)).size, (entries + 1_000) * indexEntryBytes);
  });

  it("refuses entries past its capacity", async () => {
    const path = join(await temporaryDirectory(), "0.index");
    const index = await IndexFile.open(path, 3 * indexEntryBytes);
    index.truncate(0);
    for (let i = 0; i < 3; i++) index.append(i);
    assert.throws(() => index.append(3), /index full/);
    await index.close();
  });

  it("appends entries, reopens them and trims the file to the used entries on close", async () => {
    const path = join(await temporaryDirectory(), "0.index");
    const index = await IndexFile.open(path, 100 * indexEntryBytes);
    index.truncate(0);
    const positions = [0, 112, 224, 5_000, 2 ** 33 + 17]; // the last needs the high u32
    for (const position of positions) index.append(position);
    assert.equal(index.count, positions.length);
    positions.forEach((position, i) => {
      assert.equal(index.position(i), position);
    });
    await index.close();
    assert.equal((await stat(path)).size, positions.length * indexEntryBytes);

    const reopened = await IndexFile.open(path, 100 * indexEntryBytes);
    assert.equal(reopened.count, positions.length);
    assert.equal(reopened.capacity, 100);
    positions.forEach((position, i) => {
      assert.equal(reopened.position(i), position);
    });
    await reopened.close();
  });

  it("zeroes truncated entries so they cannot reappear after a reopen", async () => {
    const path = join(await temporaryDirectory(), "0.index");
    const index = await IndexFile.open(path, 16 * indexEntryBytes);
    index.truncate(0);
    for (let i = 0; i < 8; i++) index.append(i * 100);
    index.truncate(3);
    assert.equal(index.count, 3);
    assert.throws(() => index.position(3), { name: "AssertionFailure" });
    // Simulate a crash: read the mapped file without closing (no trim).
    const bytes = await readFile(path);
    assert.ok(bytes.subarray(3 * indexEntryBytes, 8 * indexEntryBytes).every((byte) => byte === 0));
    index.append(300);
    assert.equal(index.count, 4);
    index.release();
    const reopened = await IndexFile.open(path, 16 * indexEntryBytes);
    assert.equal(reopened.count, 4);
    assert.equal(reopened.position(3), 300);
    await reopened.close();
  });

  it("counts only the well-formed prefix of a damaged file", async () => {
    const directory = await temporaryDirectory();
    const path = join(directory, "0.index");
    const entries = Buffer.alloc(6 * indexEntryBytes);
    for (let i = 0; i < 6; i++) {
      entries.writeUInt32LE(i, i * indexEntryBytes);
      entries.writeUInt32LE(i * 50, i * indexEntryBytes + 4);
    }
    entries.writeUInt32LE(99, 4 * indexEntryBytes); // entry 4 has the wrong relative offset
    await writeFile(path, entries);
    const index = await IndexFile.open(path, 32 * indexEntryBytes);
    assert.equal(index.count, 4);
    await index.close();

    entries.writeUInt32LE(4, 4 * indexEntryBytes);
    entries.writeUInt32LE(10, 3 * indexEntryBytes + 4); // positions must increase
    await writeFile(path, entries);
    const second = await IndexFile.open(path, 32 * indexEntryBytes);
    assert.equal(second.count, 3);
    await second.close();

    await writeFile(path, entries.subarray(0, 2 * indexEntryBytes + 5)); // torn third entry
    const third = await IndexFile.open(path, 32 * indexEntryBytes);
    assert.ok(third.count >= 2 && third.count <= 3);
    assert.equal(third.position(1), 50);
    await third.close();
  });

  it("keeps a file larger than the requested capacity at its size", async () => {
    const path = join(await temporaryDirectory(), "0.index");
    const index = await IndexFile.open(path, 20 * indexEntryBytes);
    index.release();
    const smaller = await IndexFile.open(path, 5 * indexEntryBytes);
    assert.equal(smaller.capacity, 20);
    await smaller.close();
  });

  it("asserts when full and when used after close", async () => {
    const path = join(await temporaryDirectory(), "0.index");
    const index = await IndexFile.open(path, 2 * indexEntryBytes);
    index.truncate(0);
    index.append(0);
    index.append(10);
    assert.throws(() => index.append(20), { name: "AssertionFailure" });
    await index.close();
    assert.throws(() => index.position(0), { name: "AssertionFailure" });
    await index.close(); // idempotent
    await truncate(path, 0);
  });

  it("indexes the frames of encoded batches in one call, from their headers", async () => {
    const path = join(await temporaryDirectory(), "0.index");
    const index = await IndexFile.open(path, 16 * indexEntryBytes);
    index.truncate(0);
    index.append(0);
    const first = [Buffer.alloc(3), Buffer.alloc(0), Buffer.alloc(70_000)];
    const second = [Buffer.alloc(9)];
    const start = 2 ** 32 + 5; // positions above 4 GiB need the high half
    index.appendFrames([encodeBatch(first), encodeBatch(second)], start, 4);
    assert.equal(index.count, 5);
    const expected = [0, start];
    for (const payload of [...first, ...second].slice(0, -1)) {
      expected.push(expected.at(-1)! + frameBytes(payload.length));
    }
    expected.forEach((position, i) => {
      assert.equal(index.position(i), position);
    });
    // The entries survive a reopen as well formed (relative offsets and increasing positions).
    index.release();
    const reopened = await IndexFile.open(path, 16 * indexEntryBytes);
    assert.equal(reopened.count, 5);
    assert.equal(reopened.position(4), expected[4]);
    // A record count that disagrees with the frames, or one beyond the capacity, is refused.
    assert.throws(() => reopened.appendFrames([encodeBatch(second)], 10 ** 6, 2), {
      name: "AssertionFailure",
    });
    assert.throws(() => reopened.appendFrames([encodeBatch(second)], 10 ** 6, 12), {
      name: "AssertionFailure",
    });
    assert.throws(() => reopened.appendFrames([encodeBatch(first)], 10 ** 6, 1), {
      name: "AssertionFailure",
    });
    assert.equal(reopened.count, 5);
    await reopened.close();
  });

  it("stages entries uncounted; commit counts them, discard zeroes them", async () => {
    const path = join(await temporaryDirectory(), "0.index");
    const index = await IndexFile.open(path, 16 * indexEntryBytes);
    index.truncate(0); // a zeroed first slot reads as offset 0 at position 0
    const batch = encodeBatch([Buffer.alloc(5), Buffer.alloc(6)]);
    index.appendFrames([batch], 0, 2);
    index.stageFrames([batch], batch.length, 2);
    assert.equal(index.count, 2);
    assert.throws(() => index.position(2), { name: "AssertionFailure" });
    assert.throws(() => index.stageFrames([batch], 2 * batch.length, 2), {
      name: "AssertionFailure",
    });
    // Staged entries are in the mapping (well formed, as a crash could leave them)...
    const staged = await readFile(path);
    assert.equal(staged.readUInt32LE(2 * indexEntryBytes), 2);
    assert.equal(staged.readUInt32LE(2 * indexEntryBytes + 4), batch.length);
    // ...until discarded: a failed write leaves nothing a reopen could count.
    index.discardStaged();
    assert.equal(index.count, 2);
    assert.ok((await readFile(path)).subarray(2 * indexEntryBytes).every((byte) => byte === 0));
    index.stageFrames([batch], batch.length, 2);
    index.commitStaged();
    assert.equal(index.count, 4);
    assert.equal(index.position(3), batch.length + frameBytes(5));
    index.release();
    const reopened = await IndexFile.open(path, 16 * indexEntryBytes);
    assert.equal(reopened.count, 4);
    await reopened.close();
  });
});

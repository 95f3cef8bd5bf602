// Zeros written ahead of the active segment's records (LogOptions.zeroFillBytes): they are there
// while the log runs, never read as records, cut from a segment before it is sealed and from the
// active one on close, and recovery after a crash takes them for what they are (no torn tail).
import assert from "node:assert/strict";
import { copyFile, mkdir, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { frameBytes } from "../../src/log/frame.js";
import { Log } from "../../src/log/log.js";
import { segmentFileName } from "../../src/log/segment.js";
import { payloadFor, temporaryDirectory } from "./temp-directory.js";

const everything = { maxRecords: Number.MAX_SAFE_INTEGER, maxBytes: Number.MAX_SAFE_INTEGER };
const recordBytes = 1000;
const options = { segmentBytesMax: 64 * 1024, zeroFillBytes: 16 * 1024 };

async function storeSizes(directory: string): Promise<Map<number, number>> {
  const sizes = new Map<number, number>();
  for (const name of await readdir(directory)) {
    if (!name.endsWith(".store")) continue;
    sizes.set(Number(name.slice(0, 20)), (await stat(join(directory, name))).size);
  }
  return sizes;
}

/** Waits (bounded) until the active store file is longer than its records. */
async function zerosAhead(directory: string, log: Log, base: number): Promise<number> {
  const path = join(directory, segmentFileName(base, "store"));
  const recordsEnd = (log.nextOffset - base) * frameBytes(recordBytes);
  for (let i = 0; i < 200; i++) {
    const { size } = await stat(path);
    if (size > recordsEnd) return size - recordsEnd;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.fail(`no zeros past the records of ${path} within 1 s`);
}

async function expectAll(log: Log, count: number): Promise<void> {
  const records = await log.readRange(0, everything);
  assert.equal(records.length, count);
  for (const record of records)
    assert.ok(record.payload.equals(payloadFor(record.offset, recordBytes)), `${record.offset}`);
}

describe("zero fill ahead of the active segment", () => {
  it("writes zeros ahead, reads only records, and trims on roll and close", async () => {
    const directory = await temporaryDirectory();
    const log = await Log.open(directory, options);
    let count = 0;
    try {
      await log.append([payloadFor(count++, recordBytes)]);
      const ahead = await zerosAhead(directory, log, 0);
      assert.ok(ahead > 0 && ahead <= options.zeroFillBytes, `${ahead} bytes of zeros ahead`);
      await assert.rejects(log.read(count), { code: "out_of_range" });
      // Past several rolls, one record at a time and in concurrent batches.
      while (log.segmentCount < 4) {
        await Promise.all(
          Array.from({ length: 8 }, () => {
            const offset = count++;
            return log.append([payloadFor(offset, recordBytes)]);
          }),
        );
      }
      await log.sync();
      await expectAll(log, count);
      // Every sealed segment ends with its last record.
      const sizes = await storeSizes(directory);
      const bases = [...sizes.keys()].sort((a, b) => a - b);
      for (const [i, base] of bases.slice(0, -1).entries()) {
        const records = bases[i + 1]! - base;
        assert.equal(sizes.get(base), records * frameBytes(recordBytes), `sealed segment ${base}`);
      }
    } finally {
      await log.close();
    }
    const sizes = await storeSizes(directory);
    const last = Math.max(...sizes.keys());
    assert.equal(sizes.get(last), (count - last) * frameBytes(recordBytes), "trimmed on close");
    const reopened = await Log.open(directory, options);
    try {
      assert.deepEqual(reopened.recovery, { droppedBytes: 0, rebuiltEntries: 0 });
      await expectAll(reopened, count);
    } finally {
      await reopened.close();
    }
  });

  it("recovers a crash copy whose active segment ends in zeros: nothing dropped, appends go on", async () => {
    const directory = await temporaryDirectory();
    const crashed = join(await temporaryDirectory(), "crashed");
    const log = await Log.open(directory, options);
    let count = 0;
    try {
      for (let i = 0; i < 5; i++) await log.append([payloadFor(count++, recordBytes)]);
      await zerosAhead(directory, log, 0);
      await log.sync();
      // The state a crash leaves: the files as they are, without close's trim.
      await mkdir(crashed);
      for (const name of await readdir(directory))
        await copyFile(join(directory, name), join(crashed, name));
    } finally {
      await log.close();
    }
    const recordsEnd = count * frameBytes(recordBytes);
    assert.ok((await storeSizes(crashed)).get(0)! > recordsEnd, "the copy has zeros ahead");
    const recovered = await Log.open(crashed, options);
    try {
      assert.equal(recovered.recovery.droppedBytes, 0);
      assert.equal(recovered.nextOffset, count);
      await expectAll(recovered, count);
      assert.equal(await recovered.append([payloadFor(count, recordBytes)]), count);
      count++;
      await recovered.sync();
      await expectAll(recovered, count);
    } finally {
      await recovered.close();
    }
  });

  it("writes no zeros when zeroFillRoom says the disk has no room for them", async () => {
    const directory = await temporaryDirectory();
    const log = await Log.open(directory, {
      ...options,
      zeroFillRoom: () => false,
    });
    try {
      for (let offset = 0; offset < 40; offset++)
        await log.append([payloadFor(offset, recordBytes)]);
      await log.sync();
      await new Promise((resolve) => setTimeout(resolve, 50)); // room for a fill to have run
      const sizes = await storeSizes(directory);
      for (const [base, size] of sizes) {
        const next = [...sizes.keys()].filter((other) => other > base).sort((a, b) => a - b)[0];
        const records = (next ?? log.nextOffset) - base;
        assert.equal(size, records * frameBytes(recordBytes), `segment ${base} has no zeros`);
      }
      await expectAll(log, 40);
    } finally {
      await log.close();
    }
  });

  it("takes room for each fill and says when its zeros are written", async () => {
    // The disk-space guard counts taken room as coming until it is written: zeros it never
    // charged let its estimate of free space run a fill ahead of the disk.
    const directory = await temporaryDirectory();
    const taken: number[] = [];
    let written = 0;
    const log = await Log.open(directory, {
      ...options,
      zeroFillRoom: (bytes) => {
        taken.push(bytes);
        return () => {
          written += bytes;
        };
      },
    });
    try {
      for (let offset = 0; offset < 40; offset++)
        await log.append([payloadFor(offset, recordBytes)]);
      await log.sync();
      await new Promise((resolve) => setTimeout(resolve, 50)); // room for a fill to have run
      assert.ok(taken.length > 0, "no fill took room");
      const sizes = await storeSizes(directory);
      const zeros =
        [...sizes.values()].reduce((sum, size) => sum + size, 0) - 40 * frameBytes(recordBytes);
      assert.equal(
        written,
        taken.reduce((sum, bytes) => sum + bytes, 0),
        "every fill said it was written",
      );
      assert.ok(zeros <= written, `${zeros} bytes of zeros on disk, ${written} accounted`);
    } finally {
      await log.close();
    }
  });

  it("truncates a suffix into the zero-filled segment and appends after it", async () => {
    const directory = await temporaryDirectory();
    const log = await Log.open(directory, options);
    try {
      for (let offset = 0; offset < 10; offset++)
        await log.append([payloadFor(offset, recordBytes)]);
      await zerosAhead(directory, log, 0);
      await log.truncateSuffix(6);
      assert.equal(log.nextOffset, 6);
      for (let offset = 6; offset < 12; offset++)
        assert.equal(await log.append([payloadFor(offset, recordBytes)]), offset);
      await log.sync();
      await expectAll(log, 12);
    } finally {
      await log.close();
    }
    const reopened = await Log.open(directory, options);
    try {
      await expectAll(reopened, 12);
    } finally {
      await reopened.close();
    }
  });
});

// A log's recorded start (start-offset.ts): a lost first segment is data_loss at open, where it
// used to pass for retention (an outside probe removed a follower's first segment of a topic
// without retention: it served from offset 117 and called 0–116 "not retained"); a deletion
// that a crash cut short is finished at open; a log without the file opens as before.
import assert from "node:assert/strict";
import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Log } from "../../src/log/log.js";
import { temporaryDirectory } from "./temp-directory.js";

const options = { segmentBytesMax: 1024 };
const record = Buffer.alloc(300, 1);

/** A log of `records` 300-byte records in 1 KiB segments (three records each), closed. */
async function filled(records: number): Promise<string> {
  const directory = await temporaryDirectory();
  const log = await Log.open(directory, options);
  for (let i = 0; i < records; i++) await log.append([record]);
  await log.close();
  return directory;
}

async function segmentFiles(directory: string): Promise<string[]> {
  return (await readdir(directory)).filter((name) => /^\d{20}\.(store|index)$/.test(name)).sort();
}

describe("a log's recorded start", () => {
  it("is data_loss when the first segment is missing", async () => {
    const directory = await filled(10);
    const [firstIndex, firstStore] = await segmentFiles(directory);
    await rm(join(directory, firstIndex!));
    await rm(join(directory, firstStore!));
    await assert.rejects(Log.open(directory, options), {
      code: "data_loss",
      message: /its start is recorded at 0, but its records start at 3: segments are missing/,
    });
  });

  it("moves with retention and truncation, so their removals are no loss", async () => {
    const directory = await filled(10);
    let log = await Log.open(directory, options);
    assert.equal(await log.truncatePrefix(6), 2);
    assert.equal(log.lowestOffset, 6);
    await log.close();
    log = await Log.open(directory, options);
    assert.equal(log.lowestOffset, 6);
    assert.equal(await log.applyRetention({ retentionBytes: 1, retentionMs: 0 }), 1);
    assert.equal(log.lowestOffset, 9);
    await log.truncateSuffix(2);
    assert.equal(log.lowestOffset, 2);
    await log.close();
    log = await Log.open(directory, options);
    assert.equal(log.lowestOffset, 2);
    assert.equal(log.nextOffset, 2);
    await log.close();
  });

  it("finishes a deletion that a crash cut short", async () => {
    const directory = await filled(10);
    // As if retention recorded the new start and died before deleting the first two segments.
    await writeFile(join(directory, "start-offset"), await startFileFor(6));
    const log = await Log.open(directory, options);
    assert.equal(log.lowestOffset, 6);
    assert.equal((await segmentFiles(directory)).length, 4);
    await log.close();
  });

  it("is written for a log that had none (an older one), from its segments", async () => {
    const directory = await filled(10);
    await rm(join(directory, "start-offset"));
    const log = await Log.open(directory, options);
    assert.equal(log.lowestOffset, 0);
    await log.close();
    assert.match(await readFile(join(directory, "start-offset"), "latin1"), /^0\ncrc32c /);
  });
});

/** The start-offset file a log writes for `offset` (made by a log, not by hand). */
async function startFileFor(offset: number): Promise<Buffer> {
  const scratch = await temporaryDirectory();
  const log = await Log.open(scratch, { ...options, initialOffset: offset });
  await log.close();
  return readFile(join(scratch, "start-offset"));
}

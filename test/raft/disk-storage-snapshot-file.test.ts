// The Raft snapshot file on disk: written with a checksum line, refused as data_loss when a byte
// of it changed, and read as before when it was written without one (by an older tidelog).
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { DiskStorage } from "../../src/raft/driver/disk-storage.js";

const snapshot = {
  metadata: { index: 7, term: 2, confState: { voters: ["a", "b", "c"], learners: [] } },
  data: new Uint8Array(Buffer.from('{"topics":[{"name":"t","nextOffset":441}],"servers":[]}')),
};

async function withDirectory(body: (directory: string) => Promise<void>): Promise<void> {
  const directory = await mkdtemp(join(tmpdir(), "tidelog-snapshot-file-"));
  try {
    await body(directory);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

async function written(directory: string): Promise<string> {
  const storage = await DiskStorage.open(directory);
  await storage.applySnapshot(snapshot);
  await storage.close();
  return join(directory, "snapshot");
}

/** Opens the storage in `directory` and checks that it holds `snapshot`. */
async function assertReadsBack(directory: string): Promise<void> {
  const storage = await DiskStorage.open(directory);
  try {
    assert.deepEqual(storage.snapshot().metadata, snapshot.metadata);
    assert.deepEqual(Buffer.from(storage.snapshot().data), Buffer.from(snapshot.data));
  } finally {
    await storage.close();
  }
}

test("a snapshot file reads back whole", async () => {
  await withDirectory(async (directory) => {
    await written(directory);
    await assertReadsBack(directory);
  });
});

test("a snapshot file with one byte changed is refused as data_loss", async () => {
  await withDirectory(async (directory) => {
    const path = await written(directory);
    const file = await readFile(path);
    const at = file.indexOf("441") + 2;
    file[at] = "0".charCodeAt(0);
    await writeFile(path, file);
    await assert.rejects(DiskStorage.open(directory), {
      code: "data_loss",
      message: new RegExp(`the Raft snapshot file ${path} is damaged: its checksum is`),
    });
  });
});

test("a snapshot file without a checksum line (an older tidelog's) is read as it is", async () => {
  await withDirectory(async (directory) => {
    const path = await written(directory);
    const file = await readFile(path);
    await writeFile(path, file.subarray(0, file.lastIndexOf("crc32c ")));
    await assertReadsBack(directory);
  });
});

test("a snapshot file cut short is refused as data_loss", async () => {
  await withDirectory(async (directory) => {
    const path = await written(directory);
    await writeFile(path, (await readFile(path)).subarray(0, 20));
    await assert.rejects(DiskStorage.open(directory), {
      code: "data_loss",
      message: /its header runs past its end/,
    });
  });
});

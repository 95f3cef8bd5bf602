// Files that no record frame covers, damaged while the node is down: the Raft snapshot file (the
// checkpoint each topic is cut back to on restart), a topic's configuration (its retention), and
// the Raft hard state (term and vote: a node that forgets them may vote twice in one term; it
// used to start at term 0 without a word).
// An outside probe flipped one bit of a topic's next offset in the snapshot file (441 → 440): the
// node restarted, answered ready, and served other records at acknowledged offsets, for good.
// Now each file ends with a CRC32C line; the node refuses to start, naming the damaged file, and
// starts again once the file is whole.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, rm, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { NodeProcess } from "../harness/node-process.js";
import { type Acknowledged, checkLog, clientsFor, produceValues, readTopic } from "./support.js";

/** Flips the lowest bit of the last character of `pattern`'s first match in `path`. */
async function flipDigitAfter(path: string, pattern: RegExp): Promise<Buffer> {
  const original = await readFile(path);
  const match = pattern.exec(original.toString("latin1"));
  assert.ok(match, `${path} has no ${pattern}`);
  const damaged = Buffer.from(original);
  damaged[match.index + match[0].length - 1]! ^= 0x01;
  await writeFile(path, damaged);
  return original;
}

interface Damage {
  name: string;
  file: (dataDirectory: string) => string;
  /** Damages the file; resolves with its original bytes. */
  damage: (path: string) => Promise<Buffer>;
  message: RegExp;
}

const cases: Damage[] = [
  {
    name: "the Raft snapshot file is damaged (a topic's next offset)",
    file: (dataDirectory) => join(dataDirectory, "raft", "snapshot"),
    damage: (path) => flipDigitAfter(path, /"nextOffset":\d+/),
    message: /is damaged: its checksum is/,
  },
  {
    name: "the Raft snapshot file's checksum line is damaged",
    file: (dataDirectory) => join(dataDirectory, "raft", "snapshot"),
    damage: async (path) => {
      const original = await readFile(path);
      const damaged = Buffer.from(original);
      damaged[damaged.lastIndexOf("crc32c ") + 5]! ^= 0x01; // "crc32c" → "crc32b"
      await writeFile(path, damaged);
      return original;
    },
    message: /checkpoint \(the Raft snapshot file, \S+raft\/snapshot\) is damaged: snapshot data/,
  },
  {
    name: "a topic's configuration is damaged (its retention)",
    file: (dataDirectory) => join(dataDirectory, "topics", "kept", "topic.json"),
    damage: (path) => flipDigitAfter(path, /"retentionBytes":\d+/),
    message: /is damaged: its checksum is/,
  },
  {
    name: "its cluster-id file is removed",
    file: (dataDirectory) => join(dataDirectory, "cluster-id"),
    damage: async (path) => {
      const original = await readFile(path);
      await rm(path);
      return original;
    },
    message: /cluster-id is missing or empty while this node holds Raft state/,
  },
  ...[
    { how: "removed", damage: (path: string) => rm(path) },
    { how: "emptied", damage: (path: string) => truncate(path, 0) },
    {
      how: "damaged in both slots",
      damage: async (path: string) => {
        const file = await readFile(path);
        file[8]! ^= 0xff;
        file[512 + 8]! ^= 0xff;
        await writeFile(path, file);
      },
    },
  ].map(({ how, damage }) => ({
    name: `the Raft hard state (term and vote) is ${how}`,
    file: (dataDirectory: string) => join(dataDirectory, "raft", "hard-state"),
    damage: async (path: string) => {
      const original = await readFile(path);
      await damage(path);
      return original;
    },
    message: /is missing or damaged while this node holds Raft state/,
  })),
];

for (const { name, file, damage, message } of cases) {
  test(`a node refuses to start when ${name}, and starts once it is whole`, async () => {
    // A checkpoint every 20 entries: the 40 requests below are in one.
    const args = ["--disk-reserve-bytes", "0", "--snapshot-entries", "20"];
    const node = await NodeProcess.start({ args: ["--bootstrap", ...args] });
    let clients = clientsFor(node.baseUrl);
    try {
      await clients.topics.createTopic({ name: "kept", config: { retentionBytes: 1_000_000n } });
      const kept: Acknowledged = new Map();
      for (let i = 0; i < 40; i++) await produceValues(clients, "kept", [`k-${i}`], kept);
      clients.close();
      node.kill("SIGKILL");
      await node.waitExit();

      const path = file(node.dataDirectory);
      const original = await damage(path);
      await assert.rejects(node.restart());
      const status = await node.waitExit();
      assert.notEqual(status.code, 0, node.describe());
      assert.match(node.stderr, message, node.describe());
      assert.ok(node.stderr.includes(path), `the message names ${path}:\n${node.describe()}`);

      await writeFile(path, original);
      await node.restart();
      clients = clientsFor(node.baseUrl);
      assert.equal(checkLog(await readTopic(clients, "kept"), kept, "kept"), 40);
    } finally {
      clients.close();
      await node.destroy();
    }
  });
}

test("a node whose node-id file is gone refuses to start without --id, and starts with it", async () => {
  const node = await NodeProcess.start({ args: ["--bootstrap", "--disk-reserve-bytes", "0"] });
  let clients = clientsFor(node.baseUrl);
  try {
    const kept: Acknowledged = new Map();
    await produceValues(clients, "kept", ["k-0"], kept);
    clients.close();
    await node.stop();
    const path = join(node.dataDirectory, "node-id");
    const original = await readFile(path);
    await rm(path);
    // Without --id it would have run as node-1: another node's name.
    const refused = spawnSync(
      process.execPath,
      ["bin/tidelog", "serve", "--listen", "127.0.0.1:0", "--data-dir", node.dataDirectory],
      { encoding: "utf8", timeout: 30_000 },
    );
    assert.notEqual(refused.status, 0, refused.stderr);
    assert.match(
      refused.stderr,
      /holds a node's data but no node-id file naming it: start it with --id/,
    );
    assert.ok(!existsSync(path), "nothing was written");
    await writeFile(path, original);
    await node.restart();
    clients = clientsFor(node.baseUrl);
    assert.equal(checkLog(await readTopic(clients, "kept"), kept, "kept"), 1);
  } finally {
    clients.close();
    await node.destroy();
  }
});

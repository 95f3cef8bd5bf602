// Files that no record frame covers, damaged while the node is down: the Raft snapshot file (the
// checkpoint each topic is cut back to on restart) and a topic's configuration (its retention).
// An outside probe flipped one bit of a topic's next offset in the snapshot file (441 → 440): the
// node restarted, answered ready, and served other records at acknowledged offsets, for good.
// Now each file ends with a CRC32C line; the node refuses to start, naming the damaged file, and
// starts again once the file is whole.
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
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

const cases = [
  {
    name: "the Raft snapshot file (a topic's next offset)",
    file: (dataDirectory: string) => join(dataDirectory, "raft", "snapshot"),
    pattern: /"nextOffset":\d+/,
  },
  {
    name: "a topic's configuration (its retention)",
    file: (dataDirectory: string) => join(dataDirectory, "topics", "kept", "topic.json"),
    pattern: /"retentionBytes":\d+/,
  },
];

for (const { name, file, pattern } of cases) {
  test(`a node refuses to start when ${name} is damaged, and starts once it is whole`, async () => {
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
      const original = await flipDigitAfter(path, pattern);
      await assert.rejects(node.restart());
      const status = await node.waitExit();
      assert.notEqual(status.code, 0, node.describe());
      assert.match(node.stderr, /is damaged: its checksum is/, node.describe());
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

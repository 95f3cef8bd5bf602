// A corrupted byte in a sealed segment. The node is stopped, one byte in the middle of the oldest
// `.store` file of a topic is flipped, and the node restarts.
//
// The policy the code implements (src/log/segment.ts read path, src/log/log.ts open):
// - every frame carries a CRC32C over its batch fields and payload; it is checked on every read,
//   so a damaged record is detected when read and answered with DATA_LOSS, never served;
// - a read whose range covers the damaged record fails as a whole (DATA_LOSS) — a consumer must
//   step over the offset to go on; every other record stays readable at its offset;
// - recovery at open only validates the tail (after the last good index entry) of each segment,
//   so damage inside a sealed segment does not stop the node from starting;
// - a single node has no peer to repair from: the record stays DATA_LOSS (the Raft log it was
//   applied from has been compacted away after the checkpoint). A replica repairs it from peers
//   when it next installs a snapshot (damaged-follower-snapshot.test.ts).
import assert from "node:assert/strict";
import { open, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { NodeProcess } from "../harness/node-process.js";
import {
  type Acknowledged,
  Code,
  checkLog,
  clientsFor,
  codeOf,
  produceValues,
  readTopic,
} from "./support.js";

const topic = "fragile";

const places = [
  { name: "the middle of the file", at: (size: number) => Math.floor(size / 2) },
  { name: "the first frame's length field", at: () => 1 },
];

for (const place of places) {
  test(`a flipped byte in ${place.name} of a sealed segment: data_loss for that record only`, async () => {
    // Tiny segments so that the topic rolls many; frequent checkpoints so that the damaged segment
    // is older than the last checkpoint (not rewritten by replaying the Raft log at start).
    const args = [
      "--disk-reserve-bytes",
      "0",
      "--segment-bytes",
      "1024",
      "--snapshot-entries",
      "5",
    ];
    const node = await NodeProcess.start({ args: ["--bootstrap", ...args] });
    let clients = clientsFor(node.baseUrl);
    const acked: Acknowledged = new Map();
    try {
      for (let i = 0; i < 40; i++) {
        await produceValues(
          clients,
          topic,
          Array.from({ length: 3 }, (_, j) => `record-${i}-${j}-${"x".repeat(60)}`),
          acked,
        );
      }
      clients.close();
      await node.stop();

      const directory = join(node.dataDirectory, "topics", topic);
      const stores = (await readdir(directory)).filter((name) => name.endsWith(".store")).sort();
      assert.ok(stores.length >= 4, `expected several segments, got ${stores.join(", ")}`);
      const oldest = join(directory, stores[0]!);
      const size = (await stat(oldest)).size;
      const position = place.at(size);
      const file = await open(oldest, "r+");
      try {
        const byte = Buffer.alloc(1);
        await file.read(byte, 0, 1, position);
        byte[0] = byte[0]! ^ 0xff;
        await file.write(byte, 0, 1, position);
        await file.sync();
      } finally {
        await file.close();
      }

      const restarted = Date.now();
      await node.restart(args);
      clients = clientsFor(node.baseUrl);
      const serveMs = Date.now() - restarted;

      // Every offset alone: exactly the damaged record is data_loss, every other one is intact.
      const damaged: number[] = [];
      for (const [offset, value] of [...acked].sort((a, b) => a[0] - b[0])) {
        try {
          const response = await clients.log.consume(
            { topic, offset: BigInt(offset), maxRecords: 1 },
            { timeoutMs: 5_000 },
          );
          assert.equal(response.records.length, 1);
          assert.equal(
            Buffer.from(response.records[0]!.value).toString(),
            value,
            `offset ${offset}`,
          );
        } catch (error) {
          if (error instanceof assert.AssertionError) throw error;
          assert.equal(await codeOf(Promise.reject(error)), Code.DataLoss, String(error));
          damaged.push(offset);
        }
      }
      assert.equal(damaged.length, 1, `damaged offsets: ${damaged.join(", ")}`);
      const bad = damaged[0]!;
      // A range read covering it fails as a whole rather than serving a corrupt record.
      assert.equal(
        await codeOf(clients.log.consume({ topic, offset: 0n, maxRecords: 1_000 })),
        Code.DataLoss,
      );
      // Reading around it works, and the node takes writes.
      const intact = new Map(acked);
      intact.delete(bad);
      await produceValues(clients, topic, ["after-corruption"], intact);
      const tail = await readTopic(clients, topic).catch(() => undefined);
      assert.equal(tail, undefined, "a whole-topic read must not step over the damage silently");
      const afterDamage = await clients.log.consume({
        topic,
        offset: BigInt(bad + 1),
        maxRecords: 1_000,
      });
      const records = afterDamage.records.map((record) => ({
        offset: Number(record.offset),
        value: Buffer.from(record.value).toString(),
      }));
      const laterAcked = new Map([...intact].filter(([offset]) => offset > bad));
      const checked = checkLog(records, laterAcked, "after the damaged record");
      console.log(
        `[corruption] ${place.name}: byte ${position} of ${stores[0]} (${size} bytes, ${stores.length} segments) ` +
          `flipped: offset ${bad} is data_loss, ${acked.size - 1} other records intact ` +
          `(${checked} read past it in one range); served again ${serveMs} ms after restart`,
      );
    } finally {
      clients.close();
      await node.destroy();
    }
  });
}

// A node restarts after deleting a topic its last checkpoint holds. The checkpoint lists the topic;
// the Raft log after it replays the delete (and whatever followed: the topic created again with
// fewer records). The node used to refuse to start ("topic of the checkpoint is missing", "ends at
// 5 but the checkpoint says 120"), every time, on every replica that restarted. A later topic of
// that name, longer than the checkpoint's, was kept as the checkpoint's until the replay deleted it.
import assert from "node:assert/strict";
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

const cases = [
  { name: "deleted", recreate: 0, signal: "SIGKILL" },
  { name: "deleted and created again, shorter", recreate: 3, signal: "SIGKILL" },
  { name: "deleted and created again, longer", recreate: 150, signal: "SIGKILL" },
  { name: "deleted, stopped with SIGTERM", recreate: 0, signal: "SIGTERM" },
] as const;

for (const { name, recreate, signal } of cases) {
  test(`a node restarts after a topic of its checkpoint was ${name}`, async () => {
    // Checkpoints every 20 entries: the 40 requests below put the topic in one.
    const args = ["--disk-reserve-bytes", "0", "--snapshot-entries", "20"];
    const node = await NodeProcess.start({ args: ["--bootstrap", ...args] });
    let clients = clientsFor(node.baseUrl);
    try {
      const kept: Acknowledged = new Map();
      for (let i = 0; i < 40; i++) {
        await produceValues(clients, "doomed", [`d-${i}-0`, `d-${i}-1`, `d-${i}-2`], new Map());
        await produceValues(clients, "kept", [`k-${i}`], kept);
      }
      await clients.topics.deleteTopic({ name: "doomed" });
      const again: Acknowledged = new Map();
      if (recreate > 0) {
        const values = Array.from({ length: recreate }, (_, i) => `new-${i}`);
        await produceValues(clients, "doomed", values, again);
      }
      await produceValues(clients, "kept", ["k-last"], kept);
      clients.close();
      if (signal === "SIGKILL") {
        node.kill("SIGKILL");
        await node.waitExit();
      } else {
        await node.stop();
      }

      await node.restart();
      clients = clientsFor(node.baseUrl);
      assert.equal(checkLog(await readTopic(clients, "kept"), kept, "kept"), 41);
      if (recreate > 0) {
        assert.deepEqual(
          await readTopic(clients, "doomed"),
          Array.from({ length: recreate }, (_, i) => ({ offset: i, value: `new-${i}` })),
        );
      } else {
        assert.equal(
          await codeOf(clients.log.consume({ topic: "doomed", offset: 0n })),
          Code.NotFound,
        );
      }
      await produceValues(clients, "kept", ["k-after"], kept);
    } finally {
      clients.close();
      await node.destroy();
    }
  });
}

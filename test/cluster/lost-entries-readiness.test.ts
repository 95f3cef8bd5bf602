// A follower whose last Raft log entry is damaged (a flipped byte in the last frame of its active
// segment) drops that entry when it starts: its log is now shorter than what it acknowledged,
// and the leader's heartbeats say so. It cannot catch up on its own (the leader sends from what
// it acknowledged), so it must not look like a healthy member: /readyz answers 503 with the
// reason, and its reads answer failed_precondition with it instead of a state that stopped.
import assert from "node:assert/strict";
import { open, readdir } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { frameHeaderBytes } from "../../src/log/frame.js";
import { Cluster } from "../harness/cluster.js";

const topic = "damaged";

test("a follower that lost its last acknowledged entry is not ready and says why", async () => {
  // No snapshot nor compaction: the entries stay in the Raft log's segments.
  await Cluster.run({ size: 3, args: ["--snapshot-entries", "1000000"] }, async (cluster) => {
    const leader = await cluster.waitForLeader();
    for (let i = 0; i < 20; i++) {
      await cluster.client(leader).log.produce({
        topic,
        records: [{ value: Buffer.from(`record-${i}`) }],
      });
    }
    const follower = cluster.ids.find((id) => id !== leader)!;
    await cluster.waitCaughtUp(follower, topic, 20);
    await cluster.terminate(follower);

    const entries = join(cluster.member(follower).dataDirectory, "raft", "entries");
    const stores = (await readdir(entries)).filter((name) => name.endsWith(".store")).sort();
    const active = join(entries, stores.at(-1)!);
    const last = await lastFrame(active);
    await flipByte(active, last.position + frameHeaderBytes + Math.floor(last.length / 2));

    await cluster.restart(follower);
    const readiness = await cluster.waitNotReady(follower, /lost Raft log entries/, 30_000);
    assert.match(readiness.reason, /remove it with Leave and join it again/);
    console.log(`[lost entries] ${follower}: 503 "${readiness.reason}"`);

    const error = await cluster
      .client(follower)
      .log.consume({ topic, offset: 0n })
      .then(
        () => undefined,
        (thrown: unknown) => ConnectError.from(thrown),
      );
    assert.ok(error !== undefined, "Consume on the damaged follower succeeded");
    assert.equal(error.code, Code.FailedPrecondition, error.message);
    assert.match(error.rawMessage, /lost Raft log entries/);
    // It is still a member: GetServers answers (its operator needs to see it), and the others
    // keep serving.
    const { servers } = await cluster.servers(follower);
    assert.ok(servers.some((server) => server.id === follower));
    await cluster.client(leader).log.produce({ topic, records: [{ value: Buffer.from("after") }] });
  });
});

/** The last frame of a Raft log segment (frames until the zeros written ahead, or the end). */
async function lastFrame(path: string): Promise<{ position: number; length: number }> {
  const handle = await open(path, "r");
  try {
    const { size } = await handle.stat();
    const header = Buffer.alloc(frameHeaderBytes);
    let position = 0;
    let last: { position: number; length: number } | undefined;
    for (let frames = 0; frames < 1_000_000 && position + frameHeaderBytes <= size; frames++) {
      await handle.read(header, 0, frameHeaderBytes, position);
      const length = header.readUInt32LE(0);
      if (length === 0 || position + frameHeaderBytes + length > size) break;
      last = { position, length };
      position += frameHeaderBytes + length;
    }
    assert.ok(last !== undefined, `no frame in ${path}`);
    return last;
  } finally {
    await handle.close();
  }
}

async function flipByte(path: string, position: number): Promise<void> {
  const handle = await open(path, "r+");
  try {
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, position);
    byte[0]! ^= 0x01;
    await handle.write(byte, 0, 1, position);
  } finally {
    await handle.close();
  }
}

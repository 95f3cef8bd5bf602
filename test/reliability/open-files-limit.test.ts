// Every topic segment holds a file open, so the open-file limit bounds the topics a node can
// hold, and replicas holding the same segments reach it at the same entry: a write failing with
// EMFILE while applying it stopped every node at once. Three nodes run under a small limit
// (`ulimit -n`): creating topics until refused must give resource_exhausted naming open files,
// before any node fails; every node stays up and serves every acknowledged record. Restarted at
// the line, every node refuses new entries, yet topic deletes commit and make room again
// (open-files-guard.ts, entry-admission.ts).
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { Cluster, waitUntil } from "../harness/cluster.js";
import { exitWhenDone } from "../harness/exit-when-done.js";

exitWhenDone();

const openFilesLimit = 320;

const openFiles = async (pid: number) => (await readdir(`/proc/${pid}/fd`)).length;
const topicsMax = 400;

test("at the open-file reserve new topics are resource_exhausted, no node fails, and deleting topics makes room", async () => {
  await Cluster.run({ size: 3, openFilesLimit }, async (cluster) => {
    await cluster.waitForLeader();
    const created: string[] = [];
    let refusal: ConnectError | undefined;
    for (let i = 0; i < topicsMax && refusal === undefined; i++) {
      const through = cluster.ids[i % cluster.ids.length]!;
      const topic = `t${i}`;
      try {
        await cluster
          .client(through)
          .log.produce({ topic, records: [{ value: Buffer.from(topic) }] });
        created.push(topic);
      } catch (error) {
        refusal = ConnectError.from(error);
      }
    }
    assert.ok(
      refusal !== undefined,
      `${topicsMax} topics were created under a limit of ${openFilesLimit} open files`,
    );
    assert.equal(refusal.code, Code.ResourceExhausted, refusal.message);
    assert.match(refusal.rawMessage, /open files/);
    for (const member of cluster.members)
      assert.ok(member.process!.running, member.process!.describe());

    // Every acknowledged record is on every node.
    await cluster.waitConverged(created, { timeoutMs: 30_000 });
    for (const id of cluster.ids) {
      for (const topic of created) {
        assert.deepEqual(await cluster.readLog(id, topic), [topic], `${topic} on ${id}`);
      }
    }

    // Every node restarted at the line (its limit just above what it holds open) refuses new
    // entries; topic deletes take no room, so they still commit, and they make room again.
    const held = new Map<string, number>();
    for (const id of cluster.ids) held.set(id, await openFiles(cluster.member(id).process!.pid!));
    for (const id of cluster.ids) await cluster.kill(id);
    for (const id of cluster.ids) {
      cluster.member(id).process!.openFilesLimit = held.get(id)! + 16;
      await cluster.restart(id);
    }
    const leader = (await cluster.waitForLeader())!;
    for (const id of cluster.ids) await cluster.waitNotReady(id, /open files in use/, 15_000);
    const doomed = created.splice(0, 40);
    for (const topic of doomed) {
      await cluster.client(leader).topics.deleteTopic({ name: topic }, { timeoutMs: 10_000 });
    }
    let accepted = false;
    await waitUntil(
      async () => {
        try {
          await cluster
            .client(leader)
            .log.produce({ topic: "after", records: [{ value: Buffer.from("after") }] });
          accepted = true;
        } catch (error) {
          assert.equal(ConnectError.from(error).code, Code.ResourceExhausted);
        }
        return accepted;
      },
      () => "no topic could be created after 40 were deleted",
      15_000,
    );
    await cluster.waitConverged(created, { timeoutMs: 30_000 });
    for (const member of cluster.members)
      assert.ok(member.process!.running, member.process!.describe());
    console.log(
      `[open files] refused at topic ${created.length + doomed.length} under ulimit -n ${openFilesLimit}: ${refusal.rawMessage}; ` +
        `restarted at the line (${[...held.values()].join(", ")} open), 40 deletes committed and made room`,
    );
  });
});

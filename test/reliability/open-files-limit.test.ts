// Every topic segment holds two files open, so the open-file limit bounds the topics a node can
// hold, and replicas holding the same segments reach it at the same entry: a write failing with
// EMFILE while applying it stopped every node at once. Three nodes run under a small limit
// (`ulimit -n`): creating topics until refused must give resource_exhausted naming open files,
// before any node fails; every node stays up and serves every acknowledged record; deleting
// topics makes room again (open-files-guard.ts).
import assert from "node:assert/strict";
import { test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { Cluster, waitUntil } from "../harness/cluster.js";
import { exitWhenDone } from "../harness/exit-when-done.js";

exitWhenDone();

const openFilesLimit = 320;
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

    // Room returns once topics are deleted (their files closed) and the guards sample again.
    const leader = (await cluster.waitForLeader())!;
    const doomed = created.splice(0, 40);
    for (const topic of doomed) await cluster.client(leader).topics.deleteTopic({ name: topic });
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
    for (const member of cluster.members)
      assert.ok(member.process!.running, member.process!.describe());
    console.log(
      `[open files] refused at topic ${created.length + doomed.length} under ulimit -n ${openFilesLimit}: ${refusal.rawMessage}`,
    );
  });
});

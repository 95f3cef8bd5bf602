// A node removed while cut off learns of its removal from a peer that applied it
// (removed-while-cut-off.test.ts). The peers keep the removals in their checkpoints
// (member-removals.ts): this one is told although both peers restarted from a checkpoint taken
// after the removal, so neither replays the removal entry.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Cluster } from "../harness/cluster.js";
import { exitWhenDone } from "../harness/exit-when-done.js";

exitWhenDone();

const topic = "t";
const snapshotEntries = 20;

test("peers restarted from a checkpoint after a removal still tell the removed node", async () => {
  await Cluster.run(
    { size: 3, proxies: true, args: ["--snapshot-entries", String(snapshotEntries)] },
    async (cluster) => {
      const leader = await cluster.waitForLeader();
      const produceOne = async (through: string, i: number) =>
        cluster.client(through).log.produce({ topic, records: [{ value: Buffer.from(`r${i}`) }] });
      await produceOne(leader, 0);
      const cutOff = cluster.ids.find((id) => id !== leader)!;
      await cluster.waitCaughtUp(cutOff, topic, 1);

      cluster.isolate(cutOff);
      await cluster.client(leader).cluster.leave({ id: cutOff }, { timeoutMs: 20_000 });
      cluster.markRemoved(cutOff);
      // One entry each: past the next checkpoint of both members.
      for (let i = 1; i <= 3 * snapshotEntries; i++) await produceOne(leader, i);
      const members = cluster.ids;
      await cluster.waitConverged([topic], { timeoutMs: 20_000 });
      for (const id of members) {
        await cluster.kill(id);
        await cluster.restart(id);
      }
      await cluster.waitForLeader({ among: members });
      const healed = Date.now();
      cluster.heal();

      await cluster.waitNotReady(cutOff, /removed from the cluster/, 20_000);
      assert.match(cluster.member(cutOff).process!.stderr, /a peer says this node was removed/);
      console.log(
        `[removal after peer restarts] ${cutOff} learnt of its removal ${Date.now() - healed} ms after the heal`,
      );
      const logs = await Promise.all(members.map((id) => cluster.readLog(id, topic)));
      assert.equal(logs[0]!.length, 1 + 3 * snapshotEntries);
      assert.deepEqual(logs[1], logs[0]);
    },
  );
});

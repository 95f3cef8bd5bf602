// A node cut off from its peers when it is removed never applies its removal: the leader sends
// nothing to a non-member. Once the links heal it campaigns, and the peers that applied the
// removal answer its messages with a verdict naming the removal's index (removal-verdict.ts).
// It then refuses client calls with failed_precondition, ends its open ConsumeStreams, and says
// so on /readyz, as a node that applied its own removal does. The remaining members go on.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { Cluster, waitUntil } from "../harness/cluster.js";
import { exitWhenDone } from "../harness/exit-when-done.js";

exitWhenDone();

const topic = "t";

test("a node removed while cut off learns it from its peers once the links heal", async () => {
  await Cluster.run({ size: 3, proxies: true }, async (cluster) => {
    const leader = await cluster.waitForLeader();
    const records = Array.from({ length: 5 }, (_, i) => ({ value: Buffer.from(`r${i}`) }));
    await cluster.client(leader).log.produce({ topic, records });
    const cutOff = cluster.ids.find((id) => id !== leader)!;
    await cluster.waitCaughtUp(cutOff, topic, 5);

    // A stream on the node to be removed, open before it is cut off.
    let streamEnd: ConnectError | "ended without error" | undefined;
    let streamed = 0;
    const controller = new AbortController();
    (async () => {
      for await (const response of cluster
        .client(cutOff)
        .log.consumeStream({ topic, offset: 0n }, { signal: controller.signal }))
        streamed += response.records.length;
      streamEnd = "ended without error";
    })().catch((error: unknown) => {
      streamEnd = ConnectError.from(error);
    });
    try {
      await waitUntil(
        () => streamed === 5,
        () => `${streamed} records streamed`,
        20_000,
      );
      cluster.isolate(cutOff);
      await cluster.client(leader).cluster.leave({ id: cutOff }, { timeoutMs: 20_000 });
      cluster.markRemoved(cutOff);
      await cluster.client(leader).log.produce({ topic, records });
      // Still cut off: it knows nothing of its removal and serves what it has.
      const before = await cluster.client(cutOff).log.consume({ topic, offset: 0n });
      assert.equal(before.records.length, 5);
      const healed = Date.now();
      cluster.heal();

      await cluster.waitNotReady(cutOff, /removed from the cluster/, 30_000);
      await waitUntil(
        () => streamEnd !== undefined,
        () => `the stream on ${cutOff} is still open`,
        10_000,
      );
      assert.ok(streamEnd instanceof ConnectError, String(streamEnd));
      assert.equal(streamEnd.code, Code.FailedPrecondition, streamEnd.message);
      const consumed = await cluster
        .client(cutOff)
        .log.consume({ topic, offset: 0n })
        .then(
          () => undefined,
          (error: unknown) => ConnectError.from(error),
        );
      assert.equal(consumed?.code, Code.FailedPrecondition, String(consumed));
      assert.match(cluster.member(cutOff).process!.stderr, /a peer says this node was removed/);
      console.log(
        `[removed while cut off] ${cutOff} learnt of its removal ${Date.now() - healed} ms after the heal`,
      );

      // The members go on, and agree.
      await cluster.client(leader).log.produce({ topic, records });
      const members = cluster.ids.filter((id) => id !== cutOff);
      await cluster.waitConverged([topic], { timeoutMs: 20_000 });
      const logs = await Promise.all(members.map((id) => cluster.readLog(id, topic)));
      assert.equal(logs[0]!.length, 15);
      assert.deepEqual(logs[1], logs[0]);
    } finally {
      controller.abort();
    }
  });
});

// /readyz of cluster members: ready while a leader is known; not ready (503, with the reason)
// once a node was removed with Leave, whether or not it learned of its removal, and once a node
// is left without a leader (here: its only peer is killed, so check-quorum makes it step down).
import assert from "node:assert/strict";
import { test } from "node:test";
import { Cluster, waitUntil } from "../harness/cluster.js";

test("/readyz: ready with a leader, not ready once removed or without a leader", async () => {
  await Cluster.run({ size: 3 }, async (cluster) => {
    const leader = await cluster.waitForLeader();
    for (const id of cluster.ids) {
      await waitUntil(
        async () => (await cluster.readiness(id)).status === 200,
        () => `${id} never ready`,
        20_000,
        100,
      );
    }
    const [removed, kept] = cluster.ids.filter((id) => id !== leader) as [string, string];
    await cluster.client(leader).cluster.leave({ id: removed }, { timeoutMs: 10_000 });
    cluster.markRemoved(removed);
    let last = { status: 0, reason: "" };
    await waitUntil(
      async () => (last = await cluster.readiness(removed)).status === 503,
      () => `the removed ${removed} stayed ready: ${JSON.stringify(last)}`,
      20_000,
      100,
    );
    assert.match(last.reason, /removed/);
    console.log(`[readiness] removed ${removed}: 503 "${last.reason}"`);

    // Two voters left: without its peer the leader loses its quorum and steps down.
    assert.equal((await cluster.readiness(leader)).status, 200);
    await cluster.kill(kept);
    await waitUntil(
      async () => (last = await cluster.readiness(leader)).status === 503,
      () => `${leader} stayed ready without a quorum: ${JSON.stringify(last)}`,
      20_000,
      100,
    );
    assert.match(last.reason, /no leader is known/);
    console.log(`[readiness] ${leader} alone: 503 "${last.reason}"`);
  });
});

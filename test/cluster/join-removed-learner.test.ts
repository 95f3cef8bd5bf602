// A Join that waits for its learner to catch up (here one that never answers: nothing listens at
// its address) ends as soon as the learner is removed with Leave, instead of waiting out the
// 60 s catch-up limit; the Join says why, and the membership is as before. A Join naming another
// member's address is refused outright: the node there answers to its own id only.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { Cluster, freePort } from "../harness/cluster.js";

test("a Join waiting on a learner that is removed meanwhile answers failed_precondition", async () => {
  await Cluster.run({ size: 3 }, async (cluster) => {
    const leader = await cluster.waitForLeader();
    const { cluster: admin } = cluster.client(leader);
    const address = `127.0.0.1:${await freePort()}`;
    const started = Date.now();
    const joining = admin.join({ id: "ghost", address, voter: true }, { timeoutMs: 50_000 }).then(
      () => undefined,
      (error: unknown) => ConnectError.from(error),
    );
    // Leave once the ghost is a learner.
    for (let i = 0; i < 100; i++) {
      const { servers } = await admin.getServers({});
      if (servers.some((server) => server.id === "ghost")) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await admin.leave({ id: "ghost" }, { timeoutMs: 10_000 });
    const error = await joining;
    assert.ok(error !== undefined, "the Join of a removed learner succeeded");
    assert.equal(error.code, Code.FailedPrecondition, error.message);
    assert.match(error.rawMessage, /removed from the cluster while it was catching up/);
    assert.ok(Date.now() - started < 30_000, `the Join answered after ${Date.now() - started} ms`);
    const { servers } = await admin.getServers({});
    assert.deepEqual(servers.map((server) => server.id).sort(), ["n1", "n2", "n3"]);
  });
});

test("a Join at another member's address is already_exists and adds no learner", async () => {
  await Cluster.run({ size: 2 }, async (cluster) => {
    const leader = await cluster.waitForLeader();
    const { cluster: admin } = cluster.client(leader);
    for (const id of cluster.ids) {
      const address = cluster.member(id).peerAddress;
      const error = await admin.join({ id: `twin-of-${id}`, address, voter: true }).then(
        () => undefined,
        (caught: unknown) => ConnectError.from(caught),
      );
      assert.equal(error?.code, Code.AlreadyExists, String(error));
      assert.match(error.rawMessage, new RegExp(`address of member ${id}`));
    }
    const { servers } = await admin.getServers({});
    assert.deepEqual(servers.map((server) => server.id).sort(), ["n1", "n2"]);
  });
});

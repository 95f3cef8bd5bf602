// A leader whose outbound links to its peers fail (black-holed) while it still hears them: the
// others elect a new leader, whose messages reach the old one, which steps down; but the new
// leader cannot get entries through to it, so the old leader never learns whether its last
// proposals committed. Its proposers, and those who reached it through a follower, are told
// within a few election timeouts that the outcome is unknown, not after the 30 s proposal
// timeout. Afterwards nothing acknowledged is missing.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { Cluster } from "../harness/cluster.js";
import { exitWhenDone } from "../harness/exit-when-done.js";

exitWhenDone();

/** Far below the proposal timeout (30 s), far above two election timeouts (2 s). */
const answeredWithinMs = 15_000;

test("a leader that cannot send answers its waiting writes soon after it stops leading", async () => {
  await Cluster.run({ size: 3, proxies: true }, async (cluster) => {
    const leader = await cluster.waitForLeader();
    const followers = cluster.ids.filter((id) => id !== leader);
    const produce = (via: string, value: string) =>
      cluster
        .client(via)
        .log.produce(
          { topic: "t", records: [{ value: Buffer.from(value) }] },
          { timeoutMs: 60_000 },
        );
    await produce(leader, "before");

    for (const follower of followers) cluster.cut(follower, leader, "blackhole");
    const cutAt = Date.now();
    const outcomes = await Promise.all(
      [
        { via: leader, value: "direct" },
        { via: followers[0]!, value: "forwarded" },
      ].map(async ({ via, value }) => {
        try {
          await produce(via, value);
          return { via, value, tookMs: Date.now() - cutAt, code: "ok", message: "" };
        } catch (error) {
          const connectError = ConnectError.from(error);
          return {
            via,
            value,
            tookMs: Date.now() - cutAt,
            code: Code[connectError.code],
            message: connectError.rawMessage,
          };
        }
      }),
    );
    const successor = await cluster.waitForLeader({ among: followers, timeoutMs: 20_000 });
    console.log(`[leader outbound cut] ${leader} → ${successor}: ${JSON.stringify(outcomes)}`);
    for (const outcome of outcomes) {
      assert.ok(outcome.tookMs < answeredWithinMs, `${JSON.stringify(outcome)}`);
      // The leader cannot tell: committed by the next leader, or replaced. Never "not applied".
      if (outcome.code !== "ok") {
        assert.equal(outcome.code, "Unavailable", JSON.stringify(outcome));
        assert.match(outcome.message, /may or may not have been applied/);
      }
    }

    cluster.heal();
    await produce(successor, "after");
    await cluster.waitConverged(["t"], { timeoutMs: 20_000 });
    const records = await cluster.readLog(successor, "t");
    for (const value of ["before", "after"]) assert.ok(records.includes(value), value);
    for (const outcome of outcomes)
      if (outcome.code === "ok") assert.ok(records.includes(outcome.value), outcome.value);
    for (const id of cluster.ids)
      assert.deepEqual(await cluster.readLog(id, "t"), records, `${id} differs`);
  });
});

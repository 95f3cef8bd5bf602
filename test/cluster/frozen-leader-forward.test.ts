// Writes forwarded by a follower to a leader that is stopped dead (SIGSTOP: its connections stay
// open and it answers nothing): the follower's pinged connection to it fails within seconds, and
// the forwarded calls, unary and streaming, answer unavailable with the outcome unknown, instead
// of waiting out a 30 s forward timeout (unary) or forever (a stream without a deadline).
import assert from "node:assert/strict";
import { test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { Cluster } from "../harness/cluster.js";

/** Far below the 30 s forward timeout, far above the ~3 s ping detection. */
const answerWithinMs = 15_000;
const value = new TextEncoder().encode("frozen");

async function outcome(call: () => Promise<unknown>): Promise<{ error: ConnectError; ms: number }> {
  const started = Date.now();
  try {
    await call();
  } catch (error) {
    return { error: ConnectError.from(error), ms: Date.now() - started };
  }
  assert.fail("the forwarded call succeeded while the leader was stopped");
}

// Without the pings, the stream would never answer: the test fails on its timeout, not a hang.
test("calls forwarded to a stopped leader answer unavailable, outcome unknown, within seconds", {
  timeout: 120_000,
}, async () => {
  await Cluster.run({ size: 3 }, async (cluster) => {
    const leader = await cluster.waitForLeader();
    const follower = cluster.ids.find((id) => id !== leader)!;
    const { log } = cluster.client(follower);
    await log.produce({ topic: "frozen", records: [{ value }] });
    cluster.pause(leader);
    try {
      const unary = outcome(() => log.produce({ topic: "frozen", records: [{ value }] }));
      const stream = outcome(async () => {
        async function* requests() {
          yield { topic: "frozen", records: [{ value }] };
          await new Promise((resolve) => setTimeout(resolve, answerWithinMs * 2));
        }
        for await (const _ of log.produceStream(requests())) {
          // an answer would mean the stopped leader acknowledged
        }
      });
      for (const [name, result] of [
        ["Produce", await unary],
        ["ProduceStream", await stream],
      ] as const) {
        assert.equal(result.error.code, Code.Unavailable, `${name}: ${result.error.message}`);
        assert.match(result.error.rawMessage, /may or may not have been applied/, name);
        assert.ok(result.ms < answerWithinMs, `${name} answered after ${result.ms} ms`);
        console.log(
          `[frozen leader] forwarded ${name}: ${result.error.rawMessage} (${result.ms} ms)`,
        );
      }
    } finally {
      cluster.resume(leader);
    }
  });
});

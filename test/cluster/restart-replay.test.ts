// A restarted node rebuilds its topics by applying its committed log again. Until it has, it
// must not answer from the half-built state: a topic it held is not "not found", its records are
// not "out of range", its next offset does not go back. It answers unavailable (retry) and
// /readyz says 503 instead. Polled as fast as possible from the moment the node serves.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { Cluster } from "../harness/cluster.js";

const topic = "replayed";
const batches = 60;
const batchRecords = 1_000;
const pollMsMax = 20_000;

test("a restarted follower answers unavailable while it replays, never from a partial state", async () => {
  // No snapshot during the test: the whole log is replayed at the restart.
  await Cluster.run({ size: 3, args: ["--snapshot-entries", "1000000"] }, async (cluster) => {
    const leader = await cluster.waitForLeader();
    const values = Array.from({ length: batchRecords }, (_, i) => ({
      value: new TextEncoder().encode(`record ${i}`.padEnd(100, ".")),
    }));
    for (let i = 0; i < batches; i++)
      await cluster.client(leader).log.produce({ topic, records: values });
    const acknowledged = batches * batchRecords;
    const follower = cluster.ids.find((id) => id !== leader)!;
    await cluster.waitCaughtUp(follower, topic, acknowledged);

    await cluster.kill(follower);
    await cluster.restart(follower);
    const { log, topics } = cluster.client(follower);
    const answers = new Map<string, number>();
    const count = (key: string) => answers.set(key, (answers.get(key) ?? 0) + 1);
    const started = Date.now();
    let served = false;
    while (!served && Date.now() - started < pollMsMax) {
      try {
        const { topic: info } = await topics.getTopic({ name: topic });
        const next = Number(info?.nextOffset ?? 0);
        assert.ok(next >= acknowledged, `GetTopic said next ${next} < ${acknowledged} held before`);
        const { records } = await log.consume({ topic, offset: BigInt(acknowledged - 1) });
        assert.equal(records.length, 1, "the last record held before the restart");
        count("served");
        served = true;
      } catch (error) {
        if (error instanceof assert.AssertionError) throw error;
        const connectError = ConnectError.from(error);
        assert.equal(
          connectError.code,
          Code.Unavailable,
          `while replaying: ${Code[connectError.code]} ${connectError.rawMessage}`,
        );
        count(connectError.rawMessage.includes("starting") ? "starting" : "unavailable (other)");
      }
    }
    assert.ok(served, `not serving ${pollMsMax} ms after the restart: ${[...answers]}`);
    console.log(
      `[restart replay] ${acknowledged} records; answers until served in ${Date.now() - started} ms: ${[...answers].map(([key, n]) => `${key}×${n}`).join(", ")}`,
    );
  });
});

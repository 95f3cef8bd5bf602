// The process harness itself: a node starts and serves, pauses (SIGSTOP) and resumes (SIGCONT),
// stops on SIGTERM with exit code 0, restarts on the same data directory with its data, and
// leaves no process behind when destroyed.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { NodeProcess } from "./node-process.js";

async function produce(node: NodeProcess, timeoutMs = 5_000): Promise<Response> {
  return fetch(`${node.baseUrl}/tidelog.v1.LogService/Produce`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ topic: "harness", records: [{ value: "eA==" }] }),
    signal: AbortSignal.timeout(timeoutMs),
  });
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("NodeProcess", () => {
  let node: NodeProcess | undefined;

  after(async () => {
    await node?.destroy();
  });

  test("start, pause, resume, SIGTERM, restart with the data, destroy", async () => {
    node = await NodeProcess.start({ args: ["--bootstrap"] });
    assert.match(node.address, /^127\.0\.0\.1:\d+$/);
    assert.equal(node.baseUrl, `http://${node.address}`);
    assert.equal((await produce(node)).status, 200);

    node.kill("SIGSTOP");
    await assert.rejects(produce(node, 500), "a paused node does not answer");
    node.kill("SIGCONT");
    assert.equal((await produce(node)).status, 200, "it answers again once resumed");

    node.kill("SIGTERM");
    assert.deepEqual(await node.waitExit(), { code: 0, signal: null });
    assert.equal(node.running, false);

    await node.restart();
    const consumed = await fetch(`${node.baseUrl}/tidelog.v1.LogService/Consume`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ topic: "harness", offset: "0" }),
    });
    const body = (await consumed.json()) as { records: unknown[] };
    assert.ok(body.records.length >= 2, "the records produced before the restart are there");

    const pid = node.pid!;
    await node.destroy();
    assert.equal(processExists(pid), false, "no process left behind");
  });

  test("a node that cannot start fails with its stderr, and is not left running", async () => {
    await assert.rejects(NodeProcess.start({ args: ["--no-such-flag"] }), (error: Error) => {
      assert.match(error.message, /exited|did not serve/);
      assert.match(error.message, /no-such-flag/, "stderr is in the message");
      return true;
    });
  });
});

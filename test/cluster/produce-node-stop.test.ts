// Produce requests the coalescer holds for the Raft loop (RaftNode.beforeNextProposals) must be
// answered when the node stops, never left waiting: here requests made while, and after, the
// Raft node stops each settle, and those that were not written fail with unavailable.
import assert from "node:assert/strict";
import { test } from "node:test";
import { TidelogError } from "../../src/errors.js";
import { startInProcessNode } from "../harness/in-process-node.js";

const record = (text: string) => ({
  value: Buffer.from(text),
  key: new Uint8Array(0),
  headers: {},
});

/** The outcome of `produce`, or "waiting" if it has not settled within `ms`. */
async function settled(produce: Promise<number[]>, ms: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const waiting = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve("waiting"), ms);
  });
  const outcome = produce.then(
    () => "written",
    (error: unknown) => (error instanceof TidelogError ? error.code : String(error)),
  );
  try {
    return await Promise.race([outcome, waiting]);
  } finally {
    clearTimeout(timer);
  }
}

test("produce requests held for the Raft loop are answered when the node stops", async () => {
  const node = await startInProcessNode();
  try {
    const broker = node.node.broker;
    assert.deepEqual(await broker.produce("t", [record("first")]), [0]);
    const during = Array.from({ length: 50 }, (_, i) => broker.produce("t", [record(`d${i}`)]));
    await broker.node.stop();
    // The node still believes it leads; the coalescer asks the stopped loop for a flush.
    const after = broker.produce("t", [record("after")]);
    const outcomes = await Promise.all([...during, after].map((p) => settled(p, 5_000)));
    for (const outcome of outcomes)
      assert.ok(["written", "unavailable"].includes(outcome), outcome);
    assert.equal(outcomes.at(-1), "unavailable", "a request after the stop is refused at once");
  } finally {
    await node.close();
  }
});

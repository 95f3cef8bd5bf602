import assert from "node:assert/strict";
import { test } from "node:test";
import { eachAtOnce } from "../../src/log/each-at-once.js";

const tick = () => new Promise((resolve) => setImmediate(resolve));

test("eachAtOnce runs every item, at most `limit` at once", async () => {
  let running = 0;
  let most = 0;
  const seen: number[] = [];
  await eachAtOnce(
    Array.from({ length: 50 }, (_, i) => i),
    4,
    async (item, index) => {
      assert.equal(item, index);
      running++;
      most = Math.max(most, running);
      await tick();
      seen.push(item);
      running--;
    },
  );
  assert.equal(most, 4);
  assert.deepEqual(
    [...seen].sort((a, b) => a - b),
    Array.from({ length: 50 }, (_, i) => i),
  );
  await eachAtOnce([], 4, async () => assert.fail("no items, no steps"));
});

test("eachAtOnce rejects with the first failure, starts no step after it, and waits for those under way", async () => {
  const started: number[] = [];
  let finished = 0;
  await assert.rejects(
    eachAtOnce(
      Array.from({ length: 20 }, (_, i) => i),
      3,
      async (item) => {
        started.push(item);
        await tick();
        if (item === 4) throw new Error("boom");
        await tick();
        finished++;
      },
    ),
    /boom/,
  );
  assert.ok(started.length < 20, `started ${started.length}`);
  assert.equal(
    finished,
    started.length - 1,
    "every other started step finished before the rejection",
  );
});

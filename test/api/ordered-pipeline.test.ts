// orderedPipeline: results in input order, the first failure ends the output, and nothing starts
// once a failure is known (a ProduceStream must not apply requests after one that failed).
import assert from "node:assert/strict";
import { test } from "node:test";
import { orderedPipeline } from "../../src/api/ordered-pipeline.js";

async function* inputs(count: number, gapMs: number): AsyncGenerator<number> {
  for (let i = 0; i < count; i++) {
    yield i;
    await new Promise((resolve) => setTimeout(resolve, gapMs));
  }
}

test("yields results in input order, whatever order the work finishes in", async () => {
  const results: number[] = [];
  for await (const result of orderedPipeline(
    inputs(20, 0),
    (i) => new Promise<number>((resolve) => setTimeout(() => resolve(i * 10), (20 - i) % 7)),
    8,
  ))
    results.push(result);
  assert.deepEqual(
    results,
    Array.from({ length: 20 }, (_, i) => i * 10),
  );
});

test("starts no work after a failure is known, and ends with the first failure", async () => {
  const started: number[] = [];
  const results: number[] = [];
  await assert.rejects(
    (async () => {
      for await (const result of orderedPipeline(
        inputs(50, 2),
        (i) => {
          started.push(i);
          if (i === 5) return Promise.reject(new Error("request 5 failed"));
          // Slow successes: the failure is known while 1..4 are still in flight.
          return new Promise<number>((resolve) => setTimeout(() => resolve(i), 40));
        },
        16,
      ))
        results.push(result);
    })(),
    /request 5 failed/,
  );
  assert.deepEqual(results, [0, 1, 2, 3, 4], "the results before the failure are yielded");
  assert.deepEqual(started, [0, 1, 2, 3, 4, 5], "nothing started after the failure");
});

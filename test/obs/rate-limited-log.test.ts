// A warning repeated on every retry is written once per kind per interval, and the next line
// says how many were left out. The clock is a number the test moves.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { LogFields } from "../../src/obs/logger.js";
import { RateLimitedLog } from "../../src/obs/rate-limited-log.js";

function logWith(intervalMs: number) {
  const clock = { ms: 5_000 };
  const lines: { message: string; fields: LogFields }[] = [];
  const log = new RateLimitedLog(
    intervalMs,
    () => clock.ms,
    (message, fields) => lines.push({ message, fields }),
  );
  return { log, clock, lines };
}

test("one line per kind per interval, the next one counting those left out", () => {
  const { log, clock, lines } = logWith(10_000);
  for (let i = 0; i < 90; i++) {
    log.warn("fetch", `attempt ${i}`, { topic: "t" });
    clock.ms += 110;
  }
  // 90 attempts over 9.9 s: the first alone is written.
  assert.deepEqual(lines, [{ message: "attempt 0", fields: { topic: "t" } }]);
  clock.ms += 100;
  log.warn("fetch", "attempt 90", { topic: "t" });
  assert.deepEqual(lines.at(-1), { message: "attempt 90", fields: { topic: "t", repeated: 89 } });
  clock.ms += 10_000;
  log.warn("fetch", "attempt 91");
  assert.deepEqual(lines.at(-1), { message: "attempt 91", fields: {} }, "none left out since");
});

test("kinds are limited apart", () => {
  const { log, lines } = logWith(10_000);
  log.warn("a", "first a");
  log.warn("b", "first b");
  log.warn("a", "second a");
  assert.deepEqual(
    lines.map((line) => line.message),
    ["first a", "first b"],
  );
});

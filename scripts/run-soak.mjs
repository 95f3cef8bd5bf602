#!/usr/bin/env node
// Runs the long forms of the reliability suite: every compiled dist/test/reliability/*.soak.js
// with node's test runner, one file at a time (they load the machine on purpose).
// Usage: node scripts/run-soak.mjs [substring ...]  (filters soak files by name)
// Knobs (environment): RELIABILITY_ROUNDS (fault-loop rounds), RELIABILITY_STREAMS (dropped
// streams), RELIABILITY_SLOW_MB (MB produced past stalled readers).
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";

const directory = "dist/test/reliability";
const filters = process.argv.slice(2);
if (!existsSync(directory)) {
  console.error(`${directory} is missing: run npm run build first`);
  process.exit(1);
}
const files = readdirSync(directory)
  .filter((name) => name.endsWith(".soak.js"))
  .filter((name) => filters.length === 0 || filters.some((filter) => name.includes(filter)))
  .sort()
  .map((name) => join(directory, name));
if (files.length === 0) {
  console.error("no soak files matched");
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ["--enable-source-maps", "--test", "--test-concurrency=1", "--test-timeout=3600000", ...files],
  { stdio: "inherit" },
);
process.exit(result.status ?? 1);

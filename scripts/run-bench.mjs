#!/usr/bin/env node
// Runs compiled benchmarks under dist/bench, one after another, each in its own process.
// Usage: node scripts/run-bench.mjs [substring ...] [--option ...]
//   substrings filter the benchmark files by path; arguments starting with "--" (e.g. --quick,
//   --profile) are passed to every benchmark.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const root = "dist/bench";
const args = process.argv.slice(2);
const options = args.filter((arg) => arg.startsWith("--"));
const filters = args.filter((arg) => !arg.startsWith("--"));

function walk(directory) {
  const found = [];
  for (const name of readdirSync(directory)) {
    const path = join(directory, name);
    if (statSync(path).isDirectory()) found.push(...walk(path));
    else if (name.endsWith(".bench.js")) found.push(path);
  }
  return found;
}

const files = existsSync(root)
  ? walk(root)
      .filter((file) => filters.length === 0 || filters.some((filter) => file.includes(filter)))
      .sort()
  : [];
if (files.length === 0) {
  console.error("no benchmark files matched (build first: npx tsc -p tsconfig.json)");
  process.exit(1);
}
let failed = false;
for (const file of files) {
  const result = spawnSync(process.execPath, ["--enable-source-maps", file, ...options], {
    stdio: "inherit",
  });
  if (result.status !== 0) {
    console.error(`${file} failed (status ${result.status}, signal ${result.signal})`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);

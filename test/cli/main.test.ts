import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";

test("tidelog --help prints usage and exits 0", () => {
  const result = spawnSync(process.execPath, ["bin/tidelog", "--help"], { encoding: "utf8" });
  assert.equal(result.status, 0);
  assert.match(result.stdout, /usage: tidelog/);
});

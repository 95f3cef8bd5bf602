import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";

test("tidelog --help prints usage and exits 0", () => {
  const result = spawnSync(process.execPath, ["bin/tidelog", "--help"], { encoding: "utf8" });
  assert.equal(result.status, 0);
  assert.match(result.stdout, /usage: tidelog/);
});

test("tidelog serve refuses a produce request size its topic logs cannot hold as one batch", () => {
  const result = spawnSync(
    process.execPath,
    [
      "bin/tidelog",
      "serve",
      "--bootstrap",
      "--data-dir",
      "unused",
      "--request-records-max",
      "65536",
    ],
    { encoding: "utf8", timeout: 20_000 },
  );
  assert.equal(result.status, 2);
  assert.match(result.stderr, /--request-records-max must be an integer from 1 to 65535/);
});

test("tidelog serve refuses an id peers could not name it by", () => {
  for (const id of ["", "a b", "x".repeat(129), "n/1", "n\u00e9"]) {
    const result = spawnSync(
      process.execPath,
      ["bin/tidelog", "serve", "--bootstrap", "--data-dir", "unused", "--id", id],
      { encoding: "utf8", timeout: 20_000 },
    );
    assert.equal(result.status, 2, `--id ${JSON.stringify(id)}`);
    assert.match(result.stderr, /--id must be 1 to 128 letters/);
  }
});

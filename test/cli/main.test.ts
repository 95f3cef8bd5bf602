import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { NodeProcess } from "../harness/node-process.js";

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

test("a data directory names its node: restarted without --id it is that node, another id is refused", async () => {
  const directory = await mkdtemp(join(tmpdir(), "tidelog-id-"));
  try {
    const first = await NodeProcess.start({
      id: "n7",
      dataDirectory: directory,
      args: ["--bootstrap"],
    });
    await first.stop();
    const refused = spawnSync(
      process.execPath,
      ["bin/tidelog", "serve", "--id", "n8", "--listen", "127.0.0.1:0", "--data-dir", directory],
      { encoding: "utf8", timeout: 20_000 },
    );
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr + refused.stdout, /belongs to node n7/);
    // Without --id: the stored one (NodeProcess passes --id, so spawn by hand).
    const child = spawn(
      process.execPath,
      ["bin/tidelog", "serve", "--listen", "127.0.0.1:0", "--data-dir", directory],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    try {
      const serving = await new Promise<string>((resolve, reject) => {
        let out = "";
        const timer = setTimeout(() => reject(new Error(`no serving line: ${out}`)), 20_000);
        child.stdout.on("data", (chunk: Buffer) => {
          out += chunk.toString();
          const line = out.split("\n").find((text) => text.includes("tidelog serving"));
          if (line !== undefined) {
            clearTimeout(timer);
            resolve(line);
          }
        });
        child.once("exit", () => reject(new Error(`exited: ${out}`)));
      });
      assert.equal(JSON.parse(serving).id, "n7");
    } finally {
      child.kill("SIGKILL");
    }
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
});

// A node whose stdout and stderr readers went away (a closed pipe: a log shipper that died, a
// shell pipeline that ended) serves on and stops in order on SIGTERM. Its next log line used to
// raise EPIPE, unheard, and the node died (exit 70) instead of stopping: seen when a script that
// started a node exited before the node.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

test("a node whose output pipes are closed serves on and exits 0 on SIGTERM", async () => {
  const dataDirectory = await mkdtemp(join(tmpdir(), "tidelog-closed-output-"));
  const child = spawn(
    process.execPath,
    ["bin/tidelog", "serve", "--bootstrap", "--listen", "127.0.0.1:0", "--data-dir", dataDirectory],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => resolve(code)),
  );
  try {
    const address = await new Promise<string>((resolve, reject) => {
      let text = "";
      child.stdout.on("data", (chunk: Buffer) => {
        text += chunk.toString("utf8");
        const match = /"message":"tidelog serving"[^\n]*"address":"([^"]+)"/.exec(text);
        if (match) resolve(match[1]!);
      });
      child.once("exit", () => reject(new Error(`exited before serving:\n${text}`)));
    });
    child.stdout.destroy();
    child.stderr.destroy();
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`http://${address}/tidelog.v1.LogService/Produce`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ topic: "t", records: [{ value: "aGk=" }] }),
        signal: AbortSignal.timeout(10_000),
      });
      assert.equal(response.status, 200);
    }
    child.kill("SIGTERM");
    assert.equal(await exited, 0, "an orderly stop, not a crash on the closed pipe");
  } finally {
    child.kill("SIGKILL");
    await exited;
    await rm(dataDirectory, { recursive: true, force: true });
  }
});

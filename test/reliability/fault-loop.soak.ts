// The long fault loop (`npm run soak`): RELIABILITY_ROUNDS rounds (default 24: six of each fault)
// of SIGKILL and SIGSTOP of leader and follower on three real nodes; see fault-loop.ts.
import assert from "node:assert/strict";
import { test } from "node:test";
import { runFaultLoop, serveAgainMaxMs } from "./fault-loop.js";

const rounds = Number(process.env.RELIABILITY_ROUNDS ?? 24);

test(`soak: ${rounds} rounds of faults on 3 nodes lose nothing`, {
  timeout: rounds * 60_000,
}, async () => {
  const report = await runFaultLoop(rounds, "fault loop soak");
  const sorted = [...report.serveAgainMs].sort((a, b) => a - b);
  assert.ok(sorted.at(-1)! < serveAgainMaxMs);
  console.log(
    `[fault loop soak] ${report.faults} faults, ${report.acknowledgedRecords} records ` +
      `acknowledged, ${report.recordsChecked} checked, lost 0; writes acknowledged again after ` +
      `median ${sorted[Math.floor(sorted.length / 2)]} ms, max ${sorted.at(-1)} ms`,
  );
});

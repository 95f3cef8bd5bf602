// The bounded fault loop (one round of each fault: leader and follower SIGKILLed, leader and
// follower SIGSTOPped past the election timeout) on three real nodes; see fault-loop.ts. The soak
// (fault-loop.soak.ts) runs many more rounds.
import assert from "node:assert/strict";
import { test } from "node:test";
import { runFaultLoop, serveAgainMaxMs } from "./fault-loop.js";

test("3 nodes: SIGKILL and SIGSTOP of leader and follower in turns lose nothing", async () => {
  const report = await runFaultLoop(4, "fault loop");
  assert.ok(Math.max(...report.serveAgainMs) < serveAgainMaxMs);
  console.log(
    `[fault loop] ${report.faults} faults, ${report.acknowledgedRecords} records acknowledged, ` +
      `${report.recordsChecked} checked, lost 0; writes acknowledged again after ` +
      `${report.serveAgainMs.join("/")} ms`,
  );
});

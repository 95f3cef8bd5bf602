// A node that fails to install the snapshot its leader keeps sending is not ready, says why,
// and logs the failure once per interval; a success, or a quiet spell without attempts, ends it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { SnapshotInstallStatus } from "../../src/cluster/snapshot-install-status.js";
import type { LogFields } from "../../src/obs/logger.js";

function statusWith() {
  const clock = { ms: 1_000 };
  const lines: { message: string; fields: LogFields }[] = [];
  const status = new SnapshotInstallStatus({
    warnIntervalMs: 10_000,
    staleAfterMs: 10_000,
    now: () => clock.ms,
    write: (message, fields) => lines.push({ message, fields }),
  });
  return { status, clock, lines };
}

test("failing attempts: not ready with the reason, one line per interval with a count", () => {
  const { status, clock, lines } = statusWith();
  assert.equal(status.notReadyReason(), undefined);
  for (let i = 0; i < 100; i++) {
    status.started();
    if (i > 0) assert.notEqual(status.notReadyReason(), undefined, "retrying after a failure");
    clock.ms += 60;
    status.failed(9, "n1", new Error("no member served topic t"));
    clock.ms += 50;
  }
  assert.match(status.notReadyReason()!, /cannot install the snapshot.*no member served topic t/);
  // 100 failures over 11 s: two lines, the second counting those left out.
  assert.equal(lines.length, 2);
  assert.equal(lines[1]!.fields.repeated, 90);
  status.started();
  status.succeeded(9);
  assert.equal(status.notReadyReason(), undefined);
});

test("no attempt for staleAfterMs: the failure no longer counts; one under way keeps it", () => {
  const { status, clock } = statusWith();
  status.started();
  status.failed(9, "n1", new Error("unreachable"));
  status.started(); // a long fetch
  clock.ms += 60_000;
  assert.notEqual(status.notReadyReason(), undefined, "an attempt is under way");
  status.failed(9, "n1", new Error("unreachable"));
  clock.ms += 10_001;
  assert.equal(status.notReadyReason(), undefined);
});

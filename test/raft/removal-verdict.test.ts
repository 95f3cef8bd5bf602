// The verdict a peer ends a removed member's StepStream with, as the member reads it back from
// the stream's error: only for itself, only a positive safe index.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseRemovalVerdict, removalVerdict } from "../../src/raft/driver/removal-verdict.js";

test("a removal verdict names the node and the index, and is read back for that node only", () => {
  const text = `StepStream to 127.0.0.1:9 ended with grpc-status 9: ${removalVerdict("n3", 57)}`;
  assert.equal(parseRemovalVerdict(text, "n3"), 57);
  assert.equal(parseRemovalVerdict(text, "n2"), undefined);
  assert.equal(parseRemovalVerdict(text, "n"), undefined);
  assert.equal(
    parseRemovalVerdict("node n3 was removed from the cluster at index 0", "n3"),
    undefined,
  );
  assert.equal(
    parseRemovalVerdict("node n3 was removed from the cluster at index 99999999999999999999", "n3"),
    undefined,
  );
  assert.equal(parseRemovalVerdict("grpc-status 14: connection reset", "n3"), undefined);
});

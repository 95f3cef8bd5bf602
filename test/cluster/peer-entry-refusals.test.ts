// What a node keeps of its peers' word that they refuse Raft entries for want of disk space
// (StepRequest.refusing_entries), and the leader's arithmetic on it. The clock is a number the
// test moves; the voters are a list it changes.
import assert from "node:assert/strict";
import { test } from "node:test";
import { PeerEntryRefusals, roomQuorumShortfall } from "../../src/cluster/peer-entry-refusals.js";

function refusalsWith(voters: string[], staleAfterMs = 3_000) {
  const clock = { ms: 1_000 };
  const refusals = new PeerEntryRefusals({
    voters: () => voters,
    staleAfterMs,
    now: () => clock.ms,
  });
  return { refusals, clock };
}

test("a report holds while repeated, and a batch without the flag clears it", () => {
  const { refusals, clock } = refusalsWith(["n1", "n2", "n3"]);
  assert.deepEqual(refusals.refusing(["n2", "n3"]), []);
  refusals.heard("n2", true);
  refusals.heard("n3", true);
  assert.deepEqual(refusals.refusing(["n2", "n3"]), ["n2", "n3"]);
  // Repeated with every heartbeat response: it stays fresh well past the stale bound.
  for (let i = 0; i < 100; i++) {
    clock.ms += 100;
    refusals.heard("n2", true);
  }
  assert.deepEqual(refusals.refusing(["n2", "n3"]), ["n2"]);
  refusals.heard("n2", false);
  assert.deepEqual(refusals.refusing(["n2", "n3"]), []);
});

test("a report not repeated lapses after staleAfterMs: a silent peer is unreachable, not full", () => {
  const { refusals, clock } = refusalsWith(["n1", "n2", "n3"], 3_000);
  refusals.heard("n2", true);
  clock.ms += 3_000;
  assert.deepEqual(refusals.refusing(["n2"]), ["n2"], "fresh up to the bound");
  clock.ms += 1;
  assert.deepEqual(refusals.refusing(["n2"]), [], "stale past it");
  // It speaks again, still full: it counts again.
  refusals.heard("n2", true);
  assert.deepEqual(refusals.refusing(["n2"]), ["n2"]);
});

test("only voters' reports are kept", () => {
  const voters = ["n1", "n2"];
  const { refusals } = refusalsWith(voters);
  refusals.heard("stranger", true);
  refusals.heard("n4", true);
  assert.deepEqual(refusals.refusing(["stranger", "n4"]), []);
  voters.push("n4");
  refusals.heard("n4", true);
  assert.deepEqual(refusals.refusing(["n2", "n4"]), ["n4"]);
});

test("writes are refused once the voters with room are no majority; the leader counts as one", () => {
  const three = ["n1", "n2", "n3"];
  assert.equal(roomQuorumShortfall(three, "n1", []), undefined);
  assert.equal(roomQuorumShortfall(three, "n1", ["n3"]), undefined, "n1 and n2 commit");
  assert.equal(
    roomQuorumShortfall(three, "n1", ["n2", "n3"]),
    "2 of 3 voters are out of disk space or open files (n2, n3): the cluster cannot commit new writes until they have room again",
  );
  // The leader's own report does not count against it (its own guard checks its writes), nor
  // does a node that is no voter.
  assert.equal(roomQuorumShortfall(three, "n1", ["n1", "n2"]), undefined);
  assert.equal(roomQuorumShortfall(three, "n1", ["n2", "n9"]), undefined);
  const five = ["n1", "n2", "n3", "n4", "n5"];
  assert.equal(roomQuorumShortfall(five, "n1", ["n2", "n3"]), undefined, "3 of 5 have room");
  assert.match(roomQuorumShortfall(five, "n1", ["n2", "n3", "n5"]) ?? "", /^3 of 5 voters/);
  // Two voters: the follower's room is needed.
  assert.match(roomQuorumShortfall(["n1", "n2"], "n1", ["n2"]) ?? "", /^1 of 2 voters/);
  assert.equal(roomQuorumShortfall(["n1"], "n1", []), undefined);
});

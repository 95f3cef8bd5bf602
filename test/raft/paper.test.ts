// The Raft paper's rules, one test each (Ongaro & Ousterhout, "In Search of an Understandable
// Consensus Algorithm", figure 2, figure 3, §5.2–§5.4 and figure 8), written against RawNode
// through the InteractionEnv.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  createRandom,
  type Entry,
  type Message,
  type NodeId,
  type Random,
} from "../../src/raft/index.js";
import { termJumpMax } from "../../src/raft/raft.js";
import { InteractionEnv, type NodeOptions } from "./interaction-env.js";

const RAW: NodeOptions = { preVote: false, checkQuorum: false };

function cluster(size: number, options: NodeOptions = RAW): InteractionEnv {
  const env = new InteractionEnv();
  const voters = Array.from({ length: size }, (_, i) => String(i + 1));
  env.addNodes(size, { ...options, voters });
  return env;
}

function quiet<T>(env: InteractionEnv, action: () => T): T {
  const result = action();
  env.takeOutput();
  return result;
}

function elect(env: InteractionEnv, id: NodeId): void {
  quiet(env, () => {
    env.node(id).raw.campaign();
    env.stabilize([]);
  });
  assert.equal(state(env, id), "leader");
}

function state(env: InteractionEnv, id: NodeId): string {
  return env.node(id).raw.status().softState.state;
}

function term(env: InteractionEnv, id: NodeId): number {
  return env.node(id).raw.status().hardState.term;
}

function commit(env: InteractionEnv, id: NodeId): number {
  return env.node(id).raw.status().hardState.commit;
}

/** The node's whole log: persisted entries plus the unstable tail not yet through a Ready. */
function logOf(env: InteractionEnv, id: NodeId): Entry[] {
  const storage = env.node(id).storage;
  const first = storage.firstIndex();
  const last = storage.lastIndex();
  return last < first ? [] : storage.entries(first, last + 1, Number.POSITIVE_INFINITY);
}

function lastOf(env: InteractionEnv, id: NodeId): { index: number; term: number } {
  const log = logOf(env, id);
  const last = log[log.length - 1];
  const snapshot = env.node(id).storage.snapshot().metadata;
  return last
    ? { index: last.index, term: last.term }
    : { index: snapshot.index, term: snapshot.term };
}

function vote(
  from: NodeId,
  to: NodeId,
  voteTerm: number,
  lastIndex: number,
  lastTerm: number,
): Message {
  return {
    type: "vote",
    from,
    to,
    term: voteTerm,
    lastLogIndex: lastIndex,
    lastLogTerm: lastTerm,
    transfer: false,
  };
}

/** Steps a message into a node and returns what that node answers, after persisting. */
function answer(env: InteractionEnv, message: Message): Message[] {
  return quiet(env, () => {
    env.node(message.to).raw.step(message);
    const before = env.messages.length;
    env.processReady(message.to);
    const sent = env.messages.slice(before);
    env.messages = env.messages.slice(0, before);
    return sent;
  });
}

describe("§5.1 terms", () => {
  test("a server seeing a higher term adopts it and reverts to follower", () => {
    const env = cluster(3);
    elect(env, "1");
    answer(env, { type: "heartbeat", from: "2", to: "1", term: 9, commit: 0 });
    assert.equal(term(env, "1"), 9);
    assert.equal(state(env, "1"), "follower");
  });

  test("a term more than termJumpMax ahead is no election: it is dropped, and the node can still win", () => {
    // (Not the paper's: its peers are trusted. Here one forged message at 2^53 - 1 left every
    // node at a term no campaign could pass.)
    const env = cluster(3);
    elect(env, "1");
    const now = term(env, "1");
    for (const forged of [Number.MAX_SAFE_INTEGER, now + termJumpMax + 1]) {
      for (const to of ["1", "2"]) {
        answer(env, { type: "heartbeat", from: "3", to, term: forged, commit: 0 });
        assert.equal(term(env, to), now, `${to} kept its term against ${forged}`);
      }
      assert.equal(state(env, "1"), "leader");
    }
    elect(env, "3");
    assert.equal(term(env, "3"), now + 1, "the next election is the next term");
    // The bound holds per tick: a batch of forged messages, each within it of the last, once
    // raised every term by 5 * 10^10.
    env.node("2").raw.tick();
    const from = term(env, "2");
    answer(env, { type: "heartbeat", from: "3", to: "2", term: from + termJumpMax, commit: 0 });
    assert.equal(term(env, "2"), from + termJumpMax, "a jump within the bound is taken");
    answer(env, { type: "heartbeat", from: "3", to: "2", term: from + termJumpMax + 1, commit: 0 });
    assert.equal(term(env, "2"), from + termJumpMax, "no more within the same tick");
    env.node("2").raw.tick();
    answer(env, { type: "heartbeat", from: "3", to: "2", term: from + termJumpMax + 1, commit: 0 });
    assert.equal(term(env, "2"), from + termJumpMax + 1, "the next tick allows more");
  });

  test("a request with a stale term is rejected and changes nothing", () => {
    const env = cluster(3);
    elect(env, "1");
    const before = env.node("2").raw.status();
    const replies = answer(env, vote("3", "2", 1, 100, 1));
    assert.deepEqual(replies, []);
    const stale = answer(env, {
      type: "append",
      from: "3",
      to: "2",
      term: 1,
      prevLogIndex: 2,
      prevLogTerm: 2,
      entries: [{ index: 3, term: 1, type: "normal", data: new Uint8Array([1]) }],
      commit: 3,
    });
    assert.deepEqual(stale, []);
    assert.deepEqual(env.node("2").raw.status().hardState, before.hardState);
    assert.equal(lastOf(env, "2").index, 2);
  });

  test("with pre-vote, a stale leader's append is answered with the current term", () => {
    const env = cluster(3, { preVote: true, checkQuorum: false });
    elect(env, "1");
    answer(env, { type: "heartbeat", from: "1", to: "2", term: 20, commit: 0 });
    const replies = answer(env, { type: "heartbeat", from: "3", to: "2", term: 2, commit: 0 });
    assert.equal(replies.length, 1);
    assert.equal(replies[0]!.type, "appendResponse");
    assert.equal(replies[0]!.term, 20);
  });
});

describe("§5.2 leader election", () => {
  test("election timeouts are drawn from [electionTicks, 2 * electionTicks - 1]", () => {
    const electionTicks = 10;
    const seen = new Set<number>();
    for (let seed = 0; seed < 200; seed++) {
      const env = new InteractionEnv();
      env.addNodes(1, { voters: ["1", "2"], electionTicks, ...RAW });
      // A fresh node must not campaign before electionTicks ticks, and must by 2 * electionTicks - 1.
      const node = env.node("1");
      (node.options as { random: Random }).random = createRandom(seed);
      env.restart("1");
      let ticks = 0;
      while (state(env, "1") === "follower" && ticks < 3 * electionTicks) {
        env.tick("1", 1);
        ticks += 1;
      }
      assert.ok(ticks >= electionTicks && ticks <= 2 * electionTicks - 1, `ticks ${ticks}`);
      seen.add(ticks);
    }
    assert.ok(seen.size >= electionTicks / 2, "timeouts are spread, not fixed");
  });

  test("a candidate votes for itself, increments its term and requests votes from all", () => {
    const env = cluster(3);
    env.node("1").raw.campaign();
    const ready = env.node("1").raw.ready();
    assert.equal(ready.hardState?.term, 2);
    assert.equal(ready.hardState?.vote, "1");
    assert.deepEqual(
      ready.messages.map((message) => [message.type, message.to, message.term]),
      [
        ["vote", "2", 2],
        ["vote", "3", 2],
      ],
    );
  });

  test("a candidate with votes from a majority becomes leader", () => {
    const env = cluster(5);
    env.partition(["4", "5"]);
    elect(env, "1");
  });

  test("a candidate that hears from a leader of its term becomes follower", () => {
    const env = cluster(3);
    quiet(env, () => env.node("2").raw.campaign());
    answer(env, {
      type: "append",
      from: "3",
      to: "2",
      term: 2,
      prevLogIndex: 1,
      prevLogTerm: 1,
      entries: [],
      commit: 1,
    });
    assert.equal(state(env, "2"), "follower");
    assert.equal(env.node("2").raw.status().softState.lead, "3");
  });

  test("a split vote leaves no leader and a new election follows", () => {
    const env = cluster(4);
    quiet(env, () => {
      env.node("1").raw.campaign();
      env.node("2").raw.campaign();
      env.processReady("1");
      env.processReady("2");
      // 3 hears 1 first, 4 hears 2 first.
      env.messages.sort((a, b) => {
        const rank = (m: Message) => ((m.to === "3" ? m.from === "1" : m.from === "2") ? 0 : 1);
        return rank(a) - rank(b);
      });
      env.stabilize([]);
    });
    assert.notEqual(state(env, "1"), "leader");
    assert.notEqual(state(env, "2"), "leader");
    quiet(env, () => {
      env.tickElection("1");
      env.stabilize([]);
    });
    assert.equal(state(env, "1"), "leader");
  });
});

describe("§5.2 and §5.4.1 vote rules", () => {
  test("at most one vote per term, first come first served; a repeat request is granted again", () => {
    const env = cluster(3);
    const first = answer(env, vote("1", "3", 5, 1, 1));
    assert.equal(first[0]?.type === "voteResponse" && first[0].reject, false);
    const second = answer(env, vote("2", "3", 5, 1, 1));
    assert.equal(second[0]?.type === "voteResponse" && second[0].reject, true);
    const again = answer(env, vote("1", "3", 5, 1, 1));
    assert.equal(again[0]?.type === "voteResponse" && again[0].reject, false);
    assert.equal(env.node("3").storage.hardStateSnapshot().vote, "1");
  });

  test("the vote goes only to a candidate whose log is at least as up to date", () => {
    const env = cluster(3);
    elect(env, "1");
    quiet(env, () => {
      env.propose("1", "x");
      env.stabilize([]);
    });
    // The voter's last entry is 3@2.
    const cases: [number, number, boolean][] = [
      [2, 2, false], // same last term, shorter log
      [3, 2, true], // identical
      [9, 2, true], // same last term, longer log
      [2, 3, true], // higher last term wins regardless of length
      [9, 1, false], // lower last term loses regardless of length
    ];
    let voteTerm = 10;
    for (const [lastIndex, lastTerm, granted] of cases) {
      voteTerm += 1;
      const replies = answer(env, vote("2", "3", voteTerm, lastIndex, lastTerm));
      const reply = replies[0];
      assert.ok(reply?.type === "voteResponse");
      assert.equal(!reply.reject, granted, `last=${lastIndex}@${lastTerm}`);
    }
  });

  test("the vote is persisted before the response leaves (it is in the same Ready)", () => {
    const env = cluster(3);
    env.node("3").raw.step(vote("1", "3", 2, 1, 1));
    const ready = env.node("3").raw.ready();
    assert.equal(ready.hardState?.vote, "1");
    assert.ok(ready.mustSync);
    assert.equal(ready.messages[0]?.type, "voteResponse");
  });
});

describe("§5.3 log replication", () => {
  test("an acknowledgement past the leader's log moves neither match nor commit", () => {
    const env = cluster(3);
    elect(env, "1");
    const leader = env.node("1").raw.status();
    const last = leader.lastIndex;
    // A follower "holding" 100,000 entries the leader never sent (a forged snapshot made one).
    answer(env, {
      type: "appendResponse",
      from: "2",
      to: "1",
      term: leader.hardState.term,
      index: 100_000,
      reject: false,
      hintIndex: 0,
      hintTerm: 0,
    });
    const after = env.node("1").raw.status();
    assert.ok((after.progress.get("2")?.match ?? 0) <= last, "match past the leader's log");
    assert.equal(after.hardState.commit, leader.hardState.commit);
  });

  test("a follower rejects an append whose previous entry it lacks (consistency check)", () => {
    const env = cluster(3);
    elect(env, "1");
    const replies = answer(env, {
      type: "append",
      from: "1",
      to: "2",
      term: 2,
      prevLogIndex: 5,
      prevLogTerm: 2,
      entries: [{ index: 6, term: 2, type: "normal", data: new Uint8Array([1]) }],
      commit: 2,
    });
    const reply = replies[0];
    assert.ok(reply?.type === "appendResponse" && reply.reject);
    assert.equal(lastOf(env, "2").index, 2);
  });

  test("conflicting entries are deleted with all that follow; new ones appended", () => {
    const env = cluster(3);
    elect(env, "1");
    const entry = (index: number, entryTerm: number): Entry => ({
      index,
      term: entryTerm,
      type: "normal",
      data: new Uint8Array([index]),
    });
    answer(env, {
      type: "append",
      from: "1",
      to: "2",
      term: 2,
      prevLogIndex: 2,
      prevLogTerm: 2,
      entries: [entry(3, 2), entry(4, 2), entry(5, 2)],
      commit: 2,
    });
    answer(env, {
      type: "append",
      from: "3",
      to: "2",
      term: 3,
      prevLogIndex: 3,
      prevLogTerm: 2,
      entries: [entry(4, 3)],
      commit: 2,
    });
    assert.deepEqual(
      logOf(env, "2").map((e) => `${e.index}@${e.term}`),
      ["2@2", "3@2", "4@3"],
    );
  });

  test("a duplicate or reordered append never truncates entries it already agrees on", () => {
    const env = cluster(3);
    elect(env, "1");
    const entry = (index: number): Entry => ({
      index,
      term: 2,
      type: "normal",
      data: new Uint8Array([index]),
    });
    answer(env, {
      type: "append",
      from: "1",
      to: "2",
      term: 2,
      prevLogIndex: 2,
      prevLogTerm: 2,
      entries: [entry(3), entry(4)],
      commit: 2,
    });
    // An older, shorter append arriving late.
    const replies = answer(env, {
      type: "append",
      from: "1",
      to: "2",
      term: 2,
      prevLogIndex: 2,
      prevLogTerm: 2,
      entries: [entry(3)],
      commit: 2,
    });
    assert.equal(lastOf(env, "2").index, 4);
    const reply = replies[0];
    assert.ok(reply?.type === "appendResponse" && !reply.reject && reply.index === 3);
  });

  test("a follower sets commit to min(leaderCommit, index of last new entry)", () => {
    const env = cluster(3);
    elect(env, "1");
    answer(env, {
      type: "append",
      from: "1",
      to: "2",
      term: 2,
      prevLogIndex: 2,
      prevLogTerm: 2,
      entries: [{ index: 3, term: 2, type: "normal", data: new Uint8Array([3]) }],
      commit: 10,
    });
    assert.equal(commit(env, "2"), 3);
  });

  test("an entry commits once a majority stores it, and is applied everywhere in order", () => {
    const env = cluster(5);
    elect(env, "1");
    quiet(env, () => {
      env.propose("1", "a");
      env.processReady("1");
      env.deliver([], ["4", "5"]);
      env.stabilize(["1", "2", "3"]);
    });
    assert.equal(commit(env, "1"), 3);
    for (const id of ["1", "2", "3"]) {
      assert.deepEqual(
        env.node(id).applied.map((e) => e.index),
        [2, 3],
      );
    }
  });

  test("a new leader appends an empty entry of its term to commit earlier entries", () => {
    const env = cluster(3);
    elect(env, "1");
    const log = logOf(env, "1");
    assert.deepEqual(
      log.map((e) => [e.index, e.term, e.data.byteLength]),
      [[2, 2, 0]],
    );
  });

  test("log matching: same index and term means identical prefixes", () => {
    for (let seed = 1; seed <= 30; seed++) {
      const env = chaos(seed, 5, 400);
      const ids = env.ids();
      for (const a of ids) {
        for (const b of ids) {
          const logA = new Map(logOf(env, a).map((e) => [e.index, e]));
          for (const entry of logOf(env, b)) {
            const other = logA.get(entry.index);
            if (other === undefined || other.term !== entry.term) continue;
            for (let i = entry.index; i >= 1; i--) {
              const x = logA.get(i);
              const y = logOf(env, b).find((e) => e.index === i);
              if (x === undefined || y === undefined) break;
              assert.equal(`${x.term}:${x.data}`, `${y.term}:${y.data}`, `seed ${seed}`);
            }
          }
        }
      }
    }
  });
});

describe("figure 3 guarantees, over randomized runs", () => {
  test("election safety: at most one leader per term", () => {
    for (let seed = 1; seed <= 40; seed++) chaos(seed, 5, 400);
  });

  test("leader append-only: a leader never overwrites or deletes its entries", () => {
    for (let seed = 1; seed <= 40; seed++) chaos(seed, 3, 400);
  });

  test("leader completeness and state machine safety", () => {
    for (let seed = 1; seed <= 40; seed++) chaos(seed, 5, 400);
  });
});

describe("membership changes (thesis §4.1, applied at apply time)", () => {
  test("a node does not campaign while a committed conf change waits to be applied", () => {
    const env = cluster(3);
    elect(env, "1");
    quiet(env, () => {
      env.proposeConfChange("1", { type: "addLearner", nodeId: "4" });
      env.stabilize([]);
    });
    // After a restart, 2's state machine replays from the snapshot: the change is committed
    // but not yet applied.
    quiet(env, () => env.restart("2"));
    env.node("2").raw.campaign();
    assert.equal(state(env, "2"), "follower");
    quiet(env, () => env.processReady("2"));
    assert.deepEqual(env.node("2").confState.learners, ["4"]);
    env.node("2").raw.campaign();
    assert.equal(state(env, "2"), "candidate");
  });

  test("a new leader accepts no conf change until it applied every earlier-term entry", () => {
    const env = cluster(3);
    elect(env, "1");
    // x reaches 2 but is not committed; then 2 takes over at term 3 with x unapplied.
    quiet(env, () => {
      env.propose("1", "x");
      env.processReady("1");
      env.deliver(["2"], ["3"]);
      env.processReady("2");
      env.messages = [];
    });
    env.partition(["1"]);
    quiet(env, () => {
      env.node("2").raw.campaign();
      env.processReady("2");
      env.deliver(["3"], []);
      env.processReady("3");
      env.deliver(["2"], []);
    });
    assert.equal(state(env, "2"), "leader");
    assert.equal(
      env.proposeConfChange("2", { type: "addLearner", nodeId: "4" }),
      "rejected: confChangePending",
    );
    quiet(env, () => env.stabilize(["2", "3"]));
    assert.match(env.proposeConfChange("2", { type: "addLearner", nodeId: "4" }), /^accepted/);
  });
});

describe("§5.4.2 committing entries from previous terms (figure 8)", () => {
  test("figure 8 (e): once an entry of the current term is on a majority, earlier ones commit", () => {
    const env = figure8c();
    assert.equal(commit(env, "1"), 2);
    quiet(env, () => env.stabilize(["1", "2", "3"]));
    assert.equal(commit(env, "1"), 4);
    assert.ok(env.node("1").applied.some((e) => e.index === 3 && e.term === 2));
  });

  test("figure 8 (c)→(d): 3@2 on a majority stays uncommitted, and is later overwritten", () => {
    const env = figure8c();
    // (c): a majority (1, 2, 3) stores 3@2, but the leader must not count it committed.
    assert.equal(commit(env, "1"), 2);
    // (d): 1 crashes; 5 (last 3@3) wins with 2, 3 and 4 and overwrites 3@2 everywhere.
    env.heal();
    env.partition(["1"]);
    env.messages = [];
    quiet(env, () => {
      env.restart("5");
      // 2 and 3 voted in term 4 already: 5 may need a second try at a higher term.
      for (let attempt = 0; attempt < 3 && state(env, "5") !== "leader"; attempt++) {
        env.node("5").raw.campaign();
        env.stabilize(["2", "3", "4", "5"]);
      }
    });
    assert.equal(state(env, "5"), "leader");
    for (const id of ["2", "3", "4", "5"]) {
      const at3 = logOf(env, id).find((e) => e.index === 3);
      assert.equal(at3?.term, 3, `node ${id} index 3 now from term 3`);
      assert.ok(!env.node(id).applied.some((e) => e.index === 3 && e.term === 2));
    }
  });
});

/**
 * Builds figure 8 (c) with five nodes, the empty entry of each new leader included:
 *   1: [2@2 3@2 4@4]   2: [2@2 3@2 (4@4)]   3: [2@2 3@2]   4: [2@2]   5: [2@2 3@3]
 * 1 leads term 4; 3@2 is on a majority but 4@4 is not. One entry per append message.
 */
function figure8c(): InteractionEnv {
  const env = cluster(5, { ...RAW, maxSizePerMessageBytes: 1 });
  elect(env, "1"); // term 2, everyone [2@2]
  // (a) 1 appends 3@2 and gets it to 2 only.
  quiet(env, () => {
    env.propose("1", "x");
    env.processReady("1");
    env.deliver([], ["3", "4", "5"]);
    env.processReady("2");
    env.deliver([], ["1"]);
  });
  // (b) 1 crashes; 5 wins term 3 with 3 and 4; its 3@3 reaches nobody.
  env.partition(["1"]);
  quiet(env, () => {
    env.node("5").raw.campaign();
    env.processReady("5");
    env.deliver(["3", "4"], ["1", "2"]);
    env.processReady("3");
    env.processReady("4");
    env.deliver(["5"], []);
    env.processReady("5");
    env.messages = [];
  });
  assert.equal(state(env, "5"), "leader");
  assert.deepEqual(lastOf(env, "5"), { index: 3, term: 3 });
  // (c) 5 crashes; 1 restarts, times out once in vain (term 3), then wins term 4 with 2 and 3.
  env.heal();
  env.partition(["5"]);
  env.cut.add("1->4").add("4->1");
  quiet(env, () => {
    env.restart("1");
    env.node("1").raw.campaign();
    env.processReady("1");
    env.messages = [];
    env.node("1").raw.campaign();
    env.processReady("1");
    env.deliver(["2", "3"], []);
    env.processReady("2");
    env.processReady("3");
    env.deliver(["1"], []);
    env.processReady("1");
  });
  assert.equal(state(env, "1"), "leader");
  assert.equal(term(env, "1"), 4);
  // One message at a time until 3 holds 3@2; 4@4 follows in a later message.
  for (let round = 0; round < 20; round++) {
    if (logOf(env, "3").some((e) => e.index === 3 && e.term === 2)) break;
    quiet(env, () => {
      const [next] = env.messages.splice(0, 1);
      if (next !== undefined) {
        env.messages.unshift(next);
        env.deliver([next.to], []);
        env.processReady(next.to);
      }
    });
  }
  // The leader hears the acknowledgements: it knows 3@2 is on a majority.
  quiet(env, () => {
    env.deliver(["1"], []);
    env.processReady("1");
  });
  const leaderStatus = env.node("1").raw.status();
  assert.ok(
    ["2", "3"].every((id) => (leaderStatus.progress.get(id)?.match ?? 0) >= 3),
    "the leader knows 2 and 3 hold index 3",
  );
  const holders = env
    .ids()
    .filter((id) => logOf(env, id).some((e) => e.index === 3 && e.term === 2));
  assert.deepEqual(holders, ["1", "2", "3"]);
  const on44 = env.ids().filter((id) => logOf(env, id).some((e) => e.index === 4 && e.term === 4));
  assert.ok(on44.length < 3, `4@4 is on ${on44}, not a majority`);
  return env;
}

/**
 * A randomized run over the InteractionEnv: random ticks, deliveries (in random order), drops,
 * crashes and proposals. Checks after every step the figure 3 guarantees:
 * election safety, leader append-only, leader completeness, state machine safety.
 */
function chaos(seed: number, size: number, steps: number): InteractionEnv {
  const random = createRandom(seed);
  const env = new InteractionEnv();
  const voters = Array.from({ length: size }, (_, i) => String(i + 1));
  env.addNodes(size, {
    voters,
    electionTicks: 5,
    preVote: random.nextInt(2) === 0,
    checkQuorum: random.nextInt(2) === 0,
  });
  const leaderOfTerm = new Map<number, NodeId>();
  const leaderLogs = new Map<NodeId, { term: number; entries: string[] }>();
  const committed: string[] = []; // committed[i] = "term:data" of index i+1, the agreed prefix
  let proposals = 0;
  for (let step = 0; step < steps; step++) {
    const roll = random.nextInt(100);
    const id = String(1 + random.nextInt(size));
    if (roll < 35) {
      env.tick(id, 1);
    } else if (roll < 70) {
      // Deliver a random subset, reordered.
      const pending = env.messages;
      env.messages = [];
      for (let i = pending.length - 1; i > 0; i--) {
        const j = random.nextInt(i + 1);
        [pending[i], pending[j]] = [pending[j]!, pending[i]!];
      }
      for (const message of pending) {
        const fate = random.nextInt(10);
        if (fate === 0) continue; // dropped
        if (fate === 1) {
          env.messages.push(message); // delayed
          continue;
        }
        env.node(message.to).raw.step(message);
      }
    } else if (roll < 92) {
      env.processReady(id);
    } else if (roll < 97) {
      proposals += 1;
      env.propose(id, `p${proposals}`);
    } else {
      env.restart(id);
    }
    env.takeOutput();
    // Checks.
    for (const nodeId of env.ids()) {
      const status = env.node(nodeId).raw.status();
      const nodeTerm = status.hardState.term;
      if (status.softState.state === "leader") {
        const known = leaderOfTerm.get(nodeTerm);
        assert.ok(
          known === undefined || known === nodeId,
          `seed ${seed}: two leaders in ${nodeTerm}`,
        );
        leaderOfTerm.set(nodeTerm, nodeId);
        // Leader append-only: its persisted log during one term only grows.
        const entries = logOf(env, nodeId).map((e) => `${e.index}:${e.term}:${e.data}`);
        const previous = leaderLogs.get(nodeId);
        if (previous !== undefined && previous.term === nodeTerm) {
          for (let i = 0; i < previous.entries.length; i++) {
            const firstIndex = env.node(nodeId).storage.firstIndex();
            const entry = previous.entries[i]!;
            const index = Number(entry.split(":")[0]);
            if (index < firstIndex) continue;
            assert.ok(entries.includes(entry), `seed ${seed}: leader ${nodeId} lost ${entry}`);
          }
        }
        leaderLogs.set(nodeId, { term: nodeTerm, entries });
        // Leader completeness: every entry committed so far is in the leader's log.
        for (const [index, value] of committed.entries()) {
          const entry = logOf(env, nodeId).find((e) => e.index === index + 1);
          if (entry === undefined) continue; // compacted or not yet persisted
          assert.equal(
            `${entry.term}:${entry.data}`,
            value,
            `seed ${seed}: leader lacks ${index + 1}`,
          );
        }
      } else {
        leaderLogs.delete(nodeId);
      }
      // State machine safety: applied entries agree with the committed prefix.
      for (const entry of env.node(nodeId).applied) {
        const value = `${entry.term}:${entry.data}`;
        const known = committed[entry.index - 1];
        if (known === undefined) {
          committed[entry.index - 1] = value;
        } else {
          assert.equal(value, known, `seed ${seed}: ${nodeId} applied a different ${entry.index}`);
        }
      }
    }
  }
  return env;
}

describe("messages no correct leader sends", () => {
  test("a heartbeat whose commit is past the follower's log is dropped, not obeyed", () => {
    const env = cluster(3);
    elect(env, "1");
    const before = env.node("2").raw.status().hardState;
    const last = lastOf(env, "2").index;
    const replies = answer(env, {
      type: "heartbeat",
      from: "1",
      to: "2",
      term: term(env, "1"),
      commit: last + 99_999,
    });
    assert.deepEqual(replies, []);
    assert.deepEqual(env.node("2").raw.status().hardState, before);
    assert.equal(commit(env, "2"), before.commit);
  });
});

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ProduceCoalescer } from "../../src/cluster/produce-coalescer.js";
import type { RecordInput } from "../../src/cluster/record-codec.js";

const record = (text: string, headers: Record<string, string> = {}): RecordInput => ({
  value: Buffer.from(text),
  key: new Uint8Array(0),
  headers,
});

/** A log that records each proposal and assigns offsets in proposal order. */
function fakeLog(fail?: (topic: string) => unknown) {
  const proposals: { topic: string; values: string[] }[] = [];
  const next = new Map<string, number>();
  const propose = async (topic: string, records: readonly RecordInput[]) => {
    proposals.push({ topic, values: records.map((r) => Buffer.from(r.value).toString()) });
    const error = fail?.(topic);
    if (error !== undefined) throw error;
    const base = next.get(topic) ?? 0;
    next.set(topic, base + records.length);
    return base;
  };
  return { proposals, propose };
}

describe("ProduceCoalescer", () => {
  test("requests of one turn become one proposal per topic; each gets its own offsets", async () => {
    const log = fakeLog();
    const coalescer = new ProduceCoalescer(log.propose, { recordsMax: 100, bytesMax: 1 << 20 });
    const results = await Promise.all([
      coalescer.add("a", [record("a0"), record("a1")]),
      coalescer.add("b", [record("b0")]),
      coalescer.add("a", [record("a2")]),
      coalescer.add("a", [record("a3"), record("a4"), record("a5")]),
    ]);
    assert.deepEqual(results, [0, 0, 2, 3]);
    assert.deepEqual(log.proposals, [
      { topic: "a", values: ["a0", "a1", "a2", "a3", "a4", "a5"] },
      { topic: "b", values: ["b0"] },
    ]);
    // A later turn starts a new entry, after the first.
    assert.equal(await coalescer.add("a", [record("a6")]), 6);
    assert.equal(log.proposals.length, 3);
  });

  test("with the flush held (the Raft loop busy), requests of later turns join the batch", async () => {
    const log = fakeLog();
    const held: (() => void)[] = [];
    const coalescer = new ProduceCoalescer(
      log.propose,
      { recordsMax: 4, bytesMax: 1 << 20 },
      (flush) => held.push(flush),
    );
    const first = coalescer.add("t", [record("0")]);
    await new Promise((resolve) => setImmediate(resolve));
    const second = coalescer.add("t", [record("1"), record("2")]);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(log.proposals.length, 0);
    assert.equal(held.length, 1, "one flush asked for, however many requests");
    // Over the limit: the gathered batch goes at once, the newcomer waits for the next flush.
    const third = coalescer.add("t", [record("3"), record("4")]);
    assert.deepEqual(log.proposals, [{ topic: "t", values: ["0", "1", "2"] }]);
    held.shift()!();
    assert.deepEqual(await Promise.all([first, second, third]), [0, 1, 3]);
    assert.deepEqual(
      log.proposals.map((p) => p.values),
      [
        ["0", "1", "2"],
        ["3", "4"],
      ],
    );
    assert.equal(held.length, 0, "an empty flush is not asked for again");
  });

  test("a batch is proposed as soon as the next request would take it over a limit", async () => {
    const log = fakeLog();
    const coalescer = new ProduceCoalescer(log.propose, { recordsMax: 3, bytesMax: 1 << 20 });
    const results = await Promise.all([
      coalescer.add("t", [record("0"), record("1")]),
      coalescer.add("t", [record("2"), record("3")]),
      coalescer.add("t", [record("4")]),
      coalescer.add("t", [record("5"), record("6"), record("7"), record("8")]),
    ]);
    assert.deepEqual(results, [0, 2, 4, 5]);
    assert.deepEqual(
      log.proposals.map((p) => p.values),
      [
        ["0", "1"],
        ["2", "3", "4"],
        ["5", "6", "7", "8"],
      ],
    );

    const bytes = fakeLog();
    const small = new ProduceCoalescer(bytes.propose, { recordsMax: 100, bytesMax: 200 });
    await Promise.all([
      small.add("t", [record("x".repeat(100))]),
      // Header bytes count too.
      small.add("t", [record("", { name: "y".repeat(100) })]),
      small.add("t", [record("z")]),
    ]);
    assert.deepEqual(
      bytes.proposals.map((p) => p.values.length),
      [1, 2],
    );
  });

  test("a failed proposal fails every request in it, and only those", async () => {
    const refusal = new Error("not the leader");
    const log = fakeLog((topic) => (topic === "bad" ? refusal : undefined));
    const coalescer = new ProduceCoalescer(log.propose, { recordsMax: 100, bytesMax: 1 << 20 });
    const outcomes = await Promise.allSettled([
      coalescer.add("bad", [record("0")]),
      coalescer.add("good", [record("0")]),
      coalescer.add("bad", [record("1")]),
    ]);
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ["rejected", "fulfilled", "rejected"],
    );
    for (const outcome of [outcomes[0], outcomes[2]])
      assert.equal((outcome as PromiseRejectedResult).reason, refusal);

    // A proposer that throws instead of rejecting is reported the same way.
    const throwing = new ProduceCoalescer(
      () => {
        throw refusal;
      },
      { recordsMax: 100, bytesMax: 1 << 20 },
    );
    await assert.rejects(throwing.add("t", [record("0")]), refusal);
  });
});

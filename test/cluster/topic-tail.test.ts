// TopicTails against a real TopicStateMachine on disk (no network): readers of several topics
// read every record in order while the caches stay within their per-topic and node-wide bounds,
// also when chunks they would read were evicted; waits end on commit and on abort; closing the
// last reader frees the topic's cache. Followers get each commit pushed once, sharing one encoded
// answer per offset and limits, and stop when they can take no more, on abort, close or delete.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { recordsAsUnknownField } from "../../src/api/record-wire.js";
import { encodeAdmin, encodeAppendRecords } from "../../src/cluster/commands.js";
import { encodeRecord } from "../../src/cluster/record-codec.js";
import { TopicStateMachine } from "../../src/cluster/topic-state-machine.js";
import { TopicTails, type WireSlice } from "../../src/cluster/topic-tail.js";
import { ConsumeResponseSchema } from "../../src/gen/tidelog/v1/log_service_pb.js";

let directory: string;
let machine: TopicStateMachine;

before(async () => {
  directory = await mkdtemp(join(tmpdir(), "tidelog-topic-tail-"));
  machine = await TopicStateMachine.open(directory, {
    metadata: { index: 0, term: 0, confState: { voters: [], learners: [] } },
    data: new Uint8Array(),
  });
});

after(async () => {
  await machine?.close();
  await rm(directory, { recursive: true, force: true });
});

async function append(topic: string, from: number, count: number): Promise<void> {
  const log = (await machine.registry.ensure(topic)).log;
  const payloads = Array.from({ length: count }, (_, i) =>
    encodeRecord(
      {
        value: Buffer.from(`${topic}:${from + i}:${"x".repeat(200)}`),
        key: Buffer.alloc(0),
        headers: {},
      },
      1_700_000_000_000,
    ),
  );
  assert.equal(await log.append(payloads), from);
}

/** The values in wire bytes, through protobuf-es (the declared message). */
function values(bytes: Buffer): string[] {
  const response = create(ConsumeResponseSchema, {});
  response.$unknown = [recordsAsUnknownField(bytes)];
  return fromBinary(ConsumeResponseSchema, toBinary(ConsumeResponseSchema, response)).records.map(
    (record) => Buffer.from(record.value).toString().split(":").slice(0, 2).join(":"),
  );
}

test("readers of many topics get every record in order within the cache bounds", async () => {
  const perTopic = 4 * 1024;
  const node = 10 * 1024;
  const tails = new TopicTails(machine, {
    cacheBytesMax: perTopic,
    nodeCacheBytesMax: node,
    fetchRecordsMax: 8,
    fetchBytesMax: 64 * 1024,
  });
  const topics = ["a", "b", "c", "d"];
  for (const topic of topics) await append(topic, 0, 1);
  const controller = new AbortController();
  const limits = { maxRecords: 5, maxBytes: 1024 * 1024 };
  const readers = topics.flatMap((topic) =>
    [0, 1].map(() => ({
      topic,
      reader: tails.open(topic, controller.signal),
      next: 1,
      seen: [] as string[],
    })),
  );
  let appended = 1;
  let maxCached = 0;
  for (let round = 0; round < 12; round++) {
    for (const topic of topics) await append(topic, appended, 3 + round);
    appended += 3 + round;
    // One reader of each topic keeps up; the other reads every third round (falls behind the
    // cache and then reads the log directly).
    for (const [i, each] of readers.entries()) {
      if (i % 2 === 1 && round % 3 !== 2) continue;
      while (each.next < appended) {
        const slice = await each.reader.read(each.next, limits);
        assert.ok(slice.records >= 1 && slice.records <= limits.maxRecords);
        assert.equal(slice.nextOffset, each.next + slice.records);
        each.seen.push(...values(slice.bytes));
        each.next = slice.nextOffset;
      }
      assert.ok(tails.cachedBytes <= node, `node-wide cache ${tails.cachedBytes}`);
      maxCached = Math.max(maxCached, tails.cachedBytes);
    }
  }
  assert.ok(maxCached > node / 2, `the caches were used (${maxCached} bytes at most)`);
  for (const each of readers) {
    assert.deepEqual(
      each.seen,
      Array.from({ length: appended - 1 }, (_, i) => `${each.topic}:${i + 1}`),
    );
  }
  for (const each of readers) each.reader.close();
  assert.equal(tails.size, 0);
  assert.equal(tails.cachedBytes, 0);
});

test("a wait ends when a record is committed at the offset, or on abort", async () => {
  const tails = new TopicTails(machine);
  await append("waits", 0, 2);
  const controller = new AbortController();
  const reader = tails.open("waits", controller.signal);
  await reader.wait(1); // already committed: at once
  let woken = false;
  const waiting = reader.wait(2).then(() => {
    woken = true;
  });
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(woken, false);
  await append("waits", 2, 1);
  await waiting;
  const aborted = reader.wait(3);
  controller.abort();
  await aborted;
  reader.close();
  assert.equal(tails.size, 0);
});

test("reads behind the cache reuse an answer buffer only once it was released", async () => {
  const tails = new TopicTails(machine);
  await append("behind", 0, 30);
  const reader = tails.open("behind", new AbortController().signal);
  const limits = { maxRecords: 10, maxBytes: 1024 * 1024 };
  const first = await reader.read(0, limits);
  const held = await reader.read(10, limits);
  assert.ok(first.release !== undefined && held.release !== undefined);
  assert.notEqual(held.bytes.buffer, first.bytes.buffer);
  const firstValues = values(first.bytes);
  assert.deepEqual(
    firstValues,
    Array.from({ length: 10 }, (_, i) => `behind:${i}`),
  );
  first.release();
  first.release(); // once only: a second call gives nothing back
  assert.equal(tails.answerBuffers.kept, 1);
  const third = await reader.read(20, limits);
  assert.equal(third.bytes.buffer, first.bytes.buffer);
  assert.deepEqual(
    values(held.bytes),
    Array.from({ length: 10 }, (_, i) => `behind:${10 + i}`),
  );
  assert.deepEqual(
    values(third.bytes),
    Array.from({ length: 10 }, (_, i) => `behind:${20 + i}`),
  );
  reader.close();
});

test("followers get every commit pushed once, one encoding shared per offset and limits", async () => {
  const tails = new TopicTails(machine);
  await append("follow", 0, 1);
  const controller = new AbortController();
  const encodings: { offset: number; next: number; highWatermark: number }[] = [];
  const encode = (slice: WireSlice, highWatermark: number) => {
    encodings.push({
      offset: slice.nextOffset - slice.records,
      next: slice.nextOffset,
      highWatermark,
    });
    return { values: values(slice.bytes), next: slice.nextOffset };
  };
  const small = { maxRecords: 2, maxBytes: 1024 * 1024 };
  const large = { maxRecords: 100, maxBytes: 1024 * 1024 };
  const followers = [large, large, large, small].map((limits) => {
    const reader = tails.open("follow", controller.signal);
    const seen: string[] = [];
    const answers: unknown[] = [];
    const reached = reader.follow(1, limits, encode, (answer) => {
      answers.push(answer);
      seen.push(...answer.values);
      return "more";
    });
    return { reader, seen, answers, reached };
  });
  await append("follow", 1, 3);
  await until(() => followers.every((each) => each.seen.length === 3));
  await append("follow", 4, 1);
  await until(() => followers.every((each) => each.seen.length === 4));
  const expected = ["follow:1", "follow:2", "follow:3", "follow:4"];
  for (const each of followers) assert.deepEqual(each.seen, expected);
  // The three followers with the same limits got the same answer objects.
  assert.equal(followers[0]!.answers.length, 2);
  for (const i of [1, 2]) {
    assert.equal(followers[i]!.answers[0], followers[0]!.answers[0]);
    assert.equal(followers[i]!.answers[1], followers[0]!.answers[1]);
  }
  // One encoding per distinct (offset, limits): 2 for the large followers, 3 for the small one.
  assert.equal(followers[3]!.answers.length, 3);
  assert.equal(encodings.length, 5);
  assert.ok(encodings.every((each) => each.highWatermark >= each.next));
  controller.abort();
  for (const each of followers) assert.equal(await each.reached, 5);
  for (const each of followers) each.reader.close();
  assert.equal(tails.size, 0);
});

test("a follower that takes no more stops at the offset it reached, and reads on from there", async () => {
  const tails = new TopicTails(machine);
  await append("full", 0, 1);
  const reader = tails.open("full", new AbortController().signal);
  const seen: string[] = [];
  const limits = { maxRecords: 1, maxBytes: 1024 * 1024 };
  const reached = reader.follow(
    1,
    limits,
    (slice) => values(slice.bytes),
    (answer) => {
      seen.push(...answer);
      return "full"; // took this one; no room for the next
    },
  );
  await append("full", 1, 3);
  assert.equal(await reached, 2);
  assert.deepEqual(seen, ["full:1"]);
  const rest = await reader.read(2, { maxRecords: 10, maxBytes: 1024 * 1024 });
  assert.deepEqual(values(rest.bytes), ["full:2", "full:3"]);
  reader.close();
});

test("a follower that declines an answer stops before it, told the answer's record bytes", async () => {
  const tails = new TopicTails(machine);
  await append("declined", 0, 1);
  const reader = tails.open("declined", new AbortController().signal);
  const offered: number[] = [];
  const reached = reader.follow(
    1,
    { maxRecords: 10, maxBytes: 1024 * 1024 },
    (slice) => slice.bytes.length,
    (bytes, told) => {
      offered.push(bytes, told);
      return "declined"; // say, held bytes over the budget: it reads a smaller answer instead
    },
  );
  await append("declined", 1, 3);
  assert.equal(await reached, 1);
  assert.equal(offered.length, 2);
  assert.equal(offered[0], offered[1]);
  const rest = await reader.read(1, { maxRecords: 10, maxBytes: 1024 * 1024 });
  assert.equal(rest.bytes.length, offered[0]);
  assert.deepEqual(values(rest.bytes), ["declined:1", "declined:2", "declined:3"]);
  reader.close();
});

test("a follow ends when its reader is closed, or its topic is deleted", async () => {
  const tails = new TopicTails(machine);
  await append("gone", 0, 1);
  await append("stays", 0, 1);
  const limits = { maxRecords: 10, maxBytes: 1024 * 1024 };
  const never = () => {
    throw new Error("nothing was committed");
  };
  const closed = tails.open("stays", new AbortController().signal);
  const closedFollow = closed.follow(1, limits, never, never);
  closed.close();
  assert.equal(await closedFollow, 1);

  const reader = tails.open("gone", new AbortController().signal);
  const follow = reader.follow(1, limits, never, never);
  await machine.applyBatch([
    { index: 1, term: 1, type: "normal", data: encodeAdmin({ op: "deleteTopic", name: "gone" }) },
  ]);
  assert.equal(await follow, 1);
  assert.throws(() => reader.bounds(), /not.found|does not exist/i);
  reader.close();
});

test("a reader of a topic deleted and created again in one batch ends with not_found", async () => {
  // As a follower catching up applies them: the reader never sees the topic missing.
  const tails = new TopicTails(machine);
  const config = { retentionBytes: 0, retentionMs: 0, segmentBytes: 0 };
  const records = (count: number, prefix: string) =>
    encodeAppendRecords(
      "reborn",
      false,
      Array.from({ length: count }, (_, i) => ({
        value: Buffer.from(`${prefix}-${i}`),
        key: Buffer.alloc(0),
        headers: {},
      })),
      1_700_000_000_000,
    );
  const entry = (index: number, data: Buffer) => ({
    index,
    term: 1,
    type: "normal" as const,
    data,
  });
  await machine.applyBatch([
    entry(100, encodeAdmin({ op: "createTopic", name: "reborn", config })),
    entry(101, records(20, "old")),
  ]);
  const limits = { maxRecords: 100, maxBytes: 1024 * 1024 };
  const reader = tails.open("reborn", new AbortController().signal);
  const waited = reader.wait(20);
  await machine.applyBatch([
    entry(102, encodeAdmin({ op: "deleteTopic", name: "reborn" })),
    entry(103, encodeAdmin({ op: "createTopic", name: "reborn", config })),
    entry(104, records(30, "new")),
  ]);
  await waited;
  await assert.rejects(async () => reader.read(20, limits), /was deleted/);
  assert.throws(() => reader.bounds(), /was deleted/);
  reader.close();
  // A new reader reads the new topic from its start.
  const fresh = tails.open("reborn", new AbortController().signal);
  assert.deepEqual(values((await fresh.read(0, limits)).bytes).slice(0, 2), ["new-0", "new-1"]);
  fresh.close();
});

async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

test("answers are shared only by the same limits and encoder", async () => {
  const tails = new TopicTails(machine);
  await append("keys", 0, 3);
  const controller = new AbortController();
  let encoded = 0;
  const encodeA = (slice: WireSlice) => {
    encoded++;
    return values(slice.bytes);
  };
  const encodeB = (slice: WireSlice) => {
    encoded++;
    return values(slice.bytes);
  };
  const one = { maxRecords: 10, maxBytes: 1 };
  const all = { maxRecords: 10, maxBytes: 1024 * 1024 };
  const runs = [
    { limits: one, encode: encodeA },
    { limits: all, encode: encodeA },
    { limits: all, encode: encodeB },
    { limits: all, encode: encodeB },
  ].map(({ limits, encode }) => {
    const reader = tails.open("keys", controller.signal);
    const seen: string[][] = [];
    const reached = reader.follow(3, limits, encode, (answer) => {
      seen.push(answer);
      return "more";
    });
    return { reader, seen, reached };
  });
  await append("keys", 3, 2);
  await until(() => runs.every((run) => run.seen.flat().length === 2));
  assert.deepEqual(runs[0]!.seen, [["keys:3"], ["keys:4"]]); // maxBytes 1: one record per answer
  for (const run of runs.slice(1)) assert.deepEqual(run.seen, [["keys:3", "keys:4"]]);
  assert.equal(runs[2]!.seen[0], runs[3]!.seen[0]);
  assert.notEqual(runs[1]!.seen[0], runs[2]!.seen[0]);
  assert.equal(encoded, 2 + 1 + 1);
  controller.abort();
  for (const run of runs) {
    assert.equal(await run.reached, 5);
    run.reader.close();
  }
});

test("a follower left behind the cache stops and reads; one that throws fails alone", async () => {
  // A topic's cache keeps only its newest chunk (of two records).
  const tails = new TopicTails(machine, {
    cacheBytesMax: 1,
    nodeCacheBytesMax: 64 * 1024 * 1024,
    fetchRecordsMax: 2,
    fetchBytesMax: 1024 * 1024,
  });
  await append("evicted", 0, 1);
  const controller = new AbortController();
  const limits = { maxRecords: 1, maxBytes: 1024 * 1024 };
  const keeping = tails.open("evicted", controller.signal);
  const kept: string[] = [];
  const keepingFollow = keeping.follow(
    1,
    limits,
    (slice) => values(slice.bytes),
    (answer) => {
      kept.push(...answer);
      return "more";
    },
  );
  const throwing = tails.open("evicted", controller.signal);
  const throwingFollow = throwing.follow(
    1,
    limits,
    (slice) => values(slice.bytes),
    () => {
      throw new Error("this stream broke");
    },
  );
  await append("evicted", 1, 6);
  await assert.rejects(throwingFollow, /this stream broke/);
  await until(() => kept.length === 6);
  assert.deepEqual(kept, [
    "evicted:1",
    "evicted:2",
    "evicted:3",
    "evicted:4",
    "evicted:5",
    "evicted:6",
  ]);
  // Joined at offset 1 while the cache holds only the newest chunk: stopped at once, to read.
  const late = tails.open("evicted", controller.signal);
  const lateReached = await late.follow(
    1,
    limits,
    () => assert.fail("not pushed"),
    () => "full",
  );
  assert.equal(lateReached, 1);
  const read = await late.read(1, { maxRecords: 10, maxBytes: 1024 * 1024 });
  assert.deepEqual(values(read.bytes), kept);
  controller.abort();
  assert.equal(await keepingFollow, 7);
  for (const reader of [keeping, throwing, late]) reader.close();
  assert.equal(tails.size, 0);
});

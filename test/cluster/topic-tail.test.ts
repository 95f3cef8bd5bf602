// TopicTails against a real TopicStateMachine on disk (no network): readers of several topics
// read every record in order while the caches stay within their per-topic and node-wide bounds,
// also when chunks they would read were evicted; waits end on commit and on abort; closing the
// last reader frees the topic's cache.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { recordsAsUnknownField } from "../../src/api/record-wire.js";
import { encodeRecord } from "../../src/cluster/record-codec.js";
import { TopicStateMachine } from "../../src/cluster/topic-state-machine.js";
import { TopicTails } from "../../src/cluster/topic-tail.js";
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

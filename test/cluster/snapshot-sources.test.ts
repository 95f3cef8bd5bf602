// Where a snapshot's topic records come from: the sender first, then the other members, the
// next one going on from the first record not yet received; sources are fakes that serve from an
// array, fail part-way or skip records.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { fetchFromAny, snapshotSources } from "../../src/cluster/snapshot-sources.js";
import type { SnapshotFetcher } from "../../src/cluster/topic-state-machine.js";
import type { StoredRecord } from "../../src/log/log.js";
import type { LogFields } from "../../src/obs/logger.js";
import { RateLimitedLog } from "../../src/obs/rate-limited-log.js";

type Behaviour = { failAt?: number; skip?: number; error?: Error };

/** A fetcher whose members serve offsets [from, end) as batches of 3, as `behaviours` say. */
function fakeFetcher(behaviours: Record<string, Behaviour>, asked: string[]): SnapshotFetcher {
  return async function* ({ address, fromOffset, endOffset }) {
    asked.push(`${address}@${fromOffset}`);
    const behaviour = behaviours[address] ?? {};
    for (let at = fromOffset; at < endOffset; at += 3) {
      const batch: StoredRecord[] = [];
      for (let offset = at; offset < Math.min(at + 3, endOffset); offset++) {
        if (offset === behaviour.failAt)
          throw behaviour.error ?? new ConnectError("record damaged", Code.DataLoss);
        if (offset === behaviour.skip) continue;
        batch.push({ offset, payload: Buffer.from(`r${offset}`) });
      }
      yield batch;
    }
  };
}

function warnings() {
  const lines: { message: string; fields: LogFields }[] = [];
  const log = new RateLimitedLog(
    10_000,
    () => 0,
    (message, fields) => lines.push({ message, fields }),
  );
  return { log, lines };
}

const sources = [
  { id: "n3", address: "a3" },
  { id: "n1", address: "a1" },
  { id: "n2", address: "a2" },
];
const request = { snapshotIndex: 7, topic: "t", createdIndex: 2, fromOffset: 0, endOffset: 10 };

async function collect(records: AsyncIterable<StoredRecord[]>): Promise<number[]> {
  const offsets: number[] = [];
  for await (const batch of records) offsets.push(...batch.map((record) => record.offset));
  return offsets;
}

test("the sender, then the other members, without this node or repeats", () => {
  assert.deepEqual(
    snapshotSources({ id: "n3", address: "a3" }, "n2", [
      [
        ["n1", "a1"],
        ["n2", "a2"],
        ["n3", "a3-old"],
      ],
      new Map([
        ["n4", "a4"],
        ["n1", "a1"],
        ["n5", "a3"],
      ]),
    ]),
    [
      { id: "n3", address: "a3" },
      { id: "n1", address: "a1" },
      { id: "n4", address: "a4" },
    ],
  );
});

test("a sender failing part-way is followed by the next member, from the first missing record", async () => {
  const asked: string[] = [];
  const { log, lines } = warnings();
  const fetch = fakeFetcher({ a3: { failAt: 5 } }, asked);
  const offsets = await collect(fetchFromAny(fetch, sources, request, log));
  assert.deepEqual(offsets, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(asked, ["a3@0", "a1@3"]);
  assert.equal(lines.length, 1);
  assert.match(lines[0]!.message, /from n3 failed; fetching it from n1/);
  assert.match(String(lines[0]!.fields.reason), /data_loss/);
});

test("a member that skips a record serves nothing more; the next one does", async () => {
  const asked: string[] = [];
  const fetch = fakeFetcher(
    { a3: { error: new Error("connect ECONNREFUSED"), failAt: 0 }, a1: { skip: 4 } },
    asked,
  );
  const offsets = await collect(fetchFromAny(fetch, sources, request, warnings().log));
  assert.deepEqual(offsets, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(asked, ["a3@0", "a1@0", "a2@3"]);
});

test("when no member serves the range, the error names every attempt", async () => {
  const fetch = fakeFetcher({ a3: { failAt: 5 }, a1: { failAt: 4 }, a2: { failAt: 3 } }, []);
  await assert.rejects(
    collect(fetchFromAny(fetch, sources, request, warnings().log)),
    (error: Error) =>
      /no member served topic t \[3, 10\)/.test(error.message) &&
      /n3 \(a3\).*n1 \(a1\).*n2 \(a2\)/.test(error.message),
  );
});

test("an empty range asks no one", async () => {
  const asked: string[] = [];
  const fetch = fakeFetcher({}, asked);
  const range = { ...request, fromOffset: 10 };
  assert.deepEqual(await collect(fetchFromAny(fetch, sources, range, warnings().log)), []);
  assert.deepEqual(asked, []);
});

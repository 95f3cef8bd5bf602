// Snapshot data arrives from peers: decodeSnapshotState checks all of it before any of it is used
// (a topic name is a directory emptied and rebuilt, an address is dialled).
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  decodeSnapshotState,
  encodeSnapshotState,
  type SnapshotState,
} from "../../src/cluster/snapshot-state.js";
import { TidelogError } from "../../src/errors.js";

const config = { retentionBytes: 0, retentionMs: 60_000, segmentBytes: 1 << 20 };
const valid: SnapshotState = {
  topics: [
    { name: "orders", config, nextOffset: 42, createdIndex: 7 },
    { name: "old.topic", config: { ...config, segmentBytes: 0 }, nextOffset: 0 },
  ],
  servers: [
    { id: "n1", address: "127.0.0.1:8081" },
    { id: "n2", address: "[::1]:8082" },
  ],
};

const json = (value: unknown) => Buffer.from(JSON.stringify(value), "utf8");

test("what encodeSnapshotState writes decodes as it was, and empty data is the empty state", () => {
  assert.deepEqual(decodeSnapshotState(encodeSnapshotState(valid)), valid);
  assert.deepEqual(decodeSnapshotState(new Uint8Array()), { topics: [], servers: [] });
});

test("malformed snapshot data is invalid_argument, whatever part is wrong", () => {
  const topic = valid.topics[0]!;
  const cases: [string, Uint8Array][] = [
    ["not JSON", Buffer.from("{")],
    ["not UTF-8", Buffer.from([0x7b, 0xff, 0x7d])],
    ["no lists", json({ topics: {}, servers: [] })],
    ["a traversal", json({ ...valid, topics: [{ ...topic, name: "../../victim" }] })],
    ["a parent", json({ ...valid, topics: [{ ...topic, name: ".." }] })],
    ["a staging name", json({ ...valid, topics: [{ ...topic, name: ".deleted-x" }] })],
    ["a name twice", json({ ...valid, topics: [topic, topic] })],
    ["no name", json({ ...valid, topics: [{ ...topic, name: 5 }] })],
    ["a negative offset", json({ ...valid, topics: [{ ...topic, nextOffset: -1 }] })],
    ["a fractional offset", json({ ...valid, topics: [{ ...topic, nextOffset: 1.5 }] })],
    ["a string index", json({ ...valid, topics: [{ ...topic, createdIndex: "7" }] })],
    ["no config", json({ ...valid, topics: [{ ...topic, config: null }] })],
    [
      "a tiny segment",
      json({ ...valid, topics: [{ ...topic, config: { ...config, segmentBytes: 10 } }] }),
    ],
    ["no address", json({ ...valid, servers: [{ id: "n1" }] })],
    ["a numeric id", json({ ...valid, servers: [{ id: 1, address: "h:1" }] })],
  ];
  for (const [label, data] of cases) {
    assert.throws(
      () => decodeSnapshotState(data),
      (error: unknown) =>
        error instanceof TidelogError &&
        error.code === "invalid_argument" &&
        error.message.startsWith("snapshot data: "),
      label,
    );
  }
});

test("a server whose address is not host:port is left out, never dialled", () => {
  const state = decodeSnapshotState(
    json({
      ...valid,
      servers: [
        { id: "bad", address: "not an address" },
        { id: "zero", address: "h:0" },
        { id: "", address: "h:1" },
        { id: "n1", address: "node-1.example.com.:8081" },
      ],
    }),
  );
  assert.deepEqual(state.servers, [{ id: "n1", address: "node-1.example.com.:8081" }]);
});

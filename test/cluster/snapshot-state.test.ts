// Snapshot data arrives from peers: decodeSnapshotState checks all of it before any of it is used
// (a topic name is a directory emptied and rebuilt, an address is dialled).
import assert from "node:assert/strict";
import { test } from "node:test";
import { MemberRemovals, removalsKept } from "../../src/cluster/member-removals.js";
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
  removed: [
    { id: "n4", index: 90 },
    { id: "n3", index: 120 },
  ],
};

const json = (value: unknown) => Buffer.from(JSON.stringify(value), "utf8");

test("what encodeSnapshotState writes decodes as it was, and empty data is the empty state", () => {
  assert.deepEqual(decodeSnapshotState(encodeSnapshotState(valid)), valid);
  assert.deepEqual(decodeSnapshotState(new Uint8Array()), {
    topics: [],
    servers: [],
    removed: [],
  });
});

test("removals not well formed are left out; older snapshots have none; a long list keeps its newest", () => {
  const { removed: _, ...older } = valid;
  assert.deepEqual(decodeSnapshotState(json(older)).removed, []);
  assert.deepEqual(decodeSnapshotState(json({ ...valid, removed: "n3" })).removed, []);
  const mixed = [
    { id: "n5", index: 0 },
    { id: "../x", index: 3 },
    { id: "n6", index: -1 },
    { id: "n7", index: 1.5 },
    { index: 4 },
    "n8",
    { id: "n9", index: 77 },
  ];
  assert.deepEqual(decodeSnapshotState(json({ ...valid, removed: mixed })).removed, [
    { id: "n9", index: 77 },
  ]);
  const many = Array.from({ length: removalsKept + 5 }, (_, i) => ({ id: `m${i}`, index: i + 1 }));
  const kept = decodeSnapshotState(json({ ...valid, removed: many })).removed!;
  assert.equal(kept.length, removalsKept);
  assert.deepEqual(kept[0], { id: "m5", index: 6 });
});

test("member removals: an addition undoes a removal, the list keeps the order they were made", () => {
  const removals = new MemberRemovals();
  removals.apply({ type: "removeNode", nodeId: "n3" }, 10);
  removals.apply({ type: "removeNode", nodeId: "n4" }, 12);
  removals.apply({ type: "addLearner", nodeId: "n3" }, 15);
  assert.equal(removals.indexOf("n3"), undefined);
  assert.equal(removals.indexOf("n4"), 12);
  removals.apply({ type: "removeNode", nodeId: "n3" }, 20);
  assert.deepEqual(removals.list(), [
    { id: "n4", index: 12 },
    { id: "n3", index: 20 },
  ]);
  const restored = new MemberRemovals();
  restored.apply({ type: "removeNode", nodeId: "n9" }, 5);
  restored.replace(removals.list());
  assert.deepEqual(restored.list(), removals.list());
  assert.equal(restored.indexOf("n9"), undefined);
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

// UpdateTopic with an update_mask changes only the fields it names, also when other updates are in
// flight. An outside probe sent three masked updates of three different fields at once, through
// three nodes, 40 times: every call answered 200, and the configuration never kept all three (the
// leader merged each mask into the configuration as the request found it, and proposed the
// whole result, so the last to commit undid the others). The mask now travels in the Raft entry
// and is applied to the configuration as it is when the entry applies.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { durationFromMs, FieldMaskSchema } from "@bufbuild/protobuf/wkt";
import { Cluster } from "../harness/cluster.js";

let cluster: Cluster;

before(async () => {
  cluster = await Cluster.start({ size: 3 });
  const leader = await cluster.waitForLeader();
  await cluster.client(leader).topics.createTopic({ name: "tuned" }, { timeoutMs: 10_000 });
  await cluster.waitConverged(["tuned"]);
});

after(() => cluster.close());

const mask = (path: string) => create(FieldMaskSchema, { paths: [path] });

test("masked updates of different fields, in flight together through every node, all hold", async () => {
  const rounds = 10;
  for (let round = 1; round <= rounds; round++) {
    const [a, b, c] = cluster.ids.map((id) => cluster.client(id).topics);
    const retentionBytes = BigInt(1_000_000 + round);
    const retentionMs = 3_600_000 + round * 1000;
    const segmentBytes = BigInt((2 + round) * 1024 * 1024);
    await Promise.all([
      a!.updateTopic(
        { name: "tuned", config: { retentionBytes }, updateMask: mask("retention_bytes") },
        { timeoutMs: 10_000 },
      ),
      b!.updateTopic(
        {
          name: "tuned",
          config: { retention: durationFromMs(retentionMs) },
          updateMask: mask("retention"),
        },
        { timeoutMs: 10_000 },
      ),
      c!.updateTopic(
        { name: "tuned", config: { segmentBytes }, updateMask: mask("segment_bytes") },
        { timeoutMs: 10_000 },
      ),
    ]);
    const leader = await cluster.waitForLeader();
    const { topic } = await cluster.client(leader).topics.getTopic({ name: "tuned" });
    assert.equal(topic?.config?.retentionBytes, retentionBytes, `round ${round}`);
    assert.equal(topic?.config?.retention?.seconds, BigInt(retentionMs / 1000), `round ${round}`);
    assert.equal(topic?.config?.segmentBytes, segmentBytes, `round ${round}`);
  }
});

test("an update without a mask replaces the whole configuration", async () => {
  const leader = await cluster.waitForLeader();
  const { topic } = await cluster
    .client(leader)
    .topics.updateTopic({ name: "tuned", config: { retentionBytes: 5n } }, { timeoutMs: 10_000 });
  assert.equal(topic?.config?.retentionBytes, 5n);
  assert.equal(topic?.config?.retention, undefined);
  assert.equal(topic?.config?.segmentBytes, 0n);
});

// A node joins a cluster whose leader is not the node that bootstrapped it. Until a node takes a
// snapshot of its own (every 50,000 entries by default), the snapshot it sends a joiner is the
// cluster's first, which lists the bootstrap node alone: the joiner must fetch the topics from
// the sender at the address the sender gives, not look it up there. Every such Join once stalled
// with the joiner a learner for good ("snapshot from n2, whose address it does not list").
import assert from "node:assert/strict";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { ProduceRequestSchema } from "../../src/gen/tidelog/v1/log_service_pb.js";
import { RecordSchema } from "../../src/gen/tidelog/v1/record_pb.js";
import { Cluster } from "../harness/cluster.js";

const topic = "later";

test("a node joins through a leader that did not bootstrap the cluster", async () => {
  await Cluster.run({ size: 3 }, async (cluster) => {
    let leader = await cluster.waitForLeader();
    const target = cluster.ids.find((id) => id !== "n1" && id !== leader)!;
    if (leader === "n1") {
      await cluster
        .client(leader)
        .cluster.transferLeadership({ targetId: target }, { timeoutMs: 15_000 });
      leader = await cluster.waitForLeader({ excluding: ["n1"] });
    }
    assert.notEqual(leader, "n1");
    const values = Array.from({ length: 50 }, (_, i) => `v${i}`);
    for (const value of values) {
      await cluster.client(leader).log.produce(
        create(ProduceRequestSchema, {
          topic,
          records: [create(RecordSchema, { value: Buffer.from(value) })],
        }),
        { timeoutMs: 10_000 },
      );
    }
    await cluster.addNode("n4", { through: leader });
    await cluster.waitCaughtUp("n4", topic, values.length, 30_000);
    assert.deepEqual(await cluster.readLog("n4", topic), values);
  });
});

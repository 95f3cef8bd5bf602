// A wiped node rejoins through a leader that holds a damaged record in a sealed topic segment.
// The leader sends the snapshot but cannot serve that topic's records: it answers data_loss,
// naming topic and offset, and never sends the damaged record. The joiner fetches the topic from
// the other member, whose copy is intact, and finishes joining with the same records. The leader
// logs the damage once per interval, not a stack per retry, and still answers data_loss for
// reads of that record.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { Cluster, waitUntil } from "../harness/cluster.js";
import { damageSealedRecord } from "../harness/damaged-record.js";
import { produceInOrder } from "../harness/produce-in-order.js";

const topic = "fragile";
const args = ["--snapshot-entries", "50", "--segment-bytes", String(64 * 1024)];

test("a joiner fetches from an intact member when the snapshot's sender holds a damaged record", async () => {
  await Cluster.run({ size: 3, args }, async (cluster) => {
    const acked: string[] = [];
    const produce = async (via: string, requests: number, records: number, tag: string) => {
      for (let request = 0; request < requests; request++) {
        const values = Array.from({ length: records }, (_, i) =>
          `${tag}-${request}-${i}-`.padEnd(200, "v"),
        );
        await produceInOrder(cluster, via, topic, values, acked);
      }
    };
    const converged = (timeoutMs = 30_000) =>
      cluster.waitConverged([topic], { minimum: new Map([[topic, acked.length]]), timeoutMs });

    const intact = await cluster.waitForLeader();
    // 100 entries: the nodes' own checkpoints cover the oldest segment, so a restart does not
    // rewrite it by replaying the Raft log.
    await produce(intact, 100, 20, "a");
    const [damagedNode, joiner] = cluster.ids.filter((id) => id !== intact) as [string, string];
    await converged();
    await cluster.terminate(damagedNode);
    const damaged = await damageSealedRecord(
      cluster.member(damagedNode).dataDirectory,
      topic,
      (count) => Math.floor(count / 2),
    );
    await cluster.restart(damagedNode);
    await produce(intact, 10, 20, "b");
    await converged();

    // The damaged node leads, and takes snapshots of its own (every 50 entries).
    for (let attempt = 0; attempt < 3; attempt++) {
      const leader = await cluster.waitForLeader();
      if (leader === damagedNode) break;
      await cluster
        .client(leader)
        .cluster.transferLeadership({ targetId: damagedNode }, { timeoutMs: 15_000 })
        .catch(() => undefined);
    }
    assert.equal(await cluster.waitForLeader(), damagedNode);
    await produce(damagedNode, 60, 5, "c");

    // The joiner: wiped, removed, and joined again through the damaged leader.
    await cluster.terminate(joiner);
    await cluster.wipe(joiner);
    await cluster.client(damagedNode).cluster.leave({ id: joiner }, { timeoutMs: 10_000 });
    await produce(damagedNode, 5, 5, "d");
    await cluster.restart(joiner, ["--join", cluster.member(damagedNode).address]);
    await waitUntil(
      async () => (await cluster.membership(damagedNode)).includes(joiner),
      () => `${joiner} is no voter: ${cluster.logs()}`,
      30_000,
      200,
    );
    await produce(damagedNode, 5, 5, "e");
    await converged(60_000);

    const joined = cluster.member(joiner).process!;
    assert.ok(
      joined.stdout.some((line) => line.includes('"snapshot prepared"')),
      `${joiner} installed no snapshot`,
    );
    assert.match(
      joined.stderr,
      new RegExp(
        `snapshot fetch of topic ${topic} from ${damagedNode} failed; fetching it from ${intact}`,
      ),
    );
    assert.match(joined.stderr, new RegExp(`record ${damaged.offset} is damaged on this node`));
    const leaderLog = cluster.member(damagedNode).process!.stderr.split("\n");
    const warnings = leaderLog.filter((line) =>
      line.includes("a snapshot fetch reached a damaged"),
    );
    assert.ok(warnings.length >= 1 && warnings.length <= 3, warnings.join("\n"));
    const errors = leaderLog.filter((line) => line.includes('"level":"error"'));
    assert.deepEqual(errors, [], "errors logged by the damaged leader");

    // The joiner and the intact member hold every acknowledged record, byte for byte.
    for (const id of [joiner, intact]) {
      const held = await cluster.readLog(id, topic);
      assert.equal(held.length, acked.length, `${id}: ${held.length} records`);
      const differing = held.findIndex((value, offset) => value !== acked[offset]);
      assert.equal(differing, -1, `${id}: record ${differing} differs`);
    }
    // The damaged node never serves the damaged record: data_loss for a read that covers it.
    const read = await cluster
      .client(damagedNode)
      .log.consume({ topic, offset: BigInt(damaged.offset), maxRecords: 1 }, { timeoutMs: 10_000 })
      .then(
        () => undefined,
        (error: unknown) => ConnectError.from(error).code,
      );
    assert.equal(read, Code.DataLoss);
    console.log(
      `[damaged sender] ${joiner} joined through ${damagedNode} (record ${damaged.offset} damaged) and fetched from ${intact}; ${acked.length} records identical`,
    );
  });
});

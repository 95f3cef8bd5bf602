// A node that joins a cluster serves its port before it has the cluster's state (the leader's
// Raft messages come in through it). Until it has applied its promotion to voter, which the
// leader proposes only once its log holds everything the leader had applied, it must not answer
// from the state it does not have yet: no "not found" for a topic that exists, no empty topic or
// server list, no /readyz 200. It answers unavailable with the reason instead; then the right
// answers. Polled from the moment its port opens, while the snapshot of a few tens of MB installs.
import assert from "node:assert/strict";
import net from "node:net";
import { test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { Cluster } from "../harness/cluster.js";
import { eventually } from "../harness/in-process-node.js";
import { NodeProcess } from "../harness/node-process.js";

const bigTopic = "bulk";
const smallTopic = "small";
const batches = 60;
const batchRecords = 200;
const valueBytes = 2_000;
const pollMsMax = 90_000;

test("a joining node answers unavailable until it holds the cluster's state, never not_found", async () => {
  await Cluster.run({ size: 3, args: ["--snapshot-entries", "20"] }, async (cluster) => {
    const leader = await cluster.waitForLeader();
    const { log } = cluster.client(leader);
    await log.produce({ topic: smallTopic, records: [{ value: Buffer.from("first") }] });
    const value = Buffer.alloc(valueBytes, "j");
    const records = Array.from({ length: batchRecords }, () => ({ value }));
    for (let i = 0; i < batches; i++) await log.produce({ topic: bigTopic, records });
    const bigNext = batches * batchRecords;

    const joining = cluster.addNode("n4").then(
      () => undefined,
      (error: unknown) => error,
    );
    const answers = new Map<string, number>();
    const count = (key: string) => answers.set(key, (answers.get(key) ?? 0) + 1);
    const readiness: string[] = [];
    const started = Date.now();
    let served = false;
    while (!served && Date.now() - started < pollMsMax) {
      if (!cluster.members.some((member) => member.id === "n4")) {
        // Its port is not picked yet.
        await new Promise((resolve) => setTimeout(resolve, 10));
        continue;
      }
      const address = cluster.member("n4").address;
      const ready = await fetch(`http://${address}/readyz`).then(
        async (response) => ({
          status: response.status,
          reason: ((await response.json()) as { reason?: string }).reason ?? "",
        }),
        () => undefined,
      );
      if (ready !== undefined && readiness.at(-1) !== `${ready.status} ${ready.reason}`)
        readiness.push(`${ready.status} ${ready.reason}`);
      try {
        const { topics, cluster: members } = cluster.client("n4");
        const { topic } = await topics.getTopic({ name: bigTopic }, { timeoutMs: 3_000 });
        assert.ok(
          Number(topic?.nextOffset ?? 0) >= bigNext,
          `GetTopic said next ${topic?.nextOffset} < ${bigNext}`,
        );
        const listed = (await topics.listTopics({}, { timeoutMs: 3_000 })).topics.map(
          (info) => info.name,
        );
        assert.deepEqual(listed.sort(), [bigTopic, smallTopic], "ListTopics");
        const small = await cluster
          .client("n4")
          .log.consume({ topic: smallTopic, offset: 0n }, { timeoutMs: 3_000 });
        assert.equal(Buffer.from(small.records[0]!.value).toString(), "first");
        const { servers } = await members.getServers({}, { timeoutMs: 3_000 });
        assert.ok(
          servers.some((server) => server.id === "n4"),
          `GetServers: ${servers.map((server) => server.id)}`,
        );
        count("served");
        served = true;
      } catch (error) {
        if (error instanceof assert.AssertionError) throw error;
        const connectError = ConnectError.from(error);
        assert.equal(
          connectError.code,
          Code.Unavailable,
          `while joining: ${Code[connectError.code]} ${connectError.rawMessage}`,
        );
        // Before the port opens: connection refused.
        count(
          /joining the cluster: it has not yet received the cluster's state/.test(
            connectError.rawMessage,
          )
            ? "joining"
            : /starting/.test(connectError.rawMessage)
              ? "starting"
              : "not listening",
        );
        assert.ok(
          ready?.status !== 200,
          `/readyz said 200 while calls answered ${connectError.rawMessage}`,
        );
      }
    }
    const joinError = await joining;
    assert.equal(joinError, undefined, `n4 did not join: ${String(joinError)}`);
    assert.ok(served, `n4 not serving ${pollMsMax} ms after it started: ${[...answers]}`);
    assert.ok((answers.get("joining") ?? 0) > 0, `never saw the joining refusal: ${[...answers]}`);
    const final = await fetch(`http://${cluster.member("n4").address}/readyz`);
    assert.equal(final.status, 200);
    assert.ok(
      readiness.some((line) => /^503 this node is joining the cluster/.test(line)),
      `/readyz never said joining: ${readiness.join(" | ")}`,
    );
    console.log(
      `[joining node] answers until served in ${Date.now() - started} ms: ${[...answers].map(([key, n]) => `${key}×${n}`).join(", ")}; /readyz: ${readiness.join(" → ")}`,
    );
  });
});

test("a node whose join has not reached its cluster takes no Raft message, with or without an id", async () => {
  // The join target is a port nobody listens on: the node serves its port (the leader's Raft
  // messages come in through it) and keeps trying to join; it never prints "serving".
  const freePort = () =>
    new Promise<number>((resolve) => {
      const server = net.createServer().listen(0, "127.0.0.1", () => {
        const { port } = server.address() as net.AddressInfo;
        server.close(() => resolve(port));
      });
    });
  const [closed, own] = [await freePort(), await freePort()];
  const { node, serving } = await NodeProcess.launch({
    id: "j1",
    listen: `127.0.0.1:${own}`,
    args: ["--join", `127.0.0.1:${closed}`, "--cluster-id", "the-real-id"],
  });
  serving.catch(() => undefined); // it never joins
  const baseUrl = `http://127.0.0.1:${own}`;
  try {
    await eventually(
      () =>
        fetch(`${baseUrl}/healthz`).then(
          (response) => response.ok,
          () => false,
        ),
      "the joining node's port did not open",
      15_000,
    );
    const snapshotData = Buffer.from(JSON.stringify({ topics: [], servers: [] })).toString(
      "base64",
    );
    for (const clusterId of ["", "the-real-id"]) {
      const response = await fetch(`${baseUrl}/tidelog.raft.v1.RaftService/Step`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          clusterId,
          messages: [
            {
              type: "MESSAGE_TYPE_SNAPSHOT",
              from: "evil",
              to: "j1",
              term: "5",
              snapshot: {
                metadata: { index: "100000", term: "5", confState: { voters: ["evil", "j1"] } },
                data: snapshotData,
              },
            },
          ],
        }),
        signal: AbortSignal.timeout(10_000),
      });
      const json = (await response.json()) as { code?: string; message?: string };
      assert.equal(
        response.status,
        503,
        `cluster id ${JSON.stringify(clusterId)}: ${JSON.stringify(json)}`,
      );
      assert.match(json.message ?? "", /has not joined a cluster yet/);
    }
    assert.ok(
      !node.stdout.some((line) => line.includes("snapshot prepared")),
      node.stdout.join("\n"),
    );
  } finally {
    await node.destroy();
  }
});

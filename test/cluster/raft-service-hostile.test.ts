// Input from a stranger on the port that no check stopped before: a Join whose address is not
// host:port (it stopped every leader that tried to dial it), an append carrying an entry that is
// not a command (once committed, it stopped every replica at every restart), and a snapshot
// whose topic names a directory outside the data directory (emptied before anything was
// checked). Each is refused with invalid_argument, and the node goes on serving.
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { after, before, describe, test } from "node:test";
import { type InProcessNode, startInProcessNode } from "../harness/in-process-node.js";

async function post(
  node: InProcessNode,
  method: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${node.baseUrl}/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

async function produceOne(node: InProcessNode, topic: string): Promise<string> {
  const { status, json } = await post(node, "tidelog.v1.LogService/Produce", {
    topic,
    records: [{ value: Buffer.from("still here").toString("base64") }],
  });
  assert.equal(status, 200, JSON.stringify(json));
  return (json.offsets as string[])[0]!;
}

describe("RaftService and Join refuse what a stranger sends", () => {
  let node: InProcessNode;
  let clusterId: string;
  let self: { id: string; term: number; last: number };
  let outside: string;

  before(async () => {
    node = await startInProcessNode();
    outside = await mkdtemp(join(tmpdir(), "tidelog-victim-"));
    await writeFile(join(outside, "precious"), "keep me");
    await produceOne(node, "golden");
    const { json } = await post(node, "tidelog.v1.ClusterService/GetServers", {});
    // The members' credential: never told to clients, read where an operator reads it.
    assert.equal(json.clusterId ?? "", "", "GetServers keeps the cluster's id to itself");
    clusterId = (await readFile(join(node.dataDirectory, "cluster-id"), "utf8")).trim();
    const server = (json.servers as Record<string, string>[])[0]!;
    self = { id: server.id!, term: Number(server.term), last: Number(server.matchIndex) };
  });

  after(async () => {
    await node?.close();
    await rm(outside, { recursive: true, force: true });
  });

  test("a Join whose address is not host:port is invalid_argument, and the leader stays", async () => {
    for (const address of ["not an address", "a b:1", "host:99999", ":", "h:"]) {
      const { status, json } = await post(
        node,
        "tidelog.v1.ClusterService/Join",
        { id: "x", address },
        { "tidelog-cluster-id": clusterId },
      );
      assert.equal(status, 400, `${address}: ${JSON.stringify(json)}`);
      assert.equal(json.code, "invalid_argument");
      assert.match(json.message as string, /host:port/);
    }
    // The crash came from the Raft loop a moment after the answer.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const { json } = await post(node, "tidelog.v1.ClusterService/GetServers", {});
    assert.deepEqual(
      (json.servers as Record<string, unknown>[]).map((server) => server.id),
      [self.id],
    );
    await produceOne(node, "golden");
  });

  test("a Join whose id is not a plain word is invalid_argument, and nobody joins", async () => {
    for (const id of ["a b", "../x", "n\u00e9", "x".repeat(128) + "\n"]) {
      const { status, json } = await post(
        node,
        "tidelog.v1.ClusterService/Join",
        { id, address: "127.0.0.1:9" },
        { "tidelog-cluster-id": clusterId },
      );
      assert.equal(status, 400, `${JSON.stringify(id)}: ${JSON.stringify(json)}`);
      assert.equal(json.code, "invalid_argument");
    }
    const { json } = await post(node, "tidelog.v1.ClusterService/GetServers", {});
    assert.deepEqual(
      (json.servers as Record<string, unknown>[]).map((server) => server.id),
      [self.id],
    );
  });

  test("membership changes without the cluster's id are permission_denied", async () => {
    for (const [method, body] of [
      ["Join", { id: "x", address: "127.0.0.1:9" }],
      ["Leave", { id: self.id }],
      ["TransferLeadership", { targetId: "x" }],
    ] as const) {
      const credentials: Record<string, string>[] = [{}, { "tidelog-cluster-id": `${clusterId}x` }];
      for (const headers of credentials) {
        const { status, json } = await post(
          node,
          `tidelog.v1.ClusterService/${method}`,
          body,
          headers,
        );
        assert.equal(status, 403, `${method}: ${JSON.stringify(json)}`);
        assert.equal(json.code, "permission_denied");
        assert.match(json.message as string, /tidelog-cluster-id header/);
      }
    }
    await produceOne(node, "golden");
  });

  test("a Leave of the only voter is failed_precondition, and it stays", async () => {
    const { status, json } = await post(
      node,
      "tidelog.v1.ClusterService/Leave",
      { id: self.id },
      { "tidelog-cluster-id": clusterId },
    );
    assert.equal(status, 400, JSON.stringify(json));
    assert.equal(json.code, "failed_precondition");
    assert.match(json.message as string, /only voter/);
    await produceOne(node, "golden");
  });

  test("a Step without the cluster's id is refused before it is decoded, and says nothing of the id", async () => {
    // 400,000 empty messages after a wrong id (0.8 MB): decoded, they held the node's loop for
    // seconds before the id was looked at (8 MB: 21 s).
    const empties = Buffer.alloc(2 * 400_000);
    for (let i = 0; i < empties.length; i += 2) empties[i] = 0x12;
    for (const id of ["stranger", ""]) {
      const idField = Buffer.concat([Buffer.from([0x0a, id.length]), Buffer.from(id)]);
      const response = await fetch(`${node.baseUrl}/tidelog.raft.v1.RaftService/Step`, {
        method: "POST",
        headers: { "content-type": "application/proto" },
        body: Buffer.concat([id === "" ? Buffer.alloc(0) : idField, empties]),
        signal: AbortSignal.timeout(10_000),
      });
      const json = (await response.json()) as { code: string; message: string };
      assert.equal(response.status, 400, JSON.stringify(json));
      assert.equal(json.code, "failed_precondition");
      assert.ok(!json.message.includes(clusterId), `the answer tells the id: ${json.message}`);
    }
    // As JSON, as members never send it: bounded as any other request.
    const { status, json } = await post(node, "tidelog.raft.v1.RaftService/Step", {
      clusterId: "stranger",
      messages: Array.from({ length: 5_000 }, () => ({})),
    });
    assert.equal(status, 429, JSON.stringify(json));
    assert.equal(json.code, "resource_exhausted");
    const wrong = await post(node, "tidelog.raft.v1.RaftService/Step", { clusterId: "stranger" });
    assert.equal(wrong.json.code, "failed_precondition");
    assert.ok(!String(wrong.json.message).includes(clusterId), String(wrong.json.message));
    await produceOne(node, "golden");
  });

  test("an append with an entry that is not a command is refused before the log", async () => {
    const entry = (data: Buffer) => ({
      index: String(self.last + 1),
      term: String(self.term + 5),
      type: "ENTRY_TYPE_NORMAL",
      data: data.toString("base64"),
    });
    for (const data of [
      Buffer.from("ff00ff00", "hex"),
      Buffer.from([2, ...Buffer.from("{not json")]),
      Buffer.from([2, ...Buffer.from('{"op":"registerServer","id":"x","address":"no"}')]),
    ]) {
      const { status, json } = await post(node, "tidelog.raft.v1.RaftService/Step", {
        clusterId,
        messages: [
          {
            type: "MESSAGE_TYPE_APPEND",
            from: "stranger",
            to: self.id,
            term: String(self.term + 5),
            prevLogIndex: String(self.last),
            prevLogTerm: String(self.term),
            commit: String(self.last + 1),
            entries: [entry(data)],
          },
        ],
      });
      assert.equal(status, 400, JSON.stringify(json));
      assert.equal(json.code, "invalid_argument");
      assert.match(json.message as string, /is not a command/);
    }
    await produceOne(node, "golden");
  });

  test("a snapshot naming a topic outside the data directory deletes nothing", async () => {
    const name = relative(join(node.dataDirectory, "topics.staging"), outside);
    assert.match(name, /^\.\.\//);
    const state = {
      topics: [
        { name, nextOffset: 0, config: { retentionBytes: 0, retentionMs: 0, segmentBytes: 0 } },
      ],
      servers: [{ id: "stranger", address: "127.0.0.1:1" }],
    };
    const { status, json } = await post(node, "tidelog.raft.v1.RaftService/Step", {
      clusterId,
      messages: [
        {
          type: "MESSAGE_TYPE_SNAPSHOT",
          from: "stranger",
          to: self.id,
          term: "1",
          snapshot: {
            metadata: { index: "999", term: "1", confState: { voters: ["stranger"] } },
            data: Buffer.from(JSON.stringify(state)).toString("base64"),
          },
        },
      ],
    });
    assert.equal(status, 400, JSON.stringify(json));
    assert.equal(json.code, "invalid_argument");
    assert.match(json.message as string, /snapshot data: topic 0/);
    assert.deepEqual(await readdir(outside), ["precious"]);
    await mkdir(outside, { recursive: true });
    const { json: consumed } = await post(node, "tidelog.v1.LogService/Consume", {
      topic: "golden",
      offset: "0",
    });
    assert.equal((consumed.records as unknown[]).length >= 2, true);
  });
});

// Unary Consume answers count against --consume-held-bytes-max until they are written out, as
// ConsumeStream answers do. An outside probe's 10 HTTP/1.1 connections, each pipelining 50
// Consumes of ~6.7 MB of JSON and reading none, pinned 2.9 GB (Node queues pipelined answers
// behind the first), still held after the clients left. Past the budget, answers shrink.
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, test } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { squeezedAnswerBytes } from "../../src/api/answer-budget.js";
import { LogService } from "../../src/gen/tidelog/v1/log_service_pb.js";
import {
  eventually,
  type InProcessNode,
  produceJsonRecords,
  startInProcessNode,
} from "../harness/in-process-node.js";

const MiB = 1024 * 1024;
const heldMax = 4 * MiB;
const answerBytesMax = 1 * MiB;
const topic = "unary";
const recordBytes = 1024;
const records = 2048;
const connections = 4;
const pipelined = 20;

let server: InProcessNode;

function produce(count: number, value: string): Promise<void> {
  return produceJsonRecords(server, topic, count, value);
}

before(async () => {
  server = await startInProcessNode({
    limits: { consumeHeldBytesMax: heldMax, consumeBytesMax: answerBytesMax },
  });
  const value = Buffer.alloc(recordBytes, 0x61).toString("base64");
  for (let sent = 0; sent < records; sent += 256) await produce(256, value);
});

after(async () => {
  await server?.close();
});

test("answers to clients that read nothing are held within the budget, and come back", async () => {
  const answers = server.node.app.answers;
  const [host, port] = server.address.split(":");
  const body = JSON.stringify({ topic, offset: "0" });
  const request =
    `POST /tidelog.v1.LogService/Consume HTTP/1.1\r\nhost: ${host}\r\n` +
    `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  const sockets = Array.from({ length: connections }, () => {
    const socket = net.connect(Number(port), host);
    socket.on("error", () => undefined);
    socket.pause(); // reads nothing
    socket.write(request.repeat(pipelined));
    return socket;
  });
  try {
    // Node answers pipelined requests in turn: the first answer of each connection waits for a
    // reader, and the others are built and queued behind it.
    await eventually(() => answers.held >= heldMax, `held ${answers.held} bytes`);
    await new Promise((resolve) => setTimeout(resolve, 500));
    // Two copies (Connect's and ours) of a squeezed answer and one more record, per request.
    const bound = heldMax + connections * pipelined * 2 * (squeezedAnswerBytes + 2 * recordBytes);
    assert.ok(answers.held <= bound, `held ${answers.held} bytes, bound ${bound}`);
    // Another client is served meanwhile (a squeezed answer, at least one record).
    const served = await fetch(`${server.baseUrl}/tidelog.v1.LogService/Consume`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
      signal: AbortSignal.timeout(10_000),
    });
    assert.equal(served.status, 200);
    assert.ok(((await served.json()) as { records: unknown[] }).records.length >= 1);
  } finally {
    for (const socket of sockets) socket.destroy();
  }
  await eventually(() => answers.held === 0, `held ${answers.held} bytes after the clients left`);
});

test("answers that are read give their room back, over HTTP/1.1 and HTTP/2", async () => {
  const answers = server.node.app.answers;
  for (let i = 0; i < 5; i++) {
    const response = await fetch(`${server.baseUrl}/tidelog.v1.LogService/Consume`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ topic, offset: String(i * 100) }),
      signal: AbortSignal.timeout(10_000),
    });
    assert.equal(response.status, 200);
    await response.arrayBuffer();
  }
  const client = createClient(LogService, createGrpcTransport({ baseUrl: server.baseUrl }));
  for (let i = 0; i < 5; i++) {
    const answer = await client.consume({ topic, offset: BigInt(i * 100) }, { timeoutMs: 10_000 });
    assert.ok(answer.records.length > 0);
  }
  await eventually(() => answers.held === 0, `held ${answers.held} bytes after answers were read`);
});

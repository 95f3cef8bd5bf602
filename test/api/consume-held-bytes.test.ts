// Readers that never open their HTTP/2 receive window: each ConsumeStream holds the answer it
// could not send. Past --consume-held-bytes-max for all streams together, answers shrink to
// 16 KiB, so such readers cost little more than their count; a reader that reads is still served,
// and the bytes come back when the stalled clients leave. (A probe held 3.8 GB with 1,000 of them.)
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { squeezedAnswerBytes } from "../../src/api/answer-budget.js";
import { LogService } from "../../src/gen/tidelog/v1/log_service_pb.js";
import { eventually, type InProcessNode, startInProcessNode } from "../harness/in-process-node.js";
import { openStalledConsumeStream } from "../harness/raw-grpc.js";

const MiB = 1024 * 1024;
const heldMax = 2 * MiB;
const topic = "held";
const records = 4096;
const recordBytes = 1024;
const stalledStreams = 12;

let server: InProcessNode;

before(async () => {
  server = await startInProcessNode({ limits: { consumeHeldBytesMax: heldMax } });
  const value = Buffer.alloc(recordBytes, 0x61).toString("base64");
  for (let sent = 0; sent < records; sent += 256) {
    const response = await fetch(`${server.baseUrl}/tidelog.v1.LogService/Produce`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ topic, records: Array.from({ length: 256 }, () => ({ value })) }),
      signal: AbortSignal.timeout(10_000),
    });
    assert.equal(response.status, 200);
  }
});

after(async () => {
  await server?.close();
});

test("stalled readers hold at most the budget and a squeezed answer each", async () => {
  const answers = server.node.app.answers;
  const sessions = Array.from({ length: stalledStreams }, (_, i) =>
    openStalledConsumeStream(
      server.baseUrl,
      topic,
      i % 3 === 0 ? "application/connect+proto" : "application/grpc",
      0,
    ),
  );
  try {
    // Every stalled stream has read its first answer and holds it.
    await eventually(() => server.node.app.streams.active === stalledStreams, "streams open");
    await new Promise((resolve) => setTimeout(resolve, 500));
    const bound = heldMax + stalledStreams * (squeezedAnswerBytes + 2 * recordBytes);
    assert.ok(answers.held > 0, "the stalled streams hold nothing?");
    assert.ok(answers.held <= bound, `held ${answers.held} bytes, bound ${bound}`);

    // A reader that reads gets the whole topic meanwhile.
    const client = createClient(LogService, createGrpcTransport({ baseUrl: server.baseUrl }));
    const controller = new AbortController();
    let next = 0;
    try {
      for await (const response of client.consumeStream(
        { topic },
        { signal: controller.signal, timeoutMs: 20_000 },
      )) {
        next = Number(response.nextOffset);
        if (next >= records) break;
      }
    } finally {
      controller.abort();
    }
    assert.equal(next, records);
  } finally {
    for (const { session } of sessions) session.destroy();
  }
  await eventually(() => answers.held === 0, `held ${answers.held} bytes after the clients left`);
});

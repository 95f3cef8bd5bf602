// Many ConsumeStreams that start in the same turn and never open their receive window: each
// reserves its answer's room in the budget before it reads, so together they hold at most
// --consume-held-bytes-max and a squeezed answer each. Counted only once read, every one of them
// took a whole answer (a probe held 3.2 GB against the default 256 MiB, and its leader lost its
// leadership). Another client's produce is served meanwhile, and the bytes come back when the
// clients leave.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { squeezedAnswerBytes } from "../../src/api/answer-budget.js";
import {
  eventually,
  type InProcessNode,
  produceJsonRecords,
  startInProcessNode,
} from "../harness/in-process-node.js";
import { openZeroWindowConsumeStreams } from "../harness/raw-grpc.js";

const MiB = 1024 * 1024;
const heldMax = 4 * MiB;
const answerBytesMax = 1 * MiB;
const topic = "burst";
const records = 3072;
const recordBytes = 1024;
const connections = 2;
const streamsPerConnection = 40;
const streams = connections * streamsPerConnection;

let server: InProcessNode;

function produce(count: number, value: string): Promise<void> {
  return produceJsonRecords(server, topic, count, value);
}

before(async () => {
  server = await startInProcessNode({
    limits: { consumeHeldBytesMax: heldMax, consumeBytesMax: answerBytesMax },
  });
  const value = Buffer.alloc(recordBytes, 0x62).toString("base64");
  for (let sent = 0; sent < records; sent += 256) await produce(256, value);
});

after(async () => {
  await server?.close();
});

test("streams opened in one turn share the held-bytes budget", async () => {
  const answers = server.node.app.answers;
  const port = Number(server.address.split(":")[1]);
  const sockets = Array.from({ length: connections }, () =>
    openZeroWindowConsumeStreams(port, topic, streamsPerConnection),
  );
  try {
    await eventually(() => server.node.app.streams.active === streams, "streams open");
    // Every stream has read its first answer, and holds it: the client takes no byte of it.
    await new Promise((resolve) => setTimeout(resolve, 500));
    // A squeezed answer is 16 KiB of records, and then one more record (with its framing).
    const bound = heldMax + streams * (squeezedAnswerBytes + 2 * recordBytes);
    assert.ok(answers.held > 0, "the stalled streams hold nothing?");
    // Without the reservation: every stream took a whole 1 MiB answer (80 MiB).
    assert.ok(answers.held <= bound, `held ${answers.held} bytes, bound ${bound}`);
    // Another client is served meanwhile.
    await produce(1, Buffer.from("after").toString("base64"));
  } finally {
    for (const socket of sockets) socket.destroy();
  }
  await eventually(() => answers.held === 0, `held ${answers.held} bytes after the clients left`);
  await eventually(() => server.node.app.streams.active === 0, "streams closed");
});

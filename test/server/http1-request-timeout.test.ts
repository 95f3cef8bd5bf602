// HTTP/1.1 requests must arrive whole within requestTimeoutMs: a client that sends headers and
// then trickles (or never finishes) its body gets 408 and loses the connection, where it used to
// hold it for as long as it liked. Node stops that clock once the request is received, so a
// ConsumeStream over HTTP/1.1 that lasts far longer than the bound keeps streaming.
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { LogService, StartPosition } from "../../src/gen/tidelog/v1/log_service_pb.js";
import { connectClient, createWebTransport } from "../harness/clients.js";
import { eventually, type InProcessNode, startInProcessNode } from "../harness/in-process-node.js";

const requestTimeoutMs = 1_000;

/**
 * Sends `head` and only part of the body it announces, then waits (at most 10 s) for the server to
 * close; resolves with what the server sent and when it closed.
 */
function sendPartOfTheBody(address: string, head: string, part: string) {
  const [host, port] = address.split(":") as [string, string];
  return new Promise<{ answer: string; closedAfterMs: number | undefined }>((resolve) => {
    const started = Date.now();
    let answer = "";
    let closedByServer = false;
    const socket = net.connect(Number(port), host, () => socket.write(head + part));
    const giveUp = setTimeout(() => socket.destroy(), 10_000);
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => (answer += chunk));
    socket.on("end", () => {
      closedByServer = true;
      socket.destroy();
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearTimeout(giveUp);
      resolve({ answer, closedAfterMs: closedByServer ? Date.now() - started : undefined });
    });
  });
}

describe("HTTP/1.1 request timeout", () => {
  let server: InProcessNode;

  before(async () => {
    server = await startInProcessNode({
      serverOptions: { headersTimeoutMs: requestTimeoutMs, requestTimeoutMs },
    });
  });

  after(async () => {
    await server?.close();
  });

  test("a request whose body never completes gets 408 and is closed within the bound", async () => {
    // The black-box tester's slowloris-body probe: Content-Length 100, 18 bytes sent.
    const body = '{"topic":"golden"}';
    const head =
      "POST /tidelog.v1.LogService/Consume HTTP/1.1\r\nhost: x\r\n" +
      "content-type: application/json\r\ncontent-length: 100\r\n\r\n";
    const outcomes = await Promise.all(
      Array.from({ length: 5 }, () => sendPartOfTheBody(server.address, head, body)),
    );
    for (const { answer, closedAfterMs } of outcomes) {
      assert.ok(closedAfterMs !== undefined, "the server closed the connection");
      assert.match(answer, /^HTTP\/1\.1 408 /);
      // Node checks the timeouts every quarter of the bound here.
      assert.ok(closedAfterMs >= requestTimeoutMs - 100, `closed after ${closedAfterMs} ms`);
      assert.ok(closedAfterMs < requestTimeoutMs + 1_000, `closed after ${closedAfterMs} ms`);
    }
  });

  test("a ConsumeStream over HTTP/1.1 outlives the bound", async () => {
    const topic = "http1-long-stream";
    const text = (value: Uint8Array) => Buffer.from(value).toString();
    const log = connectClient(LogService, createWebTransport("connect-json", server.baseUrl));
    await log.produce({ topic, records: [{ value: Buffer.from("before") }] });
    const controller = new AbortController();
    const received: string[] = [];
    const reading = (async () => {
      try {
        const stream = log.consumeStream(
          { topic, start: StartPosition.EARLIEST },
          { signal: controller.signal },
        );
        for await (const response of stream) {
          for (const record of response.records) received.push(text(record.value));
        }
      } catch (error) {
        if (!(error instanceof ConnectError && error.code === Code.Canceled)) throw error;
      }
    })();
    try {
      await eventually(() => received.length === 1, "the backlog arrives");
      // Well past the bound (and several timeout checks), the stream still delivers.
      await new Promise((resolve) => setTimeout(resolve, 3 * requestTimeoutMs));
      await log.produce({ topic, records: [{ value: Buffer.from("after") }] });
      await eventually(() => received.length === 2, "a record produced after the bound arrives");
      assert.deepEqual(received, ["before", "after"]);
    } finally {
      controller.abort();
      await reading;
    }
  });
});

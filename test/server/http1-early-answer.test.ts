// An HTTP/1.1 request answered before its body was read whole (a gRPC-Web message over the size
// limit is refused as soon as its length prefix arrives) must not leave its keep-alive connection
// stuck. Node dumps an unread body by itself only if nothing began to read it; Connect had, so
// Node waited for a reader that never came, and the client's next request on that connection was
// never answered. Such a connection is now closed after the answer.
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, test } from "node:test";
import { type InProcessNode, startInProcessNode } from "../harness/in-process-node.js";

let server: InProcessNode;

before(async () => {
  server = await startInProcessNode({
    limits: { requestBytesMax: 64 * 1024, requestRecordsMax: 10, requestHeadersMax: 10 },
  });
});

after(async () => {
  await server?.close();
});

function post(
  agent: http.Agent,
  path: string,
  contentType: string,
  body: Buffer,
): Promise<{ status: number; body: Buffer; headers: http.IncomingHttpHeaders }> {
  const [host, port] = server.address.split(":");
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host,
        port: Number(port),
        path,
        method: "POST",
        agent,
        headers: { "content-type": contentType, "content-length": body.length },
        timeout: 10_000,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () =>
          resolve({
            status: response.statusCode ?? 0,
            body: Buffer.concat(chunks),
            headers: response.headers,
          }),
        );
        response.on("error", reject);
      },
    );
    request.on("timeout", () => request.destroy(new Error("no answer within 10 s")));
    request.on("error", reject);
    request.end(body);
  });
}

function grpcWebFrame(message: Buffer): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

test("a keep-alive connection answers its next request after an oversize gRPC-Web one", async () => {
  // One socket, reused for every request while it stays open.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    for (let round = 0; round < 5; round++) {
      const oversize = await post(
        agent,
        "/tidelog.v1.LogService/Produce",
        "application/grpc-web+proto",
        grpcWebFrame(Buffer.alloc(1024 * 1024, 1)),
      );
      assert.equal(oversize.status, 200);
      assert.match(oversize.body.toString("latin1"), /grpc-status:\s*8/);
      const next = await post(
        agent,
        "/tidelog.v1.TopicService/ListTopics",
        "application/json",
        Buffer.from("{}"),
      );
      assert.equal(next.status, 200, `round ${round}: ${next.body.toString()}`);
    }
  } finally {
    agent.destroy();
  }
});

// The forwarder's HTTP/2 sessions (connect-node's Http2SessionManager) check an idle connection
// with a PING before using it. A connection closed gracefully while that PING was in flight (a
// peer's FIN: after a partition healed, the proxy between two nodes did so) left the check
// pending for good, and every later request waited on it: an outside probe saw a follower
// forward nothing for 30 s and more after a heal, while it replicated and answered ready (S3).
// patches/@connectrpc+connect-node settles the check on close; the manager then dials again.
//
// Here the first connection is a raw HTTP/2 peer that never answers a PING and closes its end
// when one comes; later connections are a real node:http2 server.
import assert from "node:assert/strict";
import http2 from "node:http2";
import net from "node:net";
import { test } from "node:test";
import { Http2SessionManager } from "@connectrpc/connect-node";

/** An HTTP/2 frame: 24-bit length, type, flags, 31-bit stream id, payload. */
function frame(type: number, flags: number, payload = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  return Buffer.concat([header, payload]);
}

const settingsFrame = 0x4;
const pingFrame = 0x6;
const ack = 0x1;
const prefaceBytes = 24;

test("a connection closed while its idle check's PING is in flight is dialed again", async () => {
  const real = http2.createServer((_request, response) => response.end("ok"));
  let connections = 0;
  let pingsUnanswered = 0;
  const server = net.createServer((socket) => {
    connections++;
    if (connections > 1) {
      real.emit("connection", socket);
      return;
    }
    socket.write(frame(settingsFrame, 0));
    let buffered = Buffer.alloc(0);
    let prefaceSeen = false;
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (!prefaceSeen) {
        if (buffered.length < prefaceBytes) return;
        buffered = buffered.subarray(prefaceBytes);
        prefaceSeen = true;
      }
      while (buffered.length >= 9) {
        const length = buffered.readUIntBE(0, 3);
        if (buffered.length < 9 + length) return;
        const type = buffered[3]!;
        const flags = buffered[4]!;
        buffered = buffered.subarray(9 + length);
        if (type === settingsFrame && (flags & ack) === 0) socket.write(frame(settingsFrame, ack));
        if (type === pingFrame && (flags & ack) === 0) {
          pingsUnanswered++;
          socket.end(); // a graceful close, no answer to the PING
        }
      }
    });
    socket.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  // The PING timeout is long: only the close can end the check within this test's wait.
  const manager = new Http2SessionManager(`http://127.0.0.1:${port}`, {
    pingIntervalMs: 50,
    pingTimeoutMs: 60_000,
  });
  try {
    await manager.connect();
    await new Promise((resolve) => setTimeout(resolve, 150)); // idle past pingIntervalMs
    const status = await Promise.race([
      (async () => {
        const stream = await manager.request("GET", "/", {}, {});
        stream.end();
        return await new Promise<number>((resolve, reject) => {
          stream.on("response", (headers) => resolve(Number(headers[":status"])));
          stream.on("error", reject);
        });
      })(),
      new Promise<string>((resolve) => setTimeout(() => resolve("no answer within 5 s"), 5_000)),
    ]);
    assert.equal(pingsUnanswered, 1, "the idle check sent its PING to the first connection");
    assert.equal(status, 200);
    assert.equal(connections, 2);
  } finally {
    manager.abort();
    server.close();
    real.close();
  }
});

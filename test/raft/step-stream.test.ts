// The sending end of the StepStream (src/raft/driver/step-stream.ts): a frame's memory is handed
// back (to the buffer pool, in production) only once HTTP/2 is done with it. Node reports writes
// that a destroyed stream cancelled as completed, while a socket write may still hold their
// bytes; those frames must not come back.
import assert from "node:assert/strict";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { PeerConnection, StepStream } from "../../src/raft/driver/step-stream.js";

test("frames still queued when the connection is destroyed are never handed back", async () => {
  let received = 0;
  const server = http2.createServer();
  // The peer reads one chunk and then stops, as a paused or partitioned peer does.
  server.on("stream", (stream) => {
    stream.on("error", () => undefined);
    stream.on("data", (chunk: Buffer) => {
      received += chunk.length;
      stream.pause();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const connection = new PeerConnection(`127.0.0.1:${port}`, {
    pingIntervalMs: 60_000,
    pingTimeoutMs: 60_000,
  });
  try {
    let ended: Error | undefined;
    const stream = new StepStream(connection, 100, (error) => {
      ended = error;
    });
    const frameBytes = 100 * 1024;
    let handedBack = 0;
    for (let i = 0; i < 8; i++) {
      const frame = Buffer.alloc(frameBytes);
      frame.writeUInt32BE(frameBytes - 5, 1);
      assert.equal(
        stream.offer(frame, () => handedBack++),
        true,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    const handedBackBefore = handedBack;
    assert.ok(received < 8 * frameBytes, `the peer should not have read everything (${received})`);
    connection.session.destroy(new Error("no ping answer (simulated)"));
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.ok(ended !== undefined, "the stream reports its failure");
    assert.equal(handedBack, handedBackBefore, "a cancelled write handed its frame back");
    assert.ok(
      handedBack * frameBytes <= received,
      `${handedBack} frames handed back, but the peer received only ${received} bytes`,
    );
  } finally {
    connection.close();
    server.close();
  }
});

// A closed HTTP/2 session must not stay in the heap for the idle timeout (5 minutes): Node 20's
// idle timer outlives the session and holds it (session-idle-timer.ts). Under a flood of
// connections churning through the connection cap (outside probe P2), that was ~7 MB/s of heap.
import assert from "node:assert/strict";
import type { Http2Session } from "node:http2";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { defaultOnePortServerOptions, OnePortServer } from "../../src/server/one-port-server.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

test("a closed HTTP/2 session is collected before its idle timeout", async () => {
  const server = new OnePortServer((_request, response) => response.end("ok"), {
    ...defaultOnePortServerOptions,
    http2IdleTimeoutMs: 300_000,
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const sessions: WeakRef<Http2Session>[] = [];
  const onSession = (session: Http2Session) => sessions.push(new WeakRef(session));
  server.http2.on("session", onSession);
  try {
    for (let i = 0; i < 20; i++) {
      const client = http2.connect(`http://127.0.0.1:${port}`);
      client.on("error", () => undefined);
      await new Promise<void>((resolve, reject) => {
        const stream = client.request({ ":path": "/" });
        stream.resume();
        stream.on("end", resolve);
        stream.on("error", reject);
      });
      client.destroy();
    }
    server.http2.off("session", onSession);
    assert.equal(sessions.length, 20);
    let alive = sessions.length;
    for (let attempt = 0; attempt < 50 && alive > 0; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      gc();
      alive = sessions.filter((session) => session.deref() !== undefined).length;
    }
    assert.equal(alive, 0, `${alive} of 20 closed sessions are still in the heap`);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

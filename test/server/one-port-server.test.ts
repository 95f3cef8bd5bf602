// The one-port server alone: HTTP/1.1 and h2c on one port, a silent connection closed after the
// sniff timeout, and drain() closing idle HTTP/1.1 keep-alive connections at once instead of
// waiting out the grace period.
import assert from "node:assert/strict";
import http from "node:http";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import {
  connectionsMaxForFileLimit,
  defaultOnePortServerOptions,
  OnePortServer,
} from "../../src/server/one-port-server.js";

describe("OnePortServer", () => {
  let server: OnePortServer;
  let port: number;

  before(async () => {
    server = new OnePortServer(
      (request, response) => {
        response.setHeader("content-type", "text/plain");
        response.end(`hello over HTTP/${request.httpVersion}`);
      },
      {
        ...defaultOnePortServerOptions,
        sniffTimeoutMs: 300,
        headersTimeoutMs: 5_000,
        requestTimeoutMs: 5_000,
        keepAliveTimeoutMs: 60_000,
        http2StreamsPerSessionMax: 100,
        http2IdleTimeoutMs: 500,
      },
    );
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  test("serves HTTP/1.1 and h2c (prior knowledge) on the same port", async () => {
    const response = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(await response.text(), "hello over HTTP/1.1");

    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      const body = await new Promise<string>((resolve, reject) => {
        const stream = session.request({ ":path": "/" });
        let text = "";
        stream.setEncoding("utf8");
        stream.on("data", (chunk: string) => (text += chunk));
        stream.on("end", () => resolve(text));
        stream.on("error", reject);
      });
      assert.equal(body, "hello over HTTP/2.0");
    } finally {
      session.destroy();
    }
  });

  test("a connection that sends nothing is closed after the sniff timeout", async () => {
    const started = Date.now();
    await new Promise<void>((resolve, reject) => {
      const socket = net.connect(port, "127.0.0.1");
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error("the silent connection was kept open"));
      }, 5_000);
      socket.on("error", () => undefined);
      socket.on("close", () => {
        clearTimeout(timer);
        resolve();
      });
    });
    assert.ok(Date.now() - started >= 250, "not before the sniff timeout");
  });

  test("an idle HTTP/2 connection is closed with GOAWAY after the idle timeout", async () => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      const started = Date.now();
      const answer = await new Promise<string>((resolve, reject) => {
        const stream = session.request({ ":path": "/" });
        let text = "";
        stream.on("data", (chunk: Buffer) => (text += chunk.toString()));
        stream.on("end", () => resolve(text));
        stream.on("error", reject);
      });
      assert.equal(answer, "hello over HTTP/2.0");
      const closed = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 5_000);
        session.once("close", () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      assert.ok(closed, "the idle connection was kept open");
      assert.ok(Date.now() - started >= 450, "not before the idle timeout");
    } finally {
      session.destroy();
    }
  });

  // Runs last: drain() ends every connection.
  test("drain() closes idle HTTP/1.1 keep-alive connections at once", async () => {
    const agent = new http.Agent({ keepAlive: true });
    try {
      await new Promise<void>((resolve, reject) => {
        http
          .get({ host: "127.0.0.1", port, path: "/", agent }, (response) => {
            response.resume();
            response.on("end", resolve);
          })
          .on("error", reject);
      });
      // Wait (bounded) until the server sees the connection idle after its response.
      for (let i = 0; i < 50 && server.connectionCount === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      // This one, and fetch's keep-alive connection from the first test.
      assert.ok(server.connectionCount >= 1, "idle keep-alive connections are open");
      const started = Date.now();
      await server.drain(5_000);
      const elapsedMs = Date.now() - started;
      assert.equal(server.connectionCount, 0);
      assert.ok(elapsedMs < 1_000, `drain took ${elapsedMs} ms of its 5,000 ms grace`);
    } finally {
      agent.destroy();
    }
  });
});

test("connections are capped at half the open-file limit, keeping the rest for segment files", () => {
  const limits = (soft: string) =>
    `Limit                     Soft Limit           Hard Limit           Units\nMax open files            ${soft}                20000                files\n`;
  assert.equal(connectionsMaxForFileLimit(limits("20000")), 10_000);
  assert.equal(connectionsMaxForFileLimit(limits("1024")), 512);
  assert.equal(connectionsMaxForFileLimit(limits("50")), 64);
  assert.equal(connectionsMaxForFileLimit(undefined), 10_000);
  assert.ok(connectionsMaxForFileLimit() >= 64);
});

describe("OnePortServer HTTP/2 stream limits", () => {
  let server: OnePortServer;
  let port: number;

  before(async () => {
    // Answers once the request has arrived whole.
    server = new OnePortServer(
      (request, response) => {
        request.resume();
        request.on("end", () => response.end("done"));
      },
      {
        ...defaultOnePortServerOptions,
        sniffTimeoutMs: 5_000,
        headersTimeoutMs: 300,
        requestTimeoutMs: 300,
        keepAliveTimeoutMs: 5_000,
        http2StreamsPerSessionMax: 100,
        http2StreamsMax: 3,
        streamingRequestPaths: new Set(["/stream"]),
      },
    );
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  /** Opens a POST whose body is never finished; resolves with how the stream ended. */
  function unfinished(session: http2.ClientHttp2Session, path: string) {
    const stream = session.request({ ":method": "POST", ":path": path });
    stream.resume();
    stream.write("part of a body");
    const ended = new Promise<{ code: number; ms: number }>((resolve) => {
      const started = Date.now();
      stream.on("error", () => undefined);
      stream.on("close", () => resolve({ code: stream.rstCode ?? -1, ms: Date.now() - started }));
    });
    return { stream, ended };
  }

  test("a request body that does not arrive in time is reset; a streaming request is not", async () => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", () => undefined);
    try {
      const slow = unfinished(session, "/unary");
      const streaming = unfinished(session, "/stream");
      const { code, ms } = await slow.ended;
      assert.equal(code, http2.constants.NGHTTP2_CANCEL);
      assert.ok(ms >= 250 && ms < 5_000, `reset after ${ms} ms`);
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(streaming.stream.closed, false, "the streaming request was reset");
      streaming.stream.end();
      const { code: streamCode } = await streaming.ended;
      assert.equal(streamCode, http2.constants.NGHTTP2_NO_ERROR);
    } finally {
      session.destroy();
    }
  });

  test("streams past http2StreamsMax are refused, and admitted again once others close", async () => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", () => undefined);
    try {
      const open = [0, 1, 2].map(() => unfinished(session, "/stream"));
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(server.http2StreamsOpen, 3);
      const refused = unfinished(session, "/stream");
      assert.equal((await refused.ended).code, http2.constants.NGHTTP2_REFUSED_STREAM);
      for (const { stream } of open) stream.end();
      await Promise.all(open.map(({ ended }) => ended));
      const again = unfinished(session, "/stream");
      again.stream.end();
      assert.equal((await again.ended).code, http2.constants.NGHTTP2_NO_ERROR);
    } finally {
      session.destroy();
    }
  });
});

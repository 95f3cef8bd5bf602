// HTTP/2 connections that end in a connection error must not keep their sockets. nghttp2 answers a
// malformed frame, or a flood of stream resets, with GOAWAY and stops; Node 20 then stops reading
// the socket and never closes it (finished-http2-sessions.ts). Before the sweep, every such
// connection left a CLOSE-WAIT socket and its file descriptor behind for good.
import assert from "node:assert/strict";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { defaultOnePortServerOptions, OnePortServer } from "../../src/server/one-port-server.js";
import { h2Frame, h2Preface } from "../harness/raw-grpc.js";

const emptySettings = h2Frame(4, 0, 0, Buffer.alloc(0));
const goawayType = 7;

// DATA on stream 1 declaring 16 MiB, over the 16 KiB SETTINGS_MAX_FRAME_SIZE.
const oversizedFrame = Buffer.from([0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 1]);

// One malformed frame each, as the black-box tester sent them: each is a connection error.
const malformedFrames: Record<string, Buffer> = {
  "oversized frame": oversizedFrame,
  // HEADERS whose block cannot be decoded: an indexed field of index 0, a decoding error
  // (RFC 7541 §6.1), the same bytes in every run (the tester sent random ones).
  "bad HPACK": h2Frame(1, 0x5, 1, Buffer.from([0x80])),
  // SETTINGS with a payload that is not a multiple of 6.
  "bad SETTINGS length": h2Frame(4, 0, 0, Buffer.alloc(5)),
  // CONTINUATION without HEADERS before it.
  "stray CONTINUATION": h2Frame(9, 0x4, 1, Buffer.alloc(10)),
};

const connectionsPerVariant = 50;

/** Polls (bounded) until `condition` holds; returns whether it did. */
async function eventually(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

/**
 * How long a client waits for the server's GOAWAY. It comes within milliseconds; a CI run on a
 * loaded machine once saw one of 50 connections wait past 2 s, so the bound is generous (the
 * client stops reading as soon as the GOAWAY arrives).
 */
const goawayWaitMs = 15_000;

/**
 * Sends the preface, SETTINGS and `malformed`, reads until the server's GOAWAY (bounded by
 * goawayWaitMs),
 * then closes or, with `keepOpen`, waits (bounded by `keepOpenMs`) for the server to close.
 * Resolves with whether a GOAWAY came and whether the server closed the connection.
 */
function misbehave(
  port: number,
  malformed: Buffer,
  keepOpenMs = 0,
): Promise<{ goaway: boolean; closedByServer: boolean }> {
  return new Promise((resolve) => {
    let received = Buffer.alloc(0);
    let goaway = false;
    let closedByServer = false;
    const socket = net.connect(port, "127.0.0.1", () => {
      socket.write(Buffer.concat([h2Preface, emptySettings, malformed]));
    });
    const giveUp = setTimeout(() => socket.destroy(), goawayWaitMs + keepOpenMs);
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      // Walk the frames received so far, looking for a GOAWAY.
      for (let at = 0; at + 9 <= received.length; at += 9 + received.readUIntBE(at, 3)) {
        if (received[at + 3] === goawayType) goaway = true;
      }
      if (goaway && keepOpenMs === 0) socket.destroy();
    });
    socket.on("end", () => {
      closedByServer = true;
      socket.destroy();
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearTimeout(giveUp);
      resolve({ goaway, closedByServer });
    });
  });
}

describe("OnePortServer, HTTP/2 connection errors", () => {
  let server: OnePortServer;
  let port: number;

  before(async () => {
    server = new OnePortServer(
      (_request, response) => {
        response.end("hello");
      },
      {
        ...defaultOnePortServerOptions,
        sniffTimeoutMs: 5_000,
        headersTimeoutMs: 5_000,
        requestTimeoutMs: 5_000,
        keepAliveTimeoutMs: 5_000,
        http2StreamsPerSessionMax: 100,
      },
    );
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  for (const [variant, malformed] of Object.entries(malformedFrames)) {
    test(`${variant}: the sockets of ${connectionsPerVariant} connections are closed once the clients close`, async () => {
      const baseline = server.connectionCount;
      const outcomes = await Promise.all(
        Array.from({ length: connectionsPerVariant }, () => misbehave(port, malformed)),
      );
      assert.ok(
        outcomes.every((outcome) => outcome.goaway),
        "the server answered every malformed frame with GOAWAY",
      );
      // The sweep runs every second; without it the count stays 50 over the baseline.
      const closed = await eventually(() => server.connectionCount === baseline, 5_000);
      const left = server.connectionCount - baseline;
      assert.ok(closed, `${left} sockets outlived their connections`);
    });
  }

  test("the server closes the connection after its GOAWAY when the client does not", async () => {
    // RFC 9113 §5.4.1: after the GOAWAY of a connection error the endpoint MUST close the TCP
    // connection. A client that never closes must not hold the socket.
    const baseline = server.connectionCount;
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, () => misbehave(port, oversizedFrame, 5_000)),
    );
    assert.deepEqual(
      outcomes.filter((outcome) => !outcome.closedByServer),
      [],
      "every connection was closed by the server",
    );
    assert.ok(await eventually(() => server.connectionCount === baseline, 5_000));
  });

  test("a session ended by a stream-reset flood gives its socket back", async () => {
    // Rapid reset: the server's budget of unanswered streams (stream-reset-budget.ts), or behind
    // it nghttp2's own limit with the same silent end as a malformed frame, ends the session with
    // GOAWAY; either way its socket must go.
    const baseline = server.connectionCount;
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", () => undefined);
    let goawayCode: number | undefined;
    session.once("goaway", (code: number) => (goawayCode = code));
    await new Promise((resolve) => session.once("connect", resolve));
    const started = Date.now();
    let opened = 0;
    while (goawayCode === undefined && !session.destroyed && !session.closed) {
      if (opened >= 20_000 || Date.now() - started > 10_000) break;
      for (let i = 0; i < 200; i++) {
        const stream = session.request({ ":method": "POST", ":path": "/" }, { endStream: false });
        stream.on("error", () => undefined);
        stream.close(http2.constants.NGHTTP2_CANCEL);
        opened++;
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.notEqual(goawayCode, undefined, `no GOAWAY after ${opened} reset streams`);
    session.destroy();
    const closed = await eventually(() => server.connectionCount === baseline, 5_000);
    assert.ok(closed, `${server.connectionCount - baseline} sockets outlived their connection`);
  });
});

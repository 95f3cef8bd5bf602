// The connection cap (connectionsMax) under connections that never deliver a request (outside
// probe P2): slowloris HTTP/1.1 connections (partial headers, or whole headers and a body that
// never comes) and HTTP/2 connections that send the preface and nothing more. Past the cap, each
// newcomer takes the slot of the oldest such connection, so HTTP/1.1 and h2c requests are still
// served; connections that delivered a request keep theirs; the count never exceeds the cap. Idle
// connections that delivered one are evicted only when no unproven one is left, and only when
// every connection has a request in flight is a newcomer closed. Near the cap, a connection has
// the sniff timeout to deliver its first request.
import assert from "node:assert/strict";
import http from "node:http";
import http2 from "node:http2";
import net, { type AddressInfo } from "node:net";
import { after, afterEach, before, describe, test } from "node:test";
import { pressureShare } from "../../src/server/connection-slots.js";
import {
  defaultOnePortServerOptions,
  OnePortServer,
  type OnePortServerOptions,
} from "../../src/server/one-port-server.js";
import { eventually } from "../harness/in-process-node.js";
import { h2Frame, h2Preface } from "../harness/raw-grpc.js";

const cap = 64;
/** An empty SETTINGS frame: what an HTTP/2 client sends after the preface. */
const emptySettings = h2Frame(4, 0, 0, Buffer.alloc(0));

const waitUntil = (condition: () => boolean, what: string, timeoutMs = 10_000) =>
  eventually(condition, what, timeoutMs, 10);

/** Raw connections opened by a test, and how many of them the server closed. */
class Connections {
  readonly sockets: net.Socket[] = [];
  closed = 0;

  constructor(private readonly port: number) {}

  /** Opens a connection, writes `first` once connected; resolves once connected. */
  open(first: string | Buffer): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(this.port, "127.0.0.1");
      this.sockets.push(socket);
      socket.on("data", () => undefined);
      socket.once("connect", () => {
        socket.write(first);
        resolve(socket);
      });
      socket.once("error", reject);
      socket.once("close", () => this.closed++);
    });
  }

  /** Opens `count` connections, 16 at a time. */
  async openMany(count: number, first: () => string | Buffer): Promise<void> {
    for (let i = 0; i < count; i += 16) {
      await Promise.all(Array.from({ length: Math.min(16, count - i) }, () => this.open(first())));
    }
  }

  get openCount(): number {
    return this.sockets.filter((socket) => !socket.destroyed).length;
  }

  destroyAll(): void {
    for (const socket of this.sockets) socket.destroy();
  }
}

const partialHeaders = () => "POST /tidelog.v1.LogService/Produce HTTP/1.1\r\nHost: x\r\n";
const wholeHeadersNoBody = () =>
  "POST /tidelog.v1.LogService/Produce HTTP/1.1\r\nHost: x\r\n" +
  "content-type: application/json\r\ncontent-length: 1000000\r\n\r\n{";
const prefaceOnly = () => Buffer.concat([h2Preface, emptySettings]);

/** An HTTP/1.1 request on a new connection; resolves with the answer's body. */
function http1Request(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: "127.0.0.1", port, method: "POST", path: "/produce", agent: false },
      (response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (body += chunk));
        response.on("end", () => resolve(body));
      },
    );
    request.on("error", reject);
    request.end("a record");
  });
}

/** A gRPC-style POST on an HTTP/2 session; resolves with the answer's body. */
function http2Request(session: http2.ClientHttp2Session): Promise<string> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ":method": "POST",
      ":path": "/tidelog.v1.LogService/Produce",
      "content-type": "application/grpc",
    });
    let body = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => (body += chunk));
    stream.on("end", () => resolve(body));
    stream.on("error", reject);
    stream.end(Buffer.from([0, 0, 0, 0, 0]));
  });
}

/** A keep-alive HTTP/1.1 connection that has delivered one request; `again()` sends another. */
async function provenHttp1(port: number) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const get = () =>
    new Promise<string>((resolve, reject) => {
      http
        .get({ host: "127.0.0.1", port, path: "/", agent }, (response) => {
          let body = "";
          response.setEncoding("utf8");
          response.on("data", (chunk: string) => (body += chunk));
          response.on("end", () => resolve(body));
        })
        .on("error", reject);
    });
  assert.equal(await get(), "served over HTTP/1.1");
  const sockets = Object.values(agent.freeSockets).flat();
  assert.equal(sockets.length, 1, "the keep-alive connection is kept");
  let closed = false;
  sockets[0]!.once("close", () => (closed = true));
  return { again: get, closed: () => closed, close: () => agent.destroy() };
}

function startServer(options: Partial<OnePortServerOptions>): Promise<OnePortServer> {
  const server = new OnePortServer(
    (request, response) => {
      request.resume();
      request.on("end", () => response.end(`served over HTTP/${request.httpVersion}`));
    },
    {
      ...defaultOnePortServerOptions,
      sniffTimeoutMs: 10_000,
      headersTimeoutMs: 60_000,
      requestTimeoutMs: 60_000,
      keepAliveTimeoutMs: 60_000,
      http2IdleTimeoutMs: 60_000,
      connectionsMax: cap,
      ...options,
    },
  );
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

describe("connection cap", () => {
  let server: OnePortServer;
  let port: number;
  let connections: Connections;
  const cleanups: (() => void)[] = [];

  /** `count` HTTP/2 client sessions to the test's server, destroyed when the test ends. */
  function connectSessions(count: number): http2.ClientHttp2Session[] {
    const sessions = Array.from({ length: count }, () => {
      const session = http2.connect(`http://127.0.0.1:${port}`);
      session.on("error", () => undefined);
      return session;
    });
    cleanups.push(() => {
      for (const session of sessions) session.destroy();
    });
    return sessions;
  }

  before(async () => {
    server = await startServer({});
    port = (server.address() as AddressInfo).port;
  });

  afterEach(() => {
    connections?.destroyAll();
    for (const cleanup of cleanups.splice(0)) cleanup();
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  test("connections that never deliver a request evict one another; requests are served", async () => {
    connections = new Connections(port);
    let most = 0;
    const watch = setInterval(() => (most = Math.max(most, server.connectionCount)), 1);
    cleanups.push(() => clearInterval(watch));
    const statsBefore = server.connectionCapStats;

    // Connections that delivered a request before the flood: an idle keep-alive HTTP/1.1 one and
    // an HTTP/2 one.
    const keptHttp1 = await provenHttp1(port);
    cleanups.push(keptHttp1.close);
    const keptHttp2 = http2.connect(`http://127.0.0.1:${port}`);
    keptHttp2.on("error", () => undefined);
    cleanups.push(() => keptHttp2.destroy());
    assert.equal(await http2Request(keptHttp2), "served over HTTP/2.0");
    let keptHttp2Closed = false;
    keptHttp2.once("close", () => (keptHttp2Closed = true));

    // Twice the cap of connections that never deliver a request, of three kinds.
    const flood = 2 * cap;
    await connections.openMany(flood / 2, partialHeaders);
    await connections.openMany(flood / 4, wholeHeadersNoBody);
    await connections.openMany(flood / 4, prefaceOnly);
    // Every one was accepted (none refused); all but the cap's worth were evicted.
    const evictions = flood + 2 - cap;
    await waitUntil(
      () => server.connectionCapStats.evicted - statsBefore.evicted >= evictions,
      `${evictions} connections were evicted (${server.connectionCapStats.evicted})`,
    );
    await waitUntil(() => connections.closed >= evictions, "the evicted connections closed");
    assert.equal(server.connectionCapStats.refused, statsBefore.refused);
    assert.equal(server.connectionCapStats.evictedIdle, statsBefore.evictedIdle);
    assert.equal(server.connectionCount, cap);
    assert.equal(connections.openCount, cap - 2);

    // New connections get a slot and are served, over HTTP/1.1 and h2c.
    assert.equal(await http1Request(port), "served over HTTP/1.1");
    const fresh = http2.connect(`http://127.0.0.1:${port}`);
    fresh.on("error", () => undefined);
    cleanups.push(() => fresh.destroy());
    assert.equal(await http2Request(fresh), "served over HTTP/2.0");
    // The first took the slot of a flood connection (the second may have had the first's).
    await waitUntil(() => connections.closed >= evictions + 1, "one more was evicted");

    // The connections that had delivered a request kept their slots, and serve again.
    assert.equal(keptHttp1.closed(), false, "the keep-alive HTTP/1.1 connection was evicted");
    assert.equal(keptHttp2Closed, false, "the HTTP/2 connection was evicted");
    assert.equal(await keptHttp1.again(), "served over HTTP/1.1");
    assert.equal(await http2Request(keptHttp2), "served over HTTP/2.0");

    assert.ok(most <= cap, `${most} connections were open at once, over the cap of ${cap}`);
  });

  test("idle connections are evicted once no unproven one is left, idlest first", async () => {
    connections = new Connections(port);
    const statsBefore = server.connectionCapStats;
    await waitUntil(() => server.connectionCount === 0, "earlier connections are gone");
    // Fill the cap with HTTP/2 connections that each delivered a request, one after the other:
    // the first is idle the longest.
    const sessions = connectSessions(cap);
    for (const session of sessions) {
      assert.equal(await http2Request(session), "served over HTTP/2.0");
    }
    assert.equal(server.connectionCount, cap);
    // A newcomer takes the slot of the idlest.
    const first = await connections.open(partialHeaders());
    await waitUntil(() => sessions[0]!.destroyed, "the idlest connection was evicted");
    // The next takes the newcomer's: it has not delivered a request.
    await connections.open(partialHeaders());
    await waitUntil(() => first.destroyed, "the unproven newcomer was evicted");
    const stats = server.connectionCapStats;
    assert.equal(stats.evictedIdle, statsBefore.evictedIdle + 1);
    assert.equal(stats.evicted, statsBefore.evicted + 1);
    assert.equal(stats.refused, statsBefore.refused);
    assert.ok(
      sessions.slice(1).every((session) => !session.destroyed),
      "another idle connection was evicted",
    );
  });

  test("when every connection has a request in flight, a new one is closed", async () => {
    connections = new Connections(port);
    const statsBefore = server.connectionCapStats;
    await waitUntil(() => server.connectionCount === 0, "earlier connections are gone");
    // Fill the cap with HTTP/2 connections whose request is still arriving.
    const sessions = connectSessions(cap);
    for (const session of sessions) {
      const stream = session.request({ ":method": "POST", ":path": "/upload" });
      stream.on("error", () => undefined);
      stream.write("part of a body");
    }
    await waitUntil(() => server.http2StreamsOpen === cap, "every request arrived");
    assert.equal(server.connectionCount, cap);
    const newcomer = await connections.open(partialHeaders());
    await waitUntil(() => newcomer.destroyed, "the newcomer was closed");
    assert.equal(server.connectionCapStats.refused, statsBefore.refused + 1);
    assert.equal(server.connectionCapStats.evicted, statsBefore.evicted);
    assert.equal(server.connectionCapStats.evictedIdle, statsBefore.evictedIdle);
    assert.ok(
      sessions.every((session) => !session.closed && !session.destroyed),
      "a connection with a request in flight was closed",
    );
  });
});

test("near the cap, a connection has the sniff timeout to deliver its first request", async () => {
  const server = await startServer({ sniffTimeoutMs: 300 });
  const port = (server.address() as AddressInfo).port;
  const connections = new Connections(port);
  try {
    // Below the share of the cap where the deadline applies: nothing is closed.
    const few = Math.floor(cap * pressureShare) - 8;
    await connections.openMany(few, partialHeaders);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.equal(connections.closed, 0, "connections were closed below the pressure share");
    // At it: the connections older than the sniff timeout that have not delivered a request are
    // closed (the headers timeout is 60 s), and a proven one is kept. (The newer ones may stay:
    // once the old ones are gone, the count is below the share again.)
    const early = [...connections.sockets];
    const kept = await provenHttp1(port);
    try {
      await connections.openMany(8, partialHeaders);
      await connections.openMany(8, prefaceOnly);
      await waitUntil(
        () => early.every((socket) => socket.destroyed),
        "the early unproven connections closed",
      );
      assert.ok(server.connectionCapStats.timedOut >= few);
      assert.equal(server.connectionCapStats.evicted, 0);
      assert.equal(kept.closed(), false, "the proven connection was closed");
      assert.equal(await kept.again(), "served over HTTP/1.1");
    } finally {
      kept.close();
    }
  } finally {
    connections.destroyAll();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

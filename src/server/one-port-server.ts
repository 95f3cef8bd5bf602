// One TCP port for HTTP/2 with prior knowledge (gRPC, h2c clients) and HTTP/1.1 (curl, browsers):
// the first bytes of each connection are sniffed for the HTTP/2 connection preface, then the
// socket is handed to an `http2` or an `http` server sharing one request handler. This is what
// the book did with cmux, done at the connection level.
//
// Shutdown is part of the design: `drain()` stops accepting, asks HTTP/2 sessions to finish
// (GOAWAY) and closes idle HTTP/1.1 connections, then destroys whatever is left after the grace
// period.
import { readFileSync } from "node:fs";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import http2, {
  type Http2ServerRequest,
  type Http2ServerResponse,
  type Http2Session,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from "node:http2";
import net, { type Socket } from "node:net";
import { ConnectionSlots } from "./connection-slots.js";
import { isFinishedHttp2Session } from "./finished-http2-sessions.js";
import { dropOverlongTimeouts } from "./overlong-timeouts.js";
import { clearSessionIdleTimer } from "./session-idle-timer.js";
import { StreamResetBudget } from "./stream-reset-budget.js";

const http2Preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/**
 * How often open HTTP/2 sessions are checked for one that nghttp2 ended by itself: a bound on how
 * long the socket of a connection that ended in a protocol error outlives it.
 */
const finishedSessionSweepMs = 1_000;
/**
 * HTTP/2 flow-control windows this server grants senders, per stream and per connection. The
 * protocol's default, 65,535 bytes for both, let a sender have one 64 KiB window in flight per
 * round trip: the leader's replication stream to a follower (one stream, appends of 100 KiB and
 * more) and a client's pipelined ProduceStream waited on WINDOW_UPDATEs from busy peers. With
 * these, 3 nodes took 1.34–1.53× the records/s at 30–35% less node CPU per record (bench/README,
 * "Flow-control windows"). A stream's input still pauses once its queue holds 1 MiB, so a
 * streaming call holds at most this window more than before.
 */
const http2StreamWindowBytes = 1024 * 1024;
const http2ConnectionWindowBytes = 8 * 1024 * 1024;

export type RequestHandler = (
  request: IncomingMessage | Http2ServerRequest,
  response: ServerResponse | Http2ServerResponse,
) => void;

/** Takes an HTTP/2 stream before the request handler sees it; returns false to pass it on. */
export type StreamRouter = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => boolean;

export interface OnePortServerOptions {
  /**
   * A connection that has not sent enough bytes to be classified by then is closed. Near the
   * connection cap, it is also the time a connection has to deliver its first request.
   */
  sniffTimeoutMs: number;
  /** HTTP/1.1: time allowed to receive request headers. */
  headersTimeoutMs: number;
  /**
   * HTTP/1.1: time allowed to receive a whole request, headers and body; then 408 and the
   * connection is closed. Node stops this clock once the request is received, so a
   * server-streaming response (ConsumeStream) may last longer. 0 turns it off; otherwise no
   * shorter than headersTimeoutMs (Node refuses that).
   */
  requestTimeoutMs: number;
  /** HTTP/1.1 keep-alive idle time. */
  keepAliveTimeoutMs: number;
  /** Concurrent streams per HTTP/2 connection. */
  http2StreamsPerSessionMax: number;
  /**
   * HTTP/2: a connection with no frame either way for this long is closed gracefully (GOAWAY:
   * no new streams, open ones finish). Idle connections otherwise stayed forever, each an fd:
   * enough of them made the node's next file open fail (EMFILE). Peers ping every second.
   */
  http2IdleTimeoutMs: number;
  /**
   * Connections open at once (connectionsMax + 1 for a moment, between a newcomer's accept and
   * the eviction that makes room for it). One that arrives at the cap takes the slot of the
   * oldest connection that has not delivered a request yet, or else of the one idle the longest
   * (no request in flight), which is closed; when a request is in flight on every open
   * connection, the newcomer is closed (connection-slots.ts).
   */
  connectionsMax: number;
  /**
   * HTTP/2 streams open at once on all connections; more are refused (RST_STREAM
   * REFUSED_STREAM, which clients may retry). Each costs the node ~57 KB before its call is
   * even counted against --streams-max: a probe held 20,000 streams that never sent a body.
   */
  http2StreamsMax: number;
  /**
   * Paths whose request is a stream (client-streaming and bidi methods): exempt from
   * requestTimeoutMs on HTTP/2, where every other request must arrive whole within it.
   */
  streamingRequestPaths: ReadonlySet<string>;
}

export const defaultOnePortServerOptions: OnePortServerOptions = {
  sniffTimeoutMs: 10_000,
  headersTimeoutMs: 30_000,
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 65_000,
  http2StreamsPerSessionMax: 1000,
  http2IdleTimeoutMs: 300_000,
  connectionsMax: connectionsMaxForFileLimit(),
  // --streams-max (10,000 long-lived calls) and as many unary calls in flight as a busy node has.
  http2StreamsMax: 11_000,
  streamingRequestPaths: new Set(),
};

/**
 * Half the process's open-file limit (RLIMIT_NOFILE, soft), at least 64: the other half stays
 * for the topic logs' segment files, whose open failing stops the node. 10,000 where the limit
 * cannot be read.
 */
export function connectionsMaxForFileLimit(limits = readProcessLimits()): number {
  const match = /^Max open files\s+(\d+)/m.exec(limits ?? "");
  if (match === null) return 10_000;
  return Math.max(64, Math.floor(Number(match[1]) / 2));
}

function readProcessLimits(): string | undefined {
  try {
    return readFileSync("/proc/self/limits", "utf8");
  } catch {
    return undefined;
  }
}

function pathWithoutQuery(path: string): string {
  const query = path.indexOf("?");
  return query === -1 ? path : path.slice(0, query);
}

/** How often the HTTP/1.1 timeouts are checked: a quarter of the shorter one, at most 1 s. */
function timeoutCheckMs(options: OnePortServerOptions): number {
  const bounds = [options.headersTimeoutMs, options.requestTimeoutMs].filter((ms) => ms > 0);
  return Math.ceil(Math.max(10, Math.min(1_000, ...bounds.map((ms) => ms / 4))));
}

export class OnePortServer extends net.Server {
  readonly http1: http.Server;
  readonly http2: http2.Http2Server;
  /** Consulted for every new HTTP/2 stream first (app.ts routes internal hot paths with it). */
  streamRouter: StreamRouter | undefined;
  private http2Streams = 0;
  private readonly sessions = new Set<Http2Session>();
  private readonly resetBudgets = new WeakMap<Http2Session, StreamResetBudget>();
  private readonly slots: ConnectionSlots;
  /** The socket whose HTTP/2 session is being set up ('session' comes within its 'connection'). */
  private arrivingHttp2: Socket | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(
    handler: RequestHandler,
    options: OnePortServerOptions = defaultOnePortServerOptions,
  ) {
    super();
    this.slots = new ConnectionSlots(options.connectionsMax, options.sniffTimeoutMs);
    this.http1 = http.createServer(
      {
        requestTimeout: options.requestTimeoutMs,
        headersTimeout: options.headersTimeoutMs,
        // Node checks both timeouts on this period, every 30 s by default: a 60 s bound would
        // have meant up to 90 s.
        connectionsCheckingInterval: timeoutCheckMs(options),
        keepAliveTimeout: options.keepAliveTimeoutMs,
      },
      (request, response) => {
        this.proveWhenDelivered(request, response);
        dropOverlongTimeouts(request.headers);
        handler(request, response);
      },
    );
    this.http2 = http2.createServer(
      {
        settings: {
          maxConcurrentStreams: options.http2StreamsPerSessionMax,
          initialWindowSize: http2StreamWindowBytes,
        },
      },
      handler,
    );
    // Node's compatibility layer (which builds the request/response pair for `handler`) is a
    // 'stream' listener; the router goes in front of it and passes on what it does not take.
    const compatibility = this.http2.listeners("stream") as ((...args: unknown[]) => void)[];
    this.http2.removeAllListeners("stream");
    this.http2.on("stream", (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, ...rest) => {
      const route = () => {
        // Already closed: reset by its client before it was routed, or its session was ended for
        // a reset flood (stream-reset-budget.ts). Routing it would set up a call to tear down.
        if (stream.closed || stream.destroyed) return;
        if (!this.admitStream(stream, headers, options)) return;
        // Once per request, before the router and Connect read the deadline (HTTP/1.1 above).
        dropOverlongTimeouts(headers);
        if (this.streamRouter?.(stream, headers)) return;
        for (const listener of compatibility) listener.call(this.http2, stream, headers, ...rest);
      };
      const session = stream.session;
      if (session !== undefined && this.resetBudgets.get(session)?.routesLater) setImmediate(route);
      else route();
    });
    // A response may complete before its request was read to the end: an error answered early,
    // such as a message over the size limit. The client must then be told to stop sending
    // (RFC 9113 §8.1: RST_STREAM with NO_ERROR after the complete response), or it keeps the
    // stream half open, blocked on flow control, for as long as it likes. Node does this by itself
    // only for responses without trailers whose body was never read, and the compatibility
    // response always ends with trailers. They are submitted in the 'wantTrailers' callback;
    // closing in the same tick would drop them, hence setImmediate.
    this.http2.on("request", (request: Http2ServerRequest) => {
      const stream = request.stream;
      stream.once("wantTrailers", () => {
        setImmediate(() => {
          if (!request.complete && !stream.destroyed) {
            stream.close(http2.constants.NGHTTP2_NO_ERROR);
          }
        });
      });
    });
    this.http2.on("session", (session: Http2Session) => {
      this.sessions.add(session);
      // The connection proves itself with its first stream's HEADERS (the request of a peer's
      // StepStream lasts as long as the connection), and is idle while it has no open stream.
      const socket = this.arrivingHttp2;
      if (socket !== undefined) {
        let streamsOpen = 0;
        session.prependListener("stream", (stream: ServerHttp2Stream) => {
          this.slots.prove(socket);
          this.slots.busy(socket);
          streamsOpen++;
          stream.once("close", () => {
            if (--streamsOpen === 0) this.slots.idleNow(socket);
          });
        });
      }
      // Ahead of Node's listener that passes the session's streams on to the server's 'stream'.
      const resets = new StreamResetBudget(session);
      this.resetBudgets.set(session, resets);
      session.prependListener("stream", (stream: ServerHttp2Stream) => {
        resets.watch(stream);
      });
      this.startSweep();
      session.setLocalWindowSize(http2ConnectionWindowBytes);
      session.setTimeout(options.http2IdleTimeoutMs, () => session.close());
      session.once("close", () => {
        clearSessionIdleTimer(session);
        this.sessions.delete(session);
        if (this.sessions.size === 0) this.stopSweep();
      });
      session.on("error", () => undefined);
    });
    // Not net.Server.maxConnections: it closes every connection that arrives at the cap, and one
    // client holding the cap with connections that never deliver a request cut the node off from
    // its peers and clients (outside probe P2).
    this.on("connection", (socket: Socket) => {
      if (this.slots.admit(socket)) this.classify(socket, options.sniffTimeoutMs);
    });
    // The HTTP/1.1 server never listens itself, and Node starts its connection tracking on
    // 'listening': without it, closeIdleConnections() does nothing (every shutdown waited the
    // whole grace period for idle keep-alive clients) and headersTimeoutMs is never enforced.
    this.on("listening", () => this.http1.emit("listening"));
    this.on("close", () => this.http1.close());
  }

  /** HTTP/2 streams open now, on all connections. */
  get http2StreamsOpen(): number {
    return this.http2Streams;
  }

  /**
   * Counts an HTTP/2 stream against http2StreamsMax (refusing it past the limit) and, unless its
   * request is a stream, gives its request requestTimeoutMs to arrive whole, as HTTP/1.1 does:
   * one still arriving then is reset (CANCEL). Without it a request body that never came held
   * its stream, and the memory Connect set up for it, forever; the call's own deadline is read
   * only once the body has arrived.
   */
  private admitStream(
    stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    options: OnePortServerOptions,
  ): boolean {
    if (this.http2Streams >= options.http2StreamsMax) {
      // Closing with an error code makes the stream emit 'error': unheard, it would be uncaught.
      stream.on("error", () => undefined);
      stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      return false;
    }
    this.http2Streams++;
    let timer: NodeJS.Timeout | undefined;
    if (
      options.requestTimeoutMs > 0 &&
      !stream.endAfterHeaders &&
      !options.streamingRequestPaths.has(pathWithoutQuery(headers[":path"] ?? ""))
    ) {
      timer = setTimeout(() => {
        if (stream.destroyed || stream.state.remoteClose) return;
        stream.on("error", () => undefined);
        stream.close(http2.constants.NGHTTP2_CANCEL);
      }, options.requestTimeoutMs);
      timer.unref();
    }
    stream.once("close", () => {
      this.http2Streams--;
      clearTimeout(timer);
    });
    return true;
  }

  /** Connections currently open, of both kinds. */
  get connectionCount(): number {
    return this.slots.size;
  }

  /** What the connection cap did (connection-slots.ts). */
  get connectionCapStats(): {
    evicted: number;
    evictedIdle: number;
    refused: number;
    timedOut: number;
  } {
    const { evicted, evictedIdle, refused, timedOut } = this.slots;
    return { evicted, evictedIdle, refused, timedOut };
  }

  /**
   * An HTTP/1.1 connection proves itself once a request has arrived whole (a ConsumeStream's
   * answer may last long after) or has been answered (one whose body the handler never read).
   * Complete headers are not enough: a body trickled a byte at a time held the slot as well.
   */
  private proveWhenDelivered(request: IncomingMessage, response: ServerResponse): void {
    const socket = request.socket;
    this.slots.busy(socket);
    // Idle once answered, until its next request (a keep-alive connection).
    response.once("close", () => this.slots.idleNow(socket));
    if (!this.slots.isUnproven(socket)) return;
    const proved = () => this.slots.prove(socket);
    if (request.complete) proved();
    else {
      request.once("end", proved);
      response.once("finish", proved);
    }
  }

  /**
   * Lets in-flight work finish for `graceMs`, then destroys what is left. The caller stops
   * accepting (fastify closes the listener right after its preClose hooks).
   */
  async drain(graceMs: number): Promise<void> {
    for (const session of this.sessions) session.close();
    this.closeIdleConnections();
    const deadline = Date.now() + graceMs;
    while (this.slots.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      this.closeIdleConnections();
    }
    this.closeAllConnections();
  }

  /** For fastify's forceCloseConnections hooks. */
  closeIdleConnections(): void {
    this.http1.closeIdleConnections();
  }

  closeAllConnections(): void {
    for (const session of this.sessions) session.destroy();
    for (const socket of [...this.slots.sockets()]) socket.destroy();
  }

  /**
   * Node never closes the socket of a session that nghttp2 ended on a connection error (see
   * finished-http2-sessions.ts): the sweep destroys such sessions, which ends their sockets. It
   * runs only while HTTP/2 sessions are open.
   */
  private startSweep(): void {
    if (this.sweepTimer !== undefined) return;
    this.sweepTimer = setInterval(() => {
      for (const session of this.sessions) {
        if (isFinishedHttp2Session(session)) session.destroy();
      }
    }, finishedSessionSweepMs);
    this.sweepTimer.unref();
  }

  private stopSweep(): void {
    clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
  }

  private classify(socket: Socket, sniffTimeoutMs: number): void {
    // Small RPC answers must not wait for Nagle's algorithm (40 ms stalls with delayed ACKs).
    socket.setNoDelay(true);
    socket.on("error", () => socket.destroy());
    let received: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), sniffTimeoutMs);
    // A connection that closes before it sent a byte must not keep the process alive.
    timer.unref();
    socket.once("close", () => clearTimeout(timer));
    const onData = (chunk: Buffer) => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      const compared = Math.min(received.length, http2Preface.length);
      const looksHttp2 = received.subarray(0, compared).equals(http2Preface.subarray(0, compared));
      if (looksHttp2 && received.length < http2Preface.length) return; // need the whole preface
      socket.off("data", onData);
      clearTimeout(timer);
      socket.pause();
      socket.unshift(received);
      // The HTTP/2 session reads what is buffered in the socket on its own (node#35475); the
      // HTTP/1.1 server needs the paused socket flowing again.
      if (looksHttp2) {
        this.arrivingHttp2 = socket;
        try {
          this.http2.emit("connection", socket);
        } finally {
          this.arrivingHttp2 = undefined;
        }
      } else {
        this.http1.emit("connection", socket);
        socket.resume();
      }
    };
    socket.on("data", onData);
  }
}

// HTTP/2 "rapid reset" (CVE-2023-44487): a client opens streams and resets them at once, as fast
// as it can write. Each costs the server a stream and, once routed, a Connect call set up and torn
// down (~0.5 ms of the event loop that Raft shares). An outside probe's 4 connections × 20,000
// HEADERS + RST_STREAM stalled a leader for over a second: it lost its term. nghttp2 (Node 20)
// has its own limit, 1,000 resets then 33/s per connection, but it ends the session silently:
// its GOAWAY waits in a queue while every stream already read is still handed to JavaScript.
//
// So each HTTP/2 session gets a budget of streams that end before the server finished answering
// them (reset by the client, or refused, or cut for a request that never arrived): past it in one
// second, the session is sent GOAWAY(ENHANCE_YOUR_CALM) and destroyed at once, with one log line
// per interval. And the streams it costs are made cheap:
// - A stream already closed when the server first sees it (its reset came in the same read) is
//   counted and never routed.
// - Node hands a stream to JavaScript as soon as its HEADERS are parsed, before the rest of the
//   read (its RST_STREAM) is. So once a session has had a stream end unanswered in the current
//   second, its new streams are routed after the read they came in (setImmediate), and only if
//   still open then. Sessions that reset nothing are routed at once, as before.
import http2, { type Http2Session, type ServerHttp2Stream } from "node:http2";
import { RateLimitedLog } from "../obs/rate-limited-log.js";

/**
 * Streams one session may see end unanswered per second. Legitimate clients stay well below:
 * 1,000 tailing ConsumeStreams over 10 connections cancel 100 per connection when they stop, a
 * pipelined client's 256 calls in flight that all miss their deadline are 256, the hostile-input
 * churn drops 200 per connection, and the Raft StepStream is one stream for the life of the
 * connection. Half of nghttp2's burst of 1,000, so that this budget, not nghttp2's silent one,
 * ends an abusive session.
 */
export const unansweredStreamsPerSecondMax = 500;

const windowMs = 1_000;
const abuseLog = new RateLimitedLog(10_000);

/** One HTTP/2 session's budget of unanswered streams, and the streams it watches. */
export class StreamResetBudget {
  private windowStartedAt = Number.NEGATIVE_INFINITY;
  private unanswered = 0;
  private ended = false;

  constructor(private readonly session: Http2Session) {}

  /**
   * Watches a new stream of the session. One that has already ended (the client reset it in the
   * same read as its HEADERS, or the session was ended) counts at once; the server does not route
   * it (one-port-server.ts checks the stream itself).
   */
  watch(stream: ServerHttp2Stream): void {
    if (stream.closed || stream.destroyed) {
      // A reset other than CANCEL makes the destroyed stream emit 'error' after this tick.
      stream.on("error", () => undefined);
      this.countUnanswered();
      return;
    }
    // 'aborted': the stream closed while the server's side of it was still open.
    stream.once("aborted", () => this.countUnanswered());
  }

  /** Whether new streams wait for the end of their read before they are routed (see above). */
  get routesLater(): boolean {
    return this.unanswered > 0 && performance.now() - this.windowStartedAt < windowMs;
  }

  private countUnanswered(): void {
    if (this.ended) return;
    const now = performance.now();
    if (now - this.windowStartedAt >= windowMs) {
      this.windowStartedAt = now;
      this.unanswered = 0;
    }
    if (++this.unanswered <= unansweredStreamsPerSecondMax) return;
    this.ended = true;
    // Not from inside nghttp2's callbacks ('aborted' is emitted while it reads): once the read has
    // been handled. The streams of that read still to be emitted find the session destroyed.
    process.nextTick(() => this.endSession());
  }

  private endSession(): void {
    if (this.session.destroyed) return;
    const socket = this.session.socket;
    abuseLog.warn(
      "http2-unanswered-streams",
      "HTTP/2 connection closed (ENHANCE_YOUR_CALM): more than " +
        `${unansweredStreamsPerSecondMax} streams ended unanswered within a second (stream reset flood)`,
      { remote: `${socket?.remoteAddress}:${socket?.remotePort}` },
    );
    // The code is that of the final GOAWAY; the error goes to the session's 'error' listener.
    this.session.destroy(
      new Error("stream reset flood"),
      http2.constants.NGHTTP2_ENHANCE_YOUR_CALM,
    );
  }
}

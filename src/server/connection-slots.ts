// The node's connection cap (OnePortServerOptions.connectionsMax) with an eviction policy. The cap
// used to be net.Server.maxConnections, which closes every connection that arrives at it: an
// outside probe (P2) held all 2,048 slots of a leader with one client's slowloris connections
// (partial HTTP/1.1 headers, one byte every 5 s, each reopened 50 ms after the server closed it),
// and for as long as it did, the leader took no other connection. Clients got empty replies, a
// restarted follower could not forward writes to it, and once both followers were restarted
// neither could open its StepStream to the leader, which lost its office.
//
// So a connection is *unproven* until it has delivered one request (HTTP/1.1: a request that
// arrived whole, or was answered; HTTP/2: a stream's HEADERS, since a peer's StepStream request
// never ends). A connection that arrives at the cap takes the slot of the oldest unproven one,
// which is closed. When none is left, it takes that of the proven connection idle the longest:
// one with no request in flight (an HTTP/1.1 keep-alive connection between requests, an HTTP/2
// one without open streams), which its keep-alive or idle timeout would close anyway, and which
// clients must be ready to find closed; otherwise a request every minute or so kept a slot. Only
// when every open connection has a request in flight is the newcomer closed, as before.
// Slowloris connections never prove themselves, so they evict one another, while a client or a
// peer gets a slot and proves itself within milliseconds. And under pressure (open connections at
// 3/4 of the cap or more) an unproven connection has `proveWithinMs` from its arrival, then is
// closed: HTTP/1.1 headers would otherwise get 30 s and a silent HTTP/2 connection 300 s.
//
// The cap stays a bound on descriptors: the newcomer is accepted before a slot is made for it,
// so connectionsMax + 1 are open for the moment between the accept and the eviction. A connection
// closed here leaves the count at once (its descriptor is closed synchronously), not on 'close'.
import type { Socket } from "node:net";
import { RateLimitedLog } from "../obs/rate-limited-log.js";

/** The share of the cap from which unproven connections have `proveWithinMs` to prove themselves. */
export const pressureShare = 3 / 4;

const capLog = new RateLimitedLog(10_000);
const ignoreError = () => undefined;
const remoteOf = (socket: Socket) => `${socket.remoteAddress}:${socket.remotePort}`;

export class ConnectionSlots {
  /** Open connections. */
  private readonly open = new Set<Socket>();
  /** Open connections that have not delivered a request yet, oldest first, and when they came. */
  private readonly unproven = new Map<Socket, number>();
  /** Proven connections with no request in flight, idle the longest first. */
  private readonly idle = new Set<Socket>();
  private sweepTimer: NodeJS.Timeout | undefined;
  /** Unproven connections closed to make room for a newcomer. */
  evicted = 0;
  /** Idle proven connections closed to make room for a newcomer. */
  evictedIdle = 0;
  /** Newcomers closed because every open connection had a request in flight. */
  refused = 0;
  /** Unproven connections closed under pressure for taking longer than proveWithinMs. */
  timedOut = 0;

  constructor(
    private readonly max: number,
    private readonly proveWithinMs: number,
  ) {}

  /** Connections open now. */
  get size(): number {
    return this.open.size;
  }

  /** The open connections. */
  sockets(): IterableIterator<Socket> {
    return this.open.values();
  }

  isUnproven(socket: Socket): boolean {
    return this.unproven.has(socket);
  }

  /**
   * Takes a new connection, unproven, closing the oldest unproven one if it arrives at the cap.
   * False: every open connection is proven; the newcomer has been closed.
   */
  admit(socket: Socket): boolean {
    while (this.open.size >= this.max) {
      const unproven = this.unproven.keys().next();
      const evicted = unproven.done === true ? this.idle.values().next().value : unproven.value;
      if (evicted === undefined) break;
      const remote = remoteOf(evicted);
      if (unproven.done === true) this.evictedIdle++;
      else this.evicted++;
      this.close(evicted);
      capLog.warn(
        unproven.done === true ? "connections-evicted-idle" : "connections-evicted",
        unproven.done === true
          ? `connection cap (${this.max}) reached with every connection proven: closed the one ` +
              "idle the longest, to make room for a new one"
          : `connection cap (${this.max}) reached: closed the oldest connection that had not ` +
              "delivered a request yet, to make room for a new one",
        { evicted: this.evicted, evictedIdle: this.evictedIdle, remote },
      );
    }
    if (this.open.size >= this.max) {
      const remote = remoteOf(socket);
      this.refused++;
      socket.on("error", ignoreError);
      socket.destroy();
      capLog.warn(
        "connections-refused",
        `connection cap (${this.max}) reached with a request in flight on every connection: ` +
          "closed a new connection",
        { refused: this.refused, remote },
      );
      return false;
    }
    this.open.add(socket);
    this.unproven.set(socket, performance.now());
    socket.once("close", () => this.forget(socket));
    this.startSweep();
    return true;
  }

  /** The connection delivered a request: only idle, and after every unproven one, is it evicted. */
  prove(socket: Socket): void {
    if (this.unproven.delete(socket) && this.unproven.size === 0) this.stopSweep();
  }

  /** A request is in flight on the connection (see idleNow). */
  busy(socket: Socket): void {
    this.idle.delete(socket);
  }

  /** A proven connection has no request in flight: newcomers may evict it, idlest first. */
  idleNow(socket: Socket): void {
    if (!this.open.has(socket) || this.unproven.has(socket) || socket.destroyed) return;
    this.idle.delete(socket);
    this.idle.add(socket);
  }

  private close(socket: Socket): void {
    this.forget(socket);
    socket.on("error", ignoreError);
    socket.destroy();
  }

  private forget(socket: Socket): void {
    this.open.delete(socket);
    this.idle.delete(socket);
    if (this.unproven.delete(socket) && this.unproven.size === 0) this.stopSweep();
  }

  /** Closes the unproven connections past their time, under pressure. Runs while there are any. */
  private startSweep(): void {
    if (this.sweepTimer !== undefined) return;
    const periodMs = Math.ceil(Math.min(1_000, Math.max(10, this.proveWithinMs / 4)));
    this.sweepTimer = setInterval(() => this.sweep(), periodMs);
    this.sweepTimer.unref();
  }

  private stopSweep(): void {
    clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
  }

  private sweep(): void {
    if (this.open.size < this.max * pressureShare) return;
    const now = performance.now();
    const openBefore = this.open.size;
    const timedOutBefore = this.timedOut;
    // Oldest first: the first one still in time ends the walk. Deleting while iterating a Map is
    // safe (what is deleted is not visited).
    for (const [socket, arrivedAt] of this.unproven) {
      if (now - arrivedAt < this.proveWithinMs) break;
      this.timedOut++;
      this.close(socket);
    }
    if (this.timedOut > timedOutBefore) {
      capLog.warn(
        "connections-timed-out",
        `connections near the cap (${openBefore} of ${this.max}): closed those that had not ` +
          `delivered a request within ${this.proveWithinMs} ms`,
        { timedOut: this.timedOut },
      );
    }
  }
}

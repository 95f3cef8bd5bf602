// Test harness: a TCP proxy on 127.0.0.1 in front of one node, to cut and heal the links that lead
// to it. A node started with `--advertise 127.0.0.1:<proxy port>` is reached by its peers (Raft
// messages, forwarded writes, snapshot fetches) through its proxy only.
//
// Raft messages travel as Step calls on connections the SENDER opens, so a link's direction is
// the direction connections are opened in: cutting "from A" on B's proxy stops A's messages to B
// while B's messages to A still flow (through A's proxy). To tell which node opened a connection,
// the proxy looks up the process owning the connection's client socket (Linux /proc), among the
// processes the `identify` callback knows.
//
// A cut link either resets (connections closed at once, new ones closed on accept) or black-holes
// (connections stay open and whatever is sent is silently dropped, as a real partition does: calls
// time out). Healing closes black-holed connections, whose byte streams were cut mid-frame.
import { readdir, readFile, readlink } from "node:fs/promises";
import net from "node:net";

export type CutMode = "reset" | "blackhole";

/** Who opened a connection: a node id, or undefined when it is no node we know (a test client). */
export type Identify = (clientPort: number) => Promise<string | undefined>;

interface Connection {
  source: string | undefined;
  client: net.Socket;
  upstream: net.Socket | undefined;
  blackholed: boolean;
}

/** How long `close` waits for the listening socket to close. */
const closeWaitMs = 2_000;

/** Any source, in `cut`. */
export const everyone = "*";

export class TcpProxy {
  private readonly connections = new Set<Connection>();
  /** Every socket this proxy opened or accepted that has not closed yet (closed on `close`). */
  private readonly sockets = new Set<net.Socket>();
  /** Source (node id or `everyone`) → how its connections are cut. */
  private readonly cuts = new Map<string, CutMode>();
  /** Source (node id, or "unknown") → connections severed by a cut. */
  private readonly severed = new Map<string, number>();
  private closed = false;

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
    private readonly target: { host: string; port: number },
    private readonly identify: Identify,
  ) {}

  /** Listens on 127.0.0.1:`port` (0 picks one) and forwards to `target`. */
  static async start(options: {
    target: { host: string; port: number };
    port?: number;
    identify?: Identify;
  }): Promise<TcpProxy> {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port ?? 0, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
    const address = server.address() as net.AddressInfo;
    const proxy = new TcpProxy(
      server,
      address.port,
      options.target,
      options.identify ?? (async () => undefined),
    );
    server.on("connection", (socket) => proxy.accept(socket));
    return proxy;
  }

  /** host:port of the proxy (what the node advertises). */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Connections open now (for tests of the proxy itself). */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** How many connections from `source` (a node id, or "unknown") cuts have severed. */
  severedFrom(source: string): number {
    return this.severed.get(source) ?? 0;
  }

  /** Cuts the link from `source` (a node id, or `everyone`): its open connections too. */
  cut(source: string, mode: CutMode = "reset"): void {
    this.cuts.set(source, mode);
    for (const connection of this.connections) {
      const cutMode = this.cutModeOf(connection.source);
      if (cutMode !== undefined) this.sever(connection, cutMode);
    }
  }

  /** Heals the link from `source`, or every link when omitted. */
  heal(source?: string): void {
    if (source === undefined) this.cuts.clear();
    else this.cuts.delete(source);
    for (const connection of this.connections) {
      if (connection.blackholed && this.cutModeOf(connection.source) === undefined)
        this.drop(connection);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const connection of this.connections) this.drop(connection);
    for (const socket of this.sockets) socket.destroy();
    // server.close waits for every accepted socket to close; all are destroyed, but never let a
    // straggler hold the test process: give up waiting after a bound.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => this.server.close(() => resolve())),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, closeWaitMs);
      }),
    ]);
    clearTimeout(timer);
    this.server.unref();
  }

  private track(socket: net.Socket): net.Socket {
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
    return socket;
  }

  private cutModeOf(source: string | undefined): CutMode | undefined {
    return (source === undefined ? undefined : this.cuts.get(source)) ?? this.cuts.get(everyone);
  }

  private accept(client: net.Socket): void {
    this.track(client);
    if (this.closed) {
      client.destroy();
      return;
    }
    client.pause();
    const connection: Connection = {
      source: undefined,
      client,
      upstream: undefined,
      blackholed: false,
    };
    this.connections.add(connection);
    client.on("error", () => this.drop(connection));
    client.on("close", () => this.drop(connection));
    void this.identify(client.remotePort ?? 0)
      .catch(() => undefined)
      .then((source) => {
        if (client.destroyed || this.closed) return;
        connection.source = source;
        const cutMode = this.cutModeOf(source);
        if (cutMode !== undefined) {
          this.sever(connection, cutMode);
          return;
        }
        const upstream = this.track(net.connect(this.target.port, this.target.host));
        connection.upstream = upstream;
        upstream.on("error", () => this.drop(connection));
        upstream.on("close", () => this.drop(connection));
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
  }

  /** Resets a connection, or keeps it open and drops everything either side sends. */
  private sever(connection: Connection, mode: CutMode): void {
    const source = connection.source ?? "unknown";
    if (!connection.blackholed) this.severed.set(source, (this.severed.get(source) ?? 0) + 1);
    if (mode === "reset") {
      this.drop(connection);
      return;
    }
    if (connection.blackholed) return;
    connection.blackholed = true;
    const { client, upstream } = connection;
    client.unpipe();
    client.removeAllListeners("data");
    client.on("data", () => undefined);
    client.resume();
    if (upstream !== undefined) {
      upstream.unpipe();
      upstream.removeAllListeners("data");
      upstream.on("data", () => undefined);
      upstream.resume();
    }
  }

  private drop(connection: Connection): void {
    if (!this.connections.delete(connection)) return;
    reset(connection.client);
    if (connection.upstream !== undefined) reset(connection.upstream);
  }
}

/**
 * Closes a socket with a RST (peers see ECONNRESET at once, as when a link breaks); a socket still
 * connecting is destroyed outright (resetAndDestroy would wait for a connection that may never
 * come, and keep the process alive).
 */
function reset(socket: net.Socket): void {
  if (socket.destroyed) return;
  if (socket.connecting) socket.destroy();
  else socket.resetAndDestroy();
}

/**
 * The pid, among `pids`, of the process that owns the TCP socket 127.0.0.1:`localPort` connected
 * to 127.0.0.1:`remotePort` (Linux only: /proc/net/tcp and /proc/PID/fd).
 */
export async function socketOwner(
  localPort: number,
  remotePort: number,
  pids: readonly number[],
): Promise<number | undefined> {
  const table = await readFile("/proc/net/tcp", "utf8").catch(() => "");
  let inode: string | undefined;
  for (const line of table.split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    const local = fields[1];
    const remote = fields[2];
    if (local === undefined || remote === undefined) continue;
    if (portOf(local) === localPort && portOf(remote) === remotePort) {
      inode = fields[9];
      break;
    }
  }
  if (inode === undefined || inode === "0") return undefined;
  const wanted = `socket:[${inode}]`;
  for (const pid of pids) {
    const descriptors = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const descriptor of descriptors) {
      const link = await readlink(`/proc/${pid}/fd/${descriptor}`).catch(() => "");
      if (link === wanted) return pid;
    }
  }
  return undefined;
}

function portOf(hexAddress: string): number {
  return Number.parseInt(hexAddress.slice(hexAddress.indexOf(":") + 1), 16);
}

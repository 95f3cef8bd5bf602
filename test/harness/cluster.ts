// Test harness: a cluster of real tidelog nodes (child processes, see node-process.ts) on
// 127.0.0.1. The first node bootstraps, the others join through it. Each node listens on a port
// picked up front and kept across restarts (peers know a node by its address); with `proxies`,
// each node advertises a TCP proxy (tcp-proxy.ts) in front of it, so links between nodes can be
// cut and healed while test clients still reach every node directly.
//
// Faults: kill (SIGKILL), pause (SIGSTOP) / resume (SIGCONT), terminate (SIGTERM), restart on the
// same data directory, wipe the data directory, cut links. Every wait is bounded; `close()` (and a
// file-level `after` hook) stops every process and proxy and removes the data directories.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { create } from "@bufbuild/protobuf";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import {
  ClusterService,
  GetServersRequestSchema,
  type GetServersResponse,
} from "../../src/gen/tidelog/v1/cluster_service_pb.js";
import { LogService, StartPosition } from "../../src/gen/tidelog/v1/log_service_pb.js";
import { TopicService } from "../../src/gen/tidelog/v1/topic_service_pb.js";
import { type ClosableTransport, createNodeTransport } from "./clients.js";
import type { NodeLogs } from "./history.js";
import { NodeProcess } from "./node-process.js";
import { type CutMode, everyone, socketOwner, TcpProxy } from "./tcp-proxy.js";

/** Raft tick used by cluster tests: elections take 0.5–1 s. */
export const clusterTickMs = 50;
/** Deadline of one admin or read call from the harness. */
const callTimeoutMs = 3_000;
/** Records per Consume call when reading a whole log. */
const readBatchRecords = 2_000;
/** Bound on Consume calls when reading one topic of one node. */
const readCallsMax = 1_000;
/** stderr kept of earlier incarnations of a node (restarts), for failure messages. */
const pastStderrBytesMax = 16 * 1024;

export interface ClusterOptions {
  size: number;
  /** Extra `serve` flags for every node (e.g. ["--snapshot-entries", "200"]). */
  args?: string[];
  /** Put a TCP proxy in front of every node and advertise it to peers. */
  proxies?: boolean;
  /** Extra environment for the nodes (e.g. { TIDELOG_DEBUG: "1" }). */
  env?: Record<string, string>;
  tickMs?: number;
  /** Every node's open-file limit (`ulimit -n`). */
  openFilesLimit?: number;
}

export interface Member {
  readonly id: string;
  /** host:port clients use (the node's own port). */
  readonly address: string;
  /** host:port peers use (the proxy's, or the node's own). */
  readonly peerAddress: string;
  readonly dataDirectory: string;
  readonly proxy: TcpProxy | undefined;
  /** The process; undefined before it first started. */
  process: NodeProcess | undefined;
  paused: boolean;
  /** Removed from the cluster (Leave): not expected in GetServers nor in checks. */
  removed: boolean;
  /** stderr of earlier incarnations. */
  pastStderr: string;
  /** The harness stopped the current process on purpose (kill, terminate, close). */
  stoppedOnPurpose: boolean;
}

interface Clients {
  transport: ClosableTransport;
  log: Client<typeof LogService>;
  cluster: Client<typeof ClusterService>;
  topics: Client<typeof TopicService>;
}

const clusters = new Set<Cluster>();

after(async () => {
  await Promise.all([...clusters].map((cluster) => cluster.close()));
  // Everything is closed: if something still keeps this test process alive a while later, say
  // what (the runner would otherwise only report a file timeout minutes later).
  setTimeout(() => {
    const handles = (process as unknown as { _getActiveHandles(): object[] })._getActiveHandles();
    const described = handles.map((handle) => {
      const socket = handle as Partial<net.Socket>;
      return `${handle.constructor.name} ${socket.localPort ?? ""}->${socket.remotePort ?? ""}${socket.destroyed ? " destroyed" : ""}${socket.connecting ? " connecting" : ""}`;
    });
    process.stderr.write(
      `cluster harness: the process is still alive; handles: ${described.join(", ")}\n`,
    );
  }, 15_000).unref();
});

export class Cluster {
  private readonly membersById = new Map<string, Member>();
  private readonly clients = new Map<string, Clients>();
  private clusterIdValue: string | undefined;
  private closed = false;
  private readonly beforeClose: (() => Promise<void>)[] = [];

  private constructor(
    readonly root: string,
    private readonly options: ClusterOptions,
  ) {}

  /** Starts `size` nodes: n1 bootstraps, n2… join through n1 one after the other. */
  static async start(options: ClusterOptions): Promise<Cluster> {
    const root = await mkdtemp(join(tmpdir(), "tidelog-cluster-"));
    const cluster = new Cluster(root, options);
    clusters.add(cluster);
    try {
      await cluster.addNode("n1", { bootstrap: true });
      for (let i = 2; i <= options.size; i++) await cluster.addNode(`n${i}`);
    } catch (error) {
      const logs = cluster.logs();
      await cluster.close();
      throw new Error(`cluster did not start: ${String(error)}\n${logs}`);
    }
    return cluster;
  }

  get members(): Member[] {
    return [...this.membersById.values()];
  }

  /** Members not removed. */
  get ids(): string[] {
    return this.members.filter((member) => !member.removed).map((member) => member.id);
  }

  /** Members whose process runs and is not paused. */
  get liveIds(): string[] {
    return this.members
      .filter((member) => !member.removed && !member.paused && member.process?.running === true)
      .map((member) => member.id);
  }

  member(id: string): Member {
    const member = this.membersById.get(id);
    if (member === undefined) throw new Error(`no member ${id}`);
    return member;
  }

  /**
   * Starts a new node: with `bootstrap`, forms the cluster; otherwise joins through `through`
   * (a member id; default: the first live member). Resolves once it serves (after joining).
   * `dataDirectory` (default: under the cluster's root) is the caller's to remove.
   */
  async addNode(
    id: string,
    options: {
      bootstrap?: boolean;
      through?: string;
      args?: string[];
      dataDirectory?: string;
    } = {},
  ): Promise<Member> {
    if (this.membersById.has(id)) throw new Error(`member ${id} exists`);
    const port = await freePort();
    const proxy: TcpProxy | undefined = this.options.proxies
      ? await TcpProxy.start({
          target: { host: "127.0.0.1", port },
          identify: (clientPort): Promise<string | undefined> =>
            this.identify(clientPort, proxy!.port),
        })
      : undefined;
    const member: Member = {
      id,
      address: `127.0.0.1:${port}`,
      peerAddress: proxy?.address ?? `127.0.0.1:${port}`,
      dataDirectory: options.dataDirectory ?? join(this.root, id),
      proxy,
      process: undefined,
      paused: false,
      removed: false,
      pastStderr: "",
      stoppedOnPurpose: false,
    };
    this.membersById.set(id, member);
    const through = options.through ?? this.liveIds.find((other) => other !== id);
    const membership = options.bootstrap
      ? ["--bootstrap"]
      : ["--join", this.member(through ?? "").address, "--cluster-id", await this.clusterId()];
    const { node, serving } = await NodeProcess.launch({
      id,
      dataDirectory: member.dataDirectory,
      listen: member.address,
      args: [...membership, ...this.commonArgs(member), ...(options.args ?? [])],
      env: this.options.env ?? {},
      startTimeoutMs: 60_000,
      ...(this.options.openFilesLimit === undefined
        ? {}
        : { openFilesLimit: this.options.openFilesLimit }),
    });
    // Set before it serves, so that a test can kill a node while it joins.
    member.process = node;
    await serving;
    return member;
  }

  // --- faults -----------------------------------------------------------------------------------

  /** SIGKILL, and waits for the exit. */
  async kill(id: string): Promise<void> {
    const member = this.member(id);
    member.stoppedOnPurpose = true;
    member.process!.kill("SIGKILL");
    await member.process!.waitExit();
    member.paused = false;
    this.dropClients(id);
  }

  /** SIGSTOP: the process stops dead, its sockets stay open. */
  pause(id: string): void {
    const member = this.member(id);
    member.process!.kill("SIGSTOP");
    member.paused = true;
  }

  /** SIGCONT. */
  resume(id: string): void {
    const member = this.member(id);
    member.process!.kill("SIGCONT");
    member.paused = false;
  }

  /** SIGTERM (an orderly stop), and waits for the exit; resolves with how it exited. */
  async terminate(id: string, timeoutMs = 15_000): Promise<{ code: number | null }> {
    const member = this.member(id);
    member.stoppedOnPurpose = true;
    member.process!.kill("SIGTERM");
    const status = await member.process!.waitExit(timeoutMs);
    this.dropClients(id);
    return status;
  }

  /**
   * Starts a stopped node again on its data directory and port; `args` replace its membership
   * flags (default: none, as a restarted member needs).
   */
  async restart(id: string, args: string[] = []): Promise<void> {
    const member = this.member(id);
    member.pastStderr = (member.pastStderr + member.process!.stderr).slice(-pastStderrBytesMax);
    this.dropClients(id);
    member.stoppedOnPurpose = false;
    // A --join needs the cluster's id, as an operator gives it.
    const credential = args.includes("--join") ? ["--cluster-id", await this.clusterId()] : [];
    await member.process!.restart([...args, ...credential, ...this.commonArgs(member)]);
  }

  /** Marks a member removed (after a Leave): no longer targeted, checked nor expected. */
  markRemoved(id: string): void {
    this.member(id).removed = true;
  }

  /** Ids of the servers `id` lists in GetServers (sorted), with voter flags: "n1", "n4 (learner)". */
  async membership(id: string): Promise<string[]> {
    const response = await this.servers(id);
    return response.servers
      .map((server) => (server.voter ? server.id : `${server.id} (learner)`))
      .sort();
  }

  /** Removes a stopped node's data directory. */
  async wipe(id: string): Promise<void> {
    const member = this.member(id);
    if (member.process?.running) throw new Error(`${id} is running: stop it before wiping`);
    await rm(member.dataDirectory, { recursive: true, force: true, maxRetries: 3 });
  }

  /** Cuts the links into `to` from `from` (a member id, or every peer when omitted). */
  cut(to: string, from?: string, mode: CutMode = "reset"): void {
    const proxy = this.member(to).proxy;
    if (proxy === undefined) throw new Error("the cluster was started without proxies");
    proxy.cut(from ?? everyone, mode);
  }

  /** Cuts every link into and out of `id`. */
  isolate(id: string, mode: CutMode = "reset"): void {
    this.cut(id, undefined, mode);
    for (const other of this.members) if (other.id !== id) this.cut(other.id, id, mode);
  }

  /** Heals every cut link. */
  heal(): void {
    for (const member of this.members) member.proxy?.heal();
  }

  // --- observation ------------------------------------------------------------------------------

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * The cluster's id, the members' credential for membership changes (cluster-credential.ts),
   * read from a member's data directory as an operator would.
   */
  async clusterId(): Promise<string> {
    if (this.clusterIdValue !== undefined) return this.clusterIdValue;
    for (const member of this.membersById.values()) {
      const text = await readFile(join(member.dataDirectory, "cluster-id"), "utf8").catch(() => "");
      if (text.trim() !== "") {
        this.clusterIdValue = text.trim();
        return this.clusterIdValue;
      }
    }
    throw new Error("no member holds the cluster's id yet");
  }

  /**
   * A member's Connect gRPC clients (one HTTP/2 connection, reconnecting as needed). Their calls
   * carry the cluster's id, once known, as an operator's membership changes do.
   */
  client(id: string): Clients {
    if (this.closed) throw new Error("the cluster is closed");
    let clients = this.clients.get(id);
    if (clients === undefined) {
      const transport = createNodeTransport("grpc", `http://${this.member(id).address}`, [
        (next) => async (request) => {
          if (this.clusterIdValue === undefined) await this.clusterId().catch(() => undefined);
          if (this.clusterIdValue !== undefined)
            request.header.set("tidelog-cluster-id", this.clusterIdValue);
          return next(request);
        },
      ]);
      clients = {
        transport,
        log: createClient(LogService, transport.transport),
        cluster: createClient(ClusterService, transport.transport),
        topics: createClient(TopicService, transport.transport),
      };
      this.clients.set(id, clients);
    }
    return clients;
  }

  async servers(id: string, timeoutMs = callTimeoutMs): Promise<GetServersResponse> {
    return this.client(id).cluster.getServers(create(GetServersRequestSchema, {}), { timeoutMs });
  }

  /**
   * The leader the live members agree on: a member that says it leads, which every other live
   * member (of `among`, default all live) that answers also names, at the same term.
   */
  async leader(among: string[] = this.liveIds): Promise<string | undefined> {
    const answers = await Promise.all(
      among.map(async (id) => {
        try {
          const response = await this.servers(id, 1_000);
          const lead = response.servers.find((server) => server.isLeader);
          return { id, lead: lead?.id, term: lead?.term };
        } catch {
          return { id, lead: undefined, term: undefined };
        }
      }),
    );
    const self = answers.find((answer) => answer.lead === answer.id);
    if (self === undefined) return undefined;
    const agree = answers.filter((answer) => answer.lead === self.id && answer.term === self.term);
    return agree.length === answers.length ? self.id : undefined;
  }

  /** Waits until `among` agree on a leader (not in `excluding`), and returns it. */
  async waitForLeader(
    options: { among?: string[]; excluding?: string[]; timeoutMs?: number } = {},
  ): Promise<string> {
    let found: string | undefined;
    await waitUntil(
      async () => {
        found = await this.leader(options.among ?? this.liveIds);
        return found !== undefined && !(options.excluding ?? []).includes(found);
      },
      () => `no agreed leader among ${(options.among ?? this.liveIds).join(",")}\n${this.logs()}`,
      options.timeoutMs ?? 15_000,
      100,
    );
    return found!;
  }

  /** What `id`'s /readyz answers: its status, and its reason ("" when there is none). */
  async readiness(id: string): Promise<{ status: number; reason: string }> {
    const response = await fetch(`http://${this.member(id).address}/readyz`);
    const body = (await response.json()) as { reason?: string };
    return { status: response.status, reason: body.reason ?? "" };
  }

  /** Waits until `id`'s /readyz answers 503 with a reason matching `reason`; resolves with it. */
  async waitNotReady(
    id: string,
    reason: RegExp,
    timeoutMs: number,
  ): Promise<{ status: number; reason: string }> {
    let last = { status: 0, reason: "" };
    await waitUntil(
      async () => {
        last = await this.readiness(id);
        return last.status === 503 && reason.test(last.reason);
      },
      () => `${id}'s /readyz never answered 503 ${reason}: last ${JSON.stringify(last)}`,
      timeoutMs,
      100,
    );
    return last;
  }

  /** The next offset of `topic` on `id` (0 when it does not know the topic). */
  async nextOffset(id: string, topic: string): Promise<number> {
    try {
      const response = await this.client(id).log.consume(
        { topic, start: StartPosition.TAIL, tailBack: 0n, maxRecords: 1 },
        { timeoutMs: callTimeoutMs },
      );
      return Number(response.highWatermark);
    } catch (error) {
      if (ConnectError.from(error).code === Code.NotFound) return 0;
      throw error;
    }
  }

  /** Waits until `id` holds `topic` up to at least `minimum` (its next offset), while writes go on. */
  async waitCaughtUp(
    id: string,
    topic: string,
    minimum: number,
    timeoutMs = 20_000,
  ): Promise<void> {
    let last = "";
    await waitUntil(
      async () => {
        try {
          const next = await this.nextOffset(id, topic);
          last = String(next);
          return next >= minimum;
        } catch (error) {
          last = `(error: ${String(error)})`;
          return false;
        }
      },
      () => `${id} did not reach ${topic}@${minimum}; last next offset ${last}\n${this.logs()}`,
      timeoutMs,
      100,
    );
  }

  /**
   * Waits until every member in `ids` (default: all not removed) holds the same next offset for
   * each topic, at least `minimum[topic]`, twice in a row.
   */
  async waitConverged(
    topics: string[],
    options: { ids?: string[]; minimum?: Map<string, number>; timeoutMs?: number } = {},
  ): Promise<void> {
    const ids = options.ids ?? this.ids;
    let previous = "";
    let last = "";
    await waitUntil(
      async () => {
        const ends: number[][] = [];
        try {
          for (const topic of topics)
            ends.push(await Promise.all(ids.map((id) => this.nextOffset(id, topic))));
        } catch (error) {
          last = `(error: ${String(error)})`;
          return false;
        }
        last = JSON.stringify(Object.fromEntries(topics.map((topic, i) => [topic, ends[i]])));
        const equal = ends.every(
          (row, i) =>
            row.every((end) => end === row[0]) &&
            (row[0] ?? 0) >= (options.minimum?.get(topics[i]!) ?? 0),
        );
        const stable = equal && last === previous;
        previous = equal ? last : "";
        return stable;
      },
      () => `nodes ${ids.join(",")} did not converge; last next offsets ${last}\n${this.logs()}`,
      options.timeoutMs ?? 30_000,
      150,
    );
  }

  /** All values of `topic` on `id`, by offset from 0; throws on a gap or a retained-away start. */
  async readLog(id: string, topic: string): Promise<string[]> {
    const values: string[] = [];
    const end = await this.nextOffset(id, topic);
    for (let call = 0; values.length < end; call++) {
      if (call >= readCallsMax) throw new Error(`reading ${topic} from ${id}: too many calls`);
      const response = await this.client(id).log.consume(
        { topic, offset: BigInt(values.length), maxRecords: readBatchRecords },
        { timeoutMs: 10_000 },
      );
      if (response.records.length === 0) break;
      for (const record of response.records) {
        if (Number(record.offset) !== values.length)
          throw new Error(`${id} ${topic}: expected offset ${values.length}, got ${record.offset}`);
        values.push(Buffer.from(record.value).toString("utf8"));
      }
    }
    if (values.length !== end) throw new Error(`${id} ${topic}: read ${values.length} of ${end}`);
    return values;
  }

  /** Every topic's log on every member in `ids` (default: all not removed). */
  async readAll(topics: string[], ids = this.ids): Promise<Map<string, NodeLogs>> {
    const result = new Map<string, NodeLogs>();
    for (const id of ids) {
      const logs: NodeLogs = new Map();
      for (const topic of topics) logs.set(topic, await this.readLog(id, topic));
      result.set(id, logs);
    }
    return result;
  }

  /** Every member's state and stderr (of every incarnation), for failure messages. */
  logs(): string {
    return this.members
      .map((member) => {
        const past = member.pastStderr === "" ? "" : `earlier stderr:\n${member.pastStderr}\n`;
        const current = member.process?.describe() ?? `node ${member.id} never started`;
        // A node that exited without the harness stopping it crashed, or something outside the
        // test signalled it (another test run's cleanup, say): either way the failure says so.
        const unexpected =
          member.process !== undefined && !member.process.running && !member.stoppedOnPurpose
            ? " (EXITED WITHOUT THE TEST STOPPING IT)"
            : "";
        return `--- ${member.id}${member.paused ? " (paused)" : ""}${member.removed ? " (removed)" : ""}${unexpected}\n${past}${current}`;
      })
      .join("\n");
  }

  /**
   * Starts a cluster, runs `body` on it, and closes it whatever happens: a failure carries every
   * node's state and stderr (withLogs), and workloads started on it are stopped first.
   */
  static async run<T>(options: ClusterOptions, body: (cluster: Cluster) => Promise<T>): Promise<T> {
    const cluster = await Cluster.start(options);
    try {
      return await body(cluster);
    } catch (error) {
      throw withLogs(error, cluster);
    } finally {
      await cluster.close();
    }
  }

  /** Registers work to stop before close() stops the nodes (a Workload's loops). */
  onClose(stop: () => Promise<void>): void {
    this.beforeClose.push(stop);
  }

  /**
   * Stops what registered with onClose, then every process (SIGKILL), closes proxies and clients,
   * removes the data directories.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    await Promise.all(this.beforeClose.splice(0).map((stop) => stop()));
    this.closed = true;
    clusters.delete(this);
    for (const member of this.members) member.stoppedOnPurpose = true;
    for (const id of this.clients.keys()) this.dropClients(id);
    await Promise.all(this.members.map((member) => member.process?.destroy()));
    await Promise.all(this.members.map((member) => member.proxy?.close()));
    await rm(this.root, { recursive: true, force: true, maxRetries: 3 });
  }

  private commonArgs(member: Member): string[] {
    return [
      "--raft-tick-ms",
      String(this.options.tickMs ?? clusterTickMs),
      "--advertise",
      member.peerAddress,
      ...(this.options.args ?? []),
    ];
  }

  private dropClients(id: string): void {
    this.clients.get(id)?.transport.close();
    this.clients.delete(id);
  }

  /** Which member opened the connection whose client socket is 127.0.0.1:`clientPort`. */
  private async identify(clientPort: number, proxyPort: number): Promise<string | undefined> {
    const byPid = new Map<number, string>();
    for (const member of this.members) {
      const pid = member.process?.running ? member.process.pid : undefined;
      if (pid !== undefined) byPid.set(pid, member.id);
    }
    const pid = await socketOwner(clientPort, proxyPort, [...byPid.keys()]);
    return pid === undefined ? undefined : byPid.get(pid);
  }
}

/** `error` with every node's state and stderr appended (unless its message already has them). */
export function withLogs(error: unknown, cluster: Cluster): Error {
  const message = error instanceof Error ? error.message : String(error);
  if (message.includes("\nstderr:\n")) return error instanceof Error ? error : new Error(message);
  return new Error(`${message}\n${cluster.logs()}`, { cause: error });
}

/**
 * Waits until `condition()` holds, checking every `intervalMs`, for at most `timeoutMs`; then
 * fails with `message()` (evaluated then, so it can tell the last state seen).
 */
export async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  message: () => string,
  timeoutMs: number,
  intervalMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms: ${message()}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** A port free on 127.0.0.1 right now (the OS picks it). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

// Real tidelog nodes for benchmarks: `bin/tidelog serve` child processes on 127.0.0.1 (ports
// picked by the OS) with data directories in a fresh temporary directory on the real disk.
// Every child is tracked and SIGKILLed if the benchmark process exits any other way; `stop()`
// terminates the nodes (SIGTERM, then SIGKILL) and removes their directories.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import {
  ClusterService,
  GetServersRequestSchema,
} from "../../src/gen/tidelog/v1/cluster_service_pb.js";

/** How long a node may take to print its "tidelog serving" line (a joiner: until it is a voter). */
export const nodeStartTimeoutMs = 60_000;
/** How long a node gets to exit after SIGTERM before it is SIGKILLed. */
export const nodeStopTimeoutMs = 10_000;
/**
 * The same for the nodes stopped after the first: the last leader of a cluster whose peers are
 * gone waits out a leadership transfer (10 election timeouts' worth by default) before exiting,
 * which is not worth waiting for at the end of a benchmark.
 */
const remainingStopTimeoutMs = 3_000;
/** How long to wait for the cluster to agree on a leader. */
const leaderTimeoutMs = 15_000;
/** Bytes of a node's stderr kept for error messages (the newest ones). */
const stderrBytesMax = 16 * 1024;

const children = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

export interface NodeLaunchOptions {
  /** Flags for node itself, before the script (e.g. --cpu-prof). */
  nodeFlags?: readonly string[];
  /** Extra `serve` flags. */
  serveArgs?: readonly string[];
  env?: Record<string, string>;
}

export class BenchNode {
  private stderrTail = "";

  private constructor(
    readonly id: string,
    readonly dataDirectory: string,
    private readonly child: ChildProcess,
    private readonly exited: Promise<void>,
    private addressValue = "",
  ) {}

  get address(): string {
    return this.addressValue;
  }

  get baseUrl(): string {
    return `http://${this.addressValue}`;
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  static async start(
    id: string,
    dataDirectory: string,
    membership: readonly string[],
    options: NodeLaunchOptions,
  ): Promise<BenchNode> {
    const child = spawn(
      process.execPath,
      [
        ...(options.nodeFlags ?? []),
        "bin/tidelog",
        "serve",
        "--id",
        id,
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        dataDirectory,
        ...membership,
        ...(options.serveArgs ?? []),
      ],
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...options.env } },
    );
    children.add(child);
    const exited = new Promise<void>((resolve) =>
      child.once("exit", () => {
        children.delete(child);
        resolve();
      }),
    );
    const node = new BenchNode(id, dataDirectory, child, exited);
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (chunk: string) => {
      node.stderrTail = (node.stderrTail + chunk).slice(-stderrBytesMax);
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      node.addressValue = await Promise.race([
        servingAddress(child),
        exited.then(() => {
          throw new Error(`node ${id} exited before serving`);
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`node ${id} did not serve within ${nodeStartTimeoutMs} ms`)),
            nodeStartTimeoutMs,
          );
        }),
      ]);
    } catch (error) {
      await node.kill();
      throw new Error(`${(error as Error).message}\nstderr:\n${node.stderrTail}`);
    } finally {
      clearTimeout(timer);
    }
    return node;
  }

  /** SIGTERM (an orderly stop, which also writes --cpu-prof profiles), then SIGKILL. */
  async stop(timeoutMs = nodeStopTimeoutMs): Promise<"exited" | "killed"> {
    if (!this.running) return "exited";
    this.child.kill("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), timeoutMs);
    });
    const timedOut = await Promise.race([this.exited.then(() => false), gaveUp]);
    clearTimeout(timer);
    if (!timedOut) return "exited";
    await this.kill();
    return "killed";
  }

  async kill(): Promise<void> {
    if (this.running) this.child.kill("SIGKILL");
    await this.exited;
  }
}

export class BenchCluster {
  private constructor(
    readonly nodes: readonly BenchNode[],
    private readonly directory: string,
  ) {}

  /** Starts `size` nodes: the first bootstraps, the others join it one at a time. */
  static async start(size: number, options: NodeLaunchOptions = {}): Promise<BenchCluster> {
    const directory = await mkdtemp(join(tmpdir(), "tidelog-bench-"));
    const nodes: BenchNode[] = [];
    const cluster = new BenchCluster(nodes, directory);
    try {
      for (let i = 1; i <= size; i++) {
        // A joiner is given the cluster's id, the members' credential, as an operator gives it.
        const membership =
          i === 1
            ? ["--bootstrap"]
            : [
                "--join",
                nodes[0]!.address,
                "--cluster-id",
                (await readFile(join(directory, "n1", "cluster-id"), "utf8")).trim(),
              ];
        nodes.push(await BenchNode.start(`n${i}`, join(directory, `n${i}`), membership, options));
      }
      return cluster;
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  }

  /** The node every member agrees leads, asked through GetServers (polls until one does). */
  async leader(): Promise<BenchNode> {
    const deadline = Date.now() + leaderTimeoutMs;
    const sessions = new Http2SessionManager(this.nodes[0]!.baseUrl);
    try {
      const client = createClient(
        ClusterService,
        createGrpcTransport({ baseUrl: this.nodes[0]!.baseUrl, sessionManager: sessions }),
      );
      while (Date.now() < deadline) {
        const { servers } = await client.getServers(create(GetServersRequestSchema, {}), {
          timeoutMs: 5_000,
        });
        const leader = servers.find((server) => server.isLeader);
        const node = this.nodes.find((candidate) => candidate.id === leader?.id);
        if (node !== undefined && servers.length === this.nodes.length) return node;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      sessions.abort();
    }
    throw new Error(`no leader within ${leaderTimeoutMs} ms`);
  }

  /**
   * Stops `first` (e.g. the leader: it hands over to a live peer and exits promptly, which is also
   * when --cpu-prof writes its profile), then the others together, SIGKILLing any that linger;
   * then removes the data directories.
   */
  async stop(first?: BenchNode): Promise<void> {
    if (first !== undefined && (await first.stop()) === "killed")
      process.stderr.write(
        `node ${first.id} ignored SIGTERM for ${nodeStopTimeoutMs} ms: killed\n`,
      );
    const rest = this.nodes.filter((node) => node !== first);
    await Promise.all(rest.map((node) => node.stop(remainingStopTimeoutMs)));
    await rm(this.directory, { recursive: true, force: true, maxRetries: 3 });
  }
}

function servingAddress(child: ChildProcess): Promise<string> {
  return new Promise((resolve) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on("line", (line) => {
      try {
        const parsed = JSON.parse(line) as { message?: unknown; address?: unknown };
        if (parsed.message === "tidelog serving" && typeof parsed.address === "string")
          resolve(parsed.address);
      } catch {
        // not a JSON line: ignore
      }
    });
  });
}

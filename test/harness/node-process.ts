// Test harness: a real tidelog node as a child process (`bin/tidelog serve`), on 127.0.0.1 and a
// port picked by the OS, with a fresh data directory under os.tmpdir(). It can be killed with any
// signal (SIGKILL, SIGTERM, SIGSTOP, SIGCONT) and restarted on the same data directory.
//
// No process is ever left behind: every child is tracked, killed by the file-level `after` hook
// registered here (and by `destroy()`), and SIGKILLed synchronously if the test process exits
// some other way.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after } from "node:test";

/** How long a node may take to print its "tidelog serving" line. */
export const nodeStartTimeoutMs = 15_000;
/** How long `stop()` waits after SIGTERM before it sends SIGKILL. */
export const nodeStopTimeoutMs = 10_000;
/** Bytes of stderr kept for failure messages (the newest ones). */
const stderrBytesMax = 64 * 1024;

const children = new Set<ChildProcess>();
const directories = new Set<string>();

process.on("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

// The file's own `after` hooks run first (in registration order), then this one.
after(async () => {
  await Promise.all([...children].map((child) => killAndWait(child)));
  await Promise.all([...directories].map((directory) => removeDirectory(directory)));
});

export interface NodeProcessOptions {
  /** The node id (--id). */
  id?: string;
  /** An existing data directory; a fresh one under os.tmpdir() otherwise (removed at the end). */
  dataDirectory?: string;
  /** More `serve` flags, e.g. ["--no-auto-create-topics"]. */
  args?: string[];
  startTimeoutMs?: number;
  /** --listen (default 127.0.0.1:0); a fixed port keeps the node's address across restarts. */
  listen?: string;
  /** Extra environment variables for the child, e.g. { TIDELOG_DEBUG: "1" }. */
  env?: Record<string, string>;
  /** The child's open-file limit (`ulimit -n`, soft and hard), else the harness's own. */
  openFilesLimit?: number;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class NodeProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<ExitStatus> = Promise.resolve({ code: null, signal: null });
  private stderrText = "";
  private stdoutLines: string[] = [];
  private currentAddress = "";

  private constructor(
    readonly id: string,
    readonly dataDirectory: string,
    private args: readonly string[],
    private readonly startTimeoutMs: number,
    private readonly listen: string,
    private readonly env: Record<string, string>,
    /** The open-file limit of the next start (`ulimit -n`); undefined: the harness's own. */
    public openFilesLimit: number | undefined,
  ) {}

  /** Starts a node and resolves once it serves. */
  static async start(options: NodeProcessOptions = {}): Promise<NodeProcess> {
    const { node, serving } = await NodeProcess.launch(options);
    await serving;
    return node;
  }

  /**
   * Starts a node and resolves at once with it (its process running), and with a promise that
   * resolves once it serves: for faults injected while a node starts (a kill mid-join).
   */
  static async launch(
    options: NodeProcessOptions = {},
  ): Promise<{ node: NodeProcess; serving: Promise<void> }> {
    let dataDirectory = options.dataDirectory;
    if (dataDirectory === undefined) {
      dataDirectory = await mkdtemp(join(tmpdir(), "tidelog-node-"));
      directories.add(dataDirectory);
    }
    const node = new NodeProcess(
      options.id ?? "node-1",
      dataDirectory,
      options.args ?? [],
      options.startTimeoutMs ?? nodeStartTimeoutMs,
      options.listen ?? "127.0.0.1:0",
      options.env ?? {},
      options.openFilesLimit,
    );
    return { node, serving: node.spawn() };
  }

  /** host:port the node serves on (changes on restart: port 0 picks a new one). */
  get address(): string {
    return this.currentAddress;
  }

  /** http://host:port */
  get baseUrl(): string {
    return `http://${this.currentAddress}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** True while the child process has not exited. */
  get running(): boolean {
    return (
      this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
    );
  }

  /** Everything the current process wrote to stderr (the newest 64 KiB): for failure messages. */
  get stderr(): string {
    return this.stderrText;
  }

  /** Lines the current process wrote to stdout. */
  get stdout(): readonly string[] {
    return this.stdoutLines;
  }

  kill(signal: NodeJS.Signals): void {
    if (!this.running) throw new Error(`node ${this.id} is not running`);
    this.child!.kill(signal);
  }

  /** Resolves when the current process exits, or rejects after `timeoutMs`. */
  async waitExit(timeoutMs = nodeStopTimeoutMs): Promise<ExitStatus> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.exited,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new Error(
                  `node ${this.id} did not exit within ${timeoutMs} ms\n${this.describe()}`,
                ),
              ),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGTERM, then SIGKILL if it has not exited within `timeoutMs`. */
  async stop(timeoutMs = nodeStopTimeoutMs): Promise<ExitStatus> {
    if (!this.running) return this.exited;
    this.child!.kill("SIGCONT"); // a paused process cannot handle SIGTERM
    this.child!.kill("SIGTERM");
    try {
      return await this.waitExit(timeoutMs);
    } catch {
      this.child?.kill("SIGKILL");
      return this.exited;
    }
  }

  /**
   * Starts the node again on the same data directory; the previous process must have exited.
   * `args`, when given, replace the extra `serve` flags from now on.
   */
  async restart(args?: readonly string[]): Promise<void> {
    if (this.running) throw new Error(`node ${this.id} is still running: kill it first`);
    if (args !== undefined) this.args = args;
    await this.spawn();
  }

  /** Kills the process (SIGKILL) and removes the data directory if the harness made it. */
  async destroy(): Promise<void> {
    if (this.child !== undefined) await killAndWait(this.child);
    if (directories.has(this.dataDirectory)) {
      directories.delete(this.dataDirectory);
      await removeDirectory(this.dataDirectory);
    }
  }

  /** The process's state and stderr, for assertion messages. */
  describe(): string {
    const status = this.running
      ? "running"
      : `exited (code ${this.child?.exitCode}, signal ${this.child?.signalCode})`;
    return `node ${this.id} (pid ${this.pid}, ${status}, data ${this.dataDirectory})\nstderr:\n${this.stderrText}`;
  }

  private async spawn(): Promise<void> {
    this.stderrText = "";
    this.stdoutLines = [];
    const command = [
      process.execPath,
      "bin/tidelog",
      "serve",
      "--id",
      this.id,
      "--listen",
      this.listen,
      "--data-dir",
      this.dataDirectory,
      ...this.args,
    ];
    // The shell sets the limit and becomes the node (exec): the child's pid is the node's.
    const limited =
      this.openFilesLimit === undefined
        ? command
        : ["/bin/sh", "-c", `ulimit -n ${this.openFilesLimit} && exec "$0" "$@"`, ...command];
    const child = spawn(limited[0]!, limited.slice(1), {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...this.env },
    });
    children.add(child);
    this.child = child;
    this.exited = new Promise<ExitStatus>((resolve) => {
      child.once("exit", (code, signal) => {
        children.delete(child);
        resolve({ code, signal });
      });
    });
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (chunk: string) => {
      this.stderrText = (this.stderrText + chunk).slice(-stderrBytesMax);
    });
    const serving = new Promise<string>((resolve, reject) => {
      const lines = createInterface({ input: child.stdout! });
      lines.on("line", (line) => {
        this.stdoutLines.push(line);
        const address = servingAddress(line);
        if (address !== undefined) resolve(address);
      });
      void this.exited.then(({ code, signal }) =>
        reject(new Error(`node ${this.id} exited (code ${code}, signal ${signal}) before serving`)),
      );
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      this.currentAddress = await Promise.race([
        serving,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(new Error(`node ${this.id} did not serve within ${this.startTimeoutMs} ms`)),
            this.startTimeoutMs,
          );
        }),
      ]);
    } catch (error) {
      await killAndWait(child);
      throw new Error(`${(error as Error).message}\n${this.describe()}`);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The address of a `{"message":"tidelog serving","address":...}` line, if it is one. */
function servingAddress(line: string): string | undefined {
  try {
    const parsed = JSON.parse(line) as { message?: unknown; address?: unknown };
    if (parsed.message === "tidelog serving" && typeof parsed.address === "string") {
      return parsed.address;
    }
  } catch {
    // not JSON: some other output
  }
  return undefined;
}

async function killAndWait(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGKILL");
  await exited;
}

async function removeDirectory(directory: string): Promise<void> {
  await rm(directory, { recursive: true, force: true, maxRetries: 3 });
}

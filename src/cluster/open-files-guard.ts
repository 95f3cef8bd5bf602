// Refuses writes before the process runs out of file descriptors. Every topic segment keeps its
// records file open (its index is mapped; the descriptor is closed), so the open-file limit
// (`ulimit -n`) bounds the topics a node can hold. A node that runs out fails a write while
// applying an entry, which is fatal, and its replicas, holding the same segments, run out at the
// same entry: the whole cluster stopped at once (outside probe, H1). So, as with the disk reserve
// (disk-space-guard.ts), every node turns new writes away while fewer descriptors than a reserve
// are free: the leader answers produce and topic creation with resource_exhausted, and any node
// drops the Raft entries offered to it (entry-admission.ts). Descriptors in use are sampled on a
// timer, never on the write path; topic creations accepted since the last sample count as already
// open.
//
// Linux only (/proc/self/limits and /proc/self/fd); elsewhere the guard never refuses.
import { readdir, readFile } from "node:fs/promises";
import { TidelogError } from "../errors.js";

/** Descriptors a new topic keeps open: its first segment's records file. */
const topicOpenFiles = 1;

export interface OpenFilesGuardOptions {
  /** How often descriptors in use are sampled. */
  sampleIntervalMs: number;
  /** The soft open-file limit; /proc/self/limits by default (Infinity when unknown). */
  limit?: () => Promise<number>;
  /** Descriptors in use; /proc/self/fd by default (0 when unknown). */
  inUse?: () => Promise<number>;
}

/** The reserve for a limit: room for clients' and peers' sockets and a snapshot install. */
export function openFilesReserve(limit: number): number {
  return Math.min(1_024, Math.max(32, Math.floor(limit / 8)));
}

export async function procOpenFilesLimit(): Promise<number> {
  try {
    const limits = await readFile("/proc/self/limits", "utf8");
    const soft = /^Max open files\s+(\S+)/m.exec(limits)?.[1];
    const value = Number(soft);
    return Number.isSafeInteger(value) && value > 0 ? value : Number.POSITIVE_INFINITY;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

export async function procOpenFiles(): Promise<number> {
  try {
    return (await readdir("/proc/self/fd")).length;
  } catch {
    return 0;
  }
}

export class OpenFilesGuard {
  private sampled = 0;
  /** Descriptors accepted (topics created) since the sample in use began. */
  private acceptedSinceSample = 0;
  private sampling = false;
  /** None while the limit is unknown: nothing to sample for. */
  private readonly timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly options: OpenFilesGuardOptions,
    private readonly limitValue: number,
  ) {
    if (!Number.isFinite(limitValue)) return;
    this.timer = setInterval(() => void this.sample(), options.sampleIntervalMs);
    this.timer.unref();
  }

  static async start(options: OpenFilesGuardOptions): Promise<OpenFilesGuard> {
    const guard = new OpenFilesGuard(options, await (options.limit ?? procOpenFilesLimit)());
    if (Number.isFinite(guard.limit)) await guard.sample();
    return guard;
  }

  get limit(): number {
    return this.limitValue;
  }

  /** Estimated descriptors in use: the last sample and what was accepted since. */
  get inUse(): number {
    return this.sampled + this.acceptedSinceSample;
  }

  /** True when `count` more descriptors fit below the limit less the reserve. */
  hasRoomFor(count: number): boolean {
    return this.inUse + count <= this.limitValue - openFilesReserve(this.limitValue);
  }

  /** Why new writes are refused now, or undefined. */
  shortage(): string | undefined {
    return this.hasRoomFor(0) ? undefined : this.describe();
  }

  private describe(): string {
    return `this node has ${this.inUse} of its ${this.limitValue} open files in use (each topic segment holds one; ${openFilesReserve(this.limitValue)} are kept for connections): delete topics or raise the open-file limit (ulimit -n)`;
  }

  /** Throws resource_exhausted when new writes would eat into the reserve. */
  check(): void {
    const reason = this.shortage();
    if (reason !== undefined) throw new TidelogError("resource_exhausted", reason);
  }

  /** Accepts the descriptors a new topic will open, or throws resource_exhausted. */
  acceptTopic(): void {
    if (!this.hasRoomFor(topicOpenFiles))
      throw new TidelogError("resource_exhausted", this.describe());
    this.acceptedSinceSample += topicOpenFiles;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Samples descriptors in use now (the timer does so every sampleIntervalMs). */
  async sample(): Promise<void> {
    if (this.sampling) return;
    this.sampling = true;
    const accepted = this.acceptedSinceSample;
    try {
      this.sampled = await (this.options.inUse ?? procOpenFiles)();
      // Topics accepted before the count began are in it (or failed); later ones still count.
      this.acceptedSinceSample -= accepted;
    } finally {
      this.sampling = false;
    }
  }
}

// Refuses writes before the disk is full. A Raft node cannot survive a failed write to its log
// (it stops, so nothing acknowledged is put at risk), so every node turns new writes away while
// free space is below a reserve, and takes them again once space returns: the leader answers
// produce with resource_exhausted, and any node drops the Raft entries it has no room for
// (entry-admission.ts). Free space is sampled on a timer, never on the write path.
//
// Between samples the guard estimates: a sample, less every byte accepted that was not on disk
// when the sample began. A byte is accepted by check/tryAccept and is on disk once its writer
// calls release (after the write); bytes released after a sample began still count against it,
// since statfs may not have seen them. So the estimate never runs ahead of the disk.
import { statfs } from "node:fs/promises";
import { TidelogError } from "../errors.js";

export interface DiskSpaceGuardOptions {
  directory: string;
  /** Writes are refused while fewer bytes than this are free. */
  reserveBytes: number;
  /** How often free space is sampled. */
  sampleIntervalMs: number;
  /** Free bytes of the disk holding `directory`; statfs by default. */
  freeBytesOf?: (directory: string) => Promise<number>;
}

/** Free bytes of the disk holding `directory`, as an unprivileged process may use them. */
export async function statfsFreeBytes(directory: string): Promise<number> {
  const stats = await statfs(directory);
  return stats.bavail * stats.bsize;
}

export class DiskSpaceGuard {
  private sampledFreeBytes = Number.POSITIVE_INFINITY;
  /** Bytes ever accepted, and ever released (written): both only grow. */
  private acceptedBytes = 0;
  private releasedBytes = 0;
  /** releasedBytes when the current sample began: what statfs is sure to have seen. */
  private releasedAtSample = 0;
  private sampling = false;
  private readonly timer: NodeJS.Timeout;

  private constructor(private readonly options: DiskSpaceGuardOptions) {
    this.timer = setInterval(() => void this.sample(), options.sampleIntervalMs);
    this.timer.unref();
  }

  static async start(options: DiskSpaceGuardOptions): Promise<DiskSpaceGuard> {
    const guard = new DiskSpaceGuard(options);
    await guard.sample();
    return guard;
  }

  /** Estimated free bytes: the last sample less what was accepted and not on disk then. */
  get free(): number {
    return this.sampledFreeBytes - (this.acceptedBytes - this.releasedAtSample);
  }

  /** Bytes accepted and not yet released. */
  get unwritten(): number {
    return this.acceptedBytes - this.releasedBytes;
  }

  /** True when `bytes` more fit above the reserve. */
  hasRoomFor(bytes: number): boolean {
    return this.free - bytes >= this.options.reserveBytes;
  }

  /** Accepts `bytes` if they fit above the reserve (the writer then releases them); or false. */
  tryAccept(bytes: number): boolean {
    if (!this.hasRoomFor(bytes)) return false;
    this.acceptedBytes += bytes;
    return true;
  }

  /**
   * Accepts `bytes` (the writer then releases them), or throws resource_exhausted when they
   * would eat into the reserve.
   */
  check(bytes: number): void {
    if (this.tryAccept(bytes)) return;
    throw new TidelogError(
      "resource_exhausted",
      `the disk holding ${this.options.directory} is nearly full (about ${Math.max(0, Math.floor(this.free / 1048576))} MiB free, reserve ${Math.floor(this.options.reserveBytes / 1048576)} MiB); writes resume when space returns`,
    );
  }

  /** Bytes accepted earlier are on disk now (or will never be written). */
  release(bytes: number): void {
    this.releasedBytes += bytes;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Samples free space now (the timer does so every sampleIntervalMs). */
  async sample(): Promise<void> {
    // One at a time: a slow statfs finishing after a later one would bring back older news.
    if (this.sampling) return;
    this.sampling = true;
    const releasedBefore = this.releasedBytes;
    try {
      this.sampledFreeBytes = await (this.options.freeBytesOf ?? statfsFreeBytes)(
        this.options.directory,
      );
      this.releasedAtSample = releasedBefore;
    } catch {
      // Keep the last sample: a failed statfs says nothing about space.
    } finally {
      this.sampling = false;
    }
  }
}

// Refuses writes before the disk is full. A Raft node cannot survive a failed write to its log
// (it stops, so nothing acknowledged is put at risk), so the leader turns writes away with
// resource_exhausted while free space is below a reserve, and takes them again once space
// returns. Free space is sampled on a timer, never on the produce path.
import { statfs } from "node:fs/promises";
import { TidelogError } from "../errors.js";

export interface DiskSpaceGuardOptions {
  directory: string;
  /** Writes are refused while fewer bytes than this are free. */
  reserveBytes: number;
  /** How often free space is sampled. */
  sampleIntervalMs: number;
}

export class DiskSpaceGuard {
  private freeBytes = Number.POSITIVE_INFINITY;
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

  get free(): number {
    return this.freeBytes;
  }

  /** Throws resource_exhausted when `bytes` more would eat into the reserve. */
  check(bytes: number): void {
    if (this.freeBytes - bytes < this.options.reserveBytes) {
      throw new TidelogError(
        "resource_exhausted",
        `the disk holding ${this.options.directory} is nearly full (${Math.max(0, Math.floor(this.freeBytes / 1048576))} MiB free, reserve ${Math.floor(this.options.reserveBytes / 1048576)} MiB); writes resume when space returns`,
      );
    }
    // Count what is being written until the next sample.
    this.freeBytes -= bytes;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async sample(): Promise<void> {
    try {
      const stats = await statfs(this.options.directory);
      this.freeBytes = stats.bavail * stats.bsize;
    } catch {
      // Keep the last sample: a failed statfs says nothing about space.
    }
  }
}

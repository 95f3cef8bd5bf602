// Warnings about a failure that repeats on every retry (a peer retries a snapshot every Raft
// tick): at most one line per kind per interval. The first of a kind is written at once; the
// ones within the interval after a written line are counted, and the next line written says how
// many were left out (`repeated`). Kinds are a small fixed set chosen by the callers (not topic
// names or offsets), so the map stays small.
import { type LogFields, logWarn } from "./logger.js";

export class RateLimitedLog {
  /** Kind → when its last line was written, and how many were left out since. */
  private readonly kinds = new Map<string, { writtenAt: number; leftOut: number }>();
  private readonly now: () => number;

  constructor(
    private readonly intervalMs: number,
    now?: () => number,
    private readonly write: (message: string, fields: LogFields) => void = logWarn,
  ) {
    this.now = now ?? (() => performance.now());
  }

  /** Writes the warning, or counts it when a line of this kind was written within the interval. */
  warn(kind: string, message: string, fields: LogFields = {}): void {
    const now = this.now();
    const last = this.kinds.get(kind);
    if (last !== undefined && now - last.writtenAt < this.intervalMs) {
      last.leftOut++;
      return;
    }
    const repeated = last?.leftOut ?? 0;
    this.kinds.set(kind, { writtenAt: now, leftOut: 0 });
    this.write(message, repeated > 0 ? { ...fields, repeated } : fields);
  }
}

// Whether this node fails to install a snapshot its leader sends it. The leader sends it again a
// tick after each failure, so the failure is logged at most once per interval (with a count of
// the attempts left out), and while it lasts the node says it is not ready (/readyz 503): it
// cannot catch up, and its reads grow staler. A successful install clears it; so does a quiet
// spell with no attempt at all (no leader sends one any more: this node no longer needs it, or
// knows no leader, which readiness reports on its own).
import { type LogFields, logInfo } from "../obs/logger.js";
import { RateLimitedLog } from "../obs/rate-limited-log.js";

export interface SnapshotInstallStatusOptions {
  /** Failures of one kind are logged at most once per this interval. */
  warnIntervalMs: number;
  /** A failure with no attempt since for this long no longer counts. */
  staleAfterMs: number;
  /** Milliseconds on a monotonic clock; performance.now() by default. */
  now?: () => number;
  /** Where warnings go (logWarn by default). */
  write?: (message: string, fields: LogFields) => void;
}

export class SnapshotInstallStatus {
  private failure: { reason: string; since: number } | undefined;
  private lastAttemptAt = 0;
  private attempts = 0;
  private readonly warnings: RateLimitedLog;
  private readonly now: () => number;

  constructor(private readonly options: SnapshotInstallStatusOptions) {
    this.now = options.now ?? (() => performance.now());
    this.warnings = new RateLimitedLog(options.warnIntervalMs, this.now, options.write);
  }

  /** An install begins. */
  started(): void {
    this.attempts++;
    this.lastAttemptAt = this.now();
  }

  /** The install that began last failed. */
  failed(index: number, from: string, error: unknown): void {
    this.attempts = Math.max(0, this.attempts - 1);
    const now = this.now();
    this.lastAttemptAt = now;
    const message = error instanceof Error ? error.message : String(error);
    this.failure = { reason: message, since: this.failure?.since ?? now };
    this.warnings.warn("snapshot-install-failed", "cannot install the snapshot the leader sends", {
      index,
      from,
      reason: message,
    });
  }

  /** The install that began last succeeded. */
  succeeded(index: number): void {
    this.attempts = Math.max(0, this.attempts - 1);
    this.lastAttemptAt = this.now();
    if (this.failure === undefined) return;
    const seconds = Math.round((this.lastAttemptAt - this.failure.since) / 1000);
    this.failure = undefined;
    logInfo("installed a snapshot after failed attempts", { index, failingForSeconds: seconds });
  }

  /** Why this node is not ready, while its last install failed and attempts go on. */
  notReadyReason(): string | undefined {
    if (this.failure === undefined) return undefined;
    if (this.attempts === 0 && this.now() - this.lastAttemptAt > this.options.staleAfterMs)
      return undefined;
    return `this node cannot install the snapshot it needs to catch up: ${this.failure.reason}`;
  }
}

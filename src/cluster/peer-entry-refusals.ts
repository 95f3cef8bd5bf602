// Which voters say they drop Raft entries for want of disk space or file descriptors. A follower at
// its disk or open-files reserve drops appends before its Raft core sees them (entry-admission.ts),
// which the leader cannot tell from a slow network; so every node says so on each batch it sends
// (StepRequest.refusing_entries) and the receiver keeps the latest word per sender here. A leader
// whose voters with room are no majority refuses writes at once (raft-broker.ts) instead of
// proposing entries that cannot commit: the client would wait out the proposal timeout for "outcome
// unknown".
//
// A report holds while batches saying so keep coming (heartbeat responses alone come every
// heartbeat); one batch without the flag clears it, and one not repeated for `staleAfterMs` has
// lapsed: a peer gone silent is unreachable, not full, and that is the unavailable path.
import { logInfo, logWarn } from "../obs/logger.js";

export interface PeerEntryRefusalsOptions {
  /** The voters now: only their reports are kept (they alone count, and it bounds the map). */
  voters: () => readonly string[];
  /** A report not repeated for this long no longer counts. */
  staleAfterMs: number;
  /** Milliseconds on a monotonic clock; performance.now() by default. */
  now?: () => number;
}

export class PeerEntryRefusals {
  /** Voter id → when its last batch saying it refuses entries arrived (ms, `now`'s clock). */
  private readonly refusingSince = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly options: PeerEntryRefusalsOptions) {
    this.now = options.now ?? (() => performance.now());
  }

  /** A batch from `from` arrived, saying whether it refuses entries. */
  heard(from: string, refusing: boolean): void {
    if (!refusing) {
      if (this.refusingSince.delete(from))
        logInfo("a peer takes Raft entries again", { peer: from });
      return;
    }
    if (!this.options.voters().includes(from)) return;
    if (!this.refusingSince.has(from))
      logWarn("a peer refuses Raft entries: its disk or its open files are nearly used up", {
        peer: from,
      });
    this.refusingSince.set(from, this.now());
  }

  /** Those of `ids` whose report that they refuse entries is fresh, in the order given. */
  refusing(ids: readonly string[]): string[] {
    const now = this.now();
    return ids.filter((id) => {
      const at = this.refusingSince.get(id);
      return at !== undefined && now - at <= this.options.staleAfterMs;
    });
  }
}

/**
 * Why the voters with room are no majority, or undefined when they are one. `self` (the leader)
 * counts as having room: its own disk is checked by its own guard, for what it writes.
 */
export function roomQuorumShortfall(
  voters: readonly string[],
  self: string,
  refusing: readonly string[],
): string | undefined {
  const out = refusing.filter((id) => id !== self && voters.includes(id));
  const withRoom = voters.length - out.length;
  if (withRoom >= Math.floor(voters.length / 2) + 1) return undefined;
  return `${out.length} of ${voters.length} voters are out of disk space or open files (${out.join(", ")}): the cluster cannot commit new writes until they have room again`;
}

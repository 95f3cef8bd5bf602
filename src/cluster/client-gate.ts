// Whether this node may answer client calls (produce, consume, tails, topic calls, forwarding)
// now, and if not, why. One check, the reasons in order of priority:
//
// 1. removed: it applied its own removal. It learns nothing more, so it would serve state frozen
//    at its removal and acknowledge forwarded writes it will never show. failed_precondition:
//    retrying here cannot help, a client must use another member.
// 2. lost entries: a heartbeat says entries past its log are committed (a damaged or truncated
//    Raft log). It cannot catch up on its own; the operator removes it (Leave) and joins it again.
//    failed_precondition, for the same reason.
// 3. starting: it replays its log after a restart (applied < the commit index it held).
//    unavailable: it serves once the replay is done.
// 4. joining: it was started with --join (or restarted while a join was pending) and has not yet
//    applied its own promotion to voter. The leader proposes that promotion only once this node's
//    log holds everything the leader had applied, so having applied it, the node holds the
//    cluster's state as of its join (every topic that existed, every record committed). Before,
//    it would answer "not found" for topics it has simply not received. unavailable.
import { TidelogError } from "../errors.js";
import type { RaftNode } from "../raft/driver/raft-node.js";

export type RefusalKind = "removed" | "lostEntries" | "starting" | "joining";

export interface ClientGateOptions {
  /** This node's id. */
  id: string;
  /** The commit index this node's log held when it started (replayed before it serves). */
  replayThrough: number;
  /** It was started to join a cluster (or restarted while its join was pending). */
  joining: boolean;
}

export class ClientGate {
  private replayed = false;
  private joined: boolean;
  /**
   * This node was listed in a membership it applied. A joining node's first snapshot may predate
   * its addition: not listed there, it is not removed but not yet added.
   */
  private listed: boolean;

  constructor(private readonly options: ClientGateOptions) {
    this.joined = !options.joining;
    this.listed = !options.joining;
  }

  /** Why client calls are refused now, or undefined when they are served. */
  refusal(node: RaftNode | undefined): TidelogError | undefined {
    if (node === undefined) return starting("this node is starting");
    if (this.removed(node)) {
      return new TidelogError(
        "failed_precondition",
        "this node was removed from the cluster; use another member",
        { reason: "removed" satisfies RefusalKind },
      );
    }
    const lost = node.lostEntries;
    if (lost !== undefined) {
      return new TidelogError(
        "failed_precondition",
        `this node lost Raft log entries it had acknowledged (its log ends at ${lost.last}, but entries up to ${lost.commit} are committed): it cannot catch up; remove it with Leave and join it again with an empty data directory; use another member`,
        { reason: "lostEntries" satisfies RefusalKind },
      );
    }
    const applied = node.applied;
    if (!this.replayed) {
      if (applied < this.options.replayThrough) {
        return starting(
          `this node is starting: it has applied ${applied} of the ${this.options.replayThrough} log entries it held committed`,
        );
      }
      this.replayed = true;
    }
    if (!this.joined) {
      if (!node.confState.voters.includes(this.options.id)) {
        return new TidelogError(
          "unavailable",
          `this node is joining the cluster: it has not yet received the cluster's state (applied ${applied} entries so far); retry shortly`,
          { reason: "joining" satisfies RefusalKind },
        );
      }
      this.joined = true;
    }
    return undefined;
  }

  /**
   * Whether `node` will serve no more on its own: removed, or lost entries (the first two
   * refusals). Its open tails end then, rather than wait for commits that never come.
   */
  ended(node: RaftNode): boolean {
    return this.removed(node) || node.lostEntries !== undefined;
  }

  /**
   * Whether `node` applied its own removal (it is in neither list of a known membership, and was
   * in one before: always, unless it is joining), or a peer that applied it said so.
   */
  removed(node: RaftNode): boolean {
    // A node cut off when it was removed learns it from a peer (removal-verdict.ts).
    const peerSays = node.removedByPeer !== undefined;
    const { voters, learners } = node.confState;
    if (voters.includes(this.options.id) || learners.includes(this.options.id)) {
      this.listed = true;
      return peerSays;
    }
    return (this.listed && voters.length > 0) || peerSays;
  }
}

function starting(message: string): TidelogError {
  return new TidelogError("unavailable", `${message}; retry shortly`, {
    reason: "starting" satisfies RefusalKind,
  });
}

/** The kind of a refusal made by ClientGate. */
export function refusalKind(error: TidelogError): RefusalKind | undefined {
  return error.details.reason as RefusalKind | undefined;
}

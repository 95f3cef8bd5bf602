// Every node guards its own disk, followers too. A failed write to the Raft log is fatal (the node
// stops so that nothing acknowledged is put at risk), so a node whose disk is nearly full must not
// take entries it has no room for. The leader refuses produce (disk-space-guard.ts); this drops a
// peer's append that carries records or a topic creation, and a snapshot, before the Raft core sees
// them, while they do not fit above the reserve (or while file descriptors are short,
// open-files-guard.ts). Entries that take no room (a new leader's empty entry, membership changes,
// topic updates and deletes) always pass: deleting topics is how room is made. Dropping is message
// loss, which Raft tolerates: the leader probes and sends them again, heartbeats and empty appends
// still pass (no election starts, the commit index still arrives), and the node keeps serving what
// it has. It takes entries again once a sample shows room. While it refuses, it says so to its
// peers on every batch it sends (StepRequest.refusing_entries), so that a leader can tell it from a
// slow follower.
//
// Accepted bytes (written twice: the Raft log, then the topic log when applied) are released to the
// guard once this node has applied the message's last entry, or has applied its whole log (a leader
// change may have replaced those entries with shorter ones).
import { logInfo, logWarn } from "../obs/logger.js";
import type { Entry, Message } from "../raft/index.js";
import { commandTakesRoom } from "./commands.js";
import type { DiskSpaceGuard } from "./disk-space-guard.js";
import type { OpenFilesGuard } from "./open-files-guard.js";

export class EntryAdmission {
  /** Accepted messages not yet applied: their last index and bytes, in arrival order. */
  private readonly unapplied: { index: number; bytes: number }[] = [];
  /** Why the last append with entries was dropped (the last snapshot, too), if it was. */
  private dropping: string | undefined;
  private refused = 0;

  constructor(
    private readonly guard: DiskSpaceGuard,
    private readonly directory: string,
    private readonly openFiles?: OpenFilesGuard,
  ) {}

  /** False when `message` carries entries (or a snapshot) this node has no room for. */
  admits(message: Message): boolean {
    if (message.type === "snapshot")
      return this.decide(this.guard.hasRoomFor(0) ? this.openFilesShortage() : diskShortage);
    if (message.type !== "append" || message.entries.length === 0) return true;
    // No-ops, membership changes, topic updates and deletes: a few bytes within the reserves,
    // taken even when short (a delete is how room is made; a new leader's empty entry must
    // commit before anything else can).
    if (!message.entries.some(takesRoom)) return true;
    const filesShort = this.openFilesShortage();
    if (filesShort !== undefined) return this.decide(filesShort);
    let bytes = 0;
    for (const entry of message.entries) bytes += 2 * entry.data.length;
    const admitted = this.guard.tryAccept(bytes);
    if (admitted) this.unapplied.push({ index: message.entries.at(-1)!.index, bytes });
    return this.decide(admitted ? undefined : diskShortage);
  }

  /**
   * True while this node would drop a peer's entries: it dropped the last ones offered and has
   * taken none since, or its disk is below the reserve, where no entry fits, or its open files
   * are (a disk filled by something else is known before the first entry is lost to it).
   */
  get refusing(): boolean {
    // Asked for every batch sent: no reason text built.
    return (
      this.dropping !== undefined ||
      !this.guard.hasRoomFor(0) ||
      this.openFiles?.hasRoomFor(0) === false
    );
  }

  /** While this node refuses new entries for want of disk space or file descriptors: why. */
  refusalReason(): string | undefined {
    const why =
      this.dropping ?? (this.guard.hasRoomFor(0) ? this.openFilesShortage() : diskShortage);
    return why === undefined
      ? undefined
      : `${why}: this node takes no new Raft entries until it has room again`;
  }

  /** This node applied entries through `index`; its log ends at `lastIndex`. */
  applied(index: number, lastIndex: number): void {
    const all = index >= lastIndex;
    while (this.unapplied.length > 0 && (all || this.unapplied[0]!.index <= index)) {
      this.guard.release(this.unapplied.shift()!.bytes);
    }
  }

  private openFilesShortage(): string | undefined {
    return this.openFiles?.shortage();
  }

  private decide(shortage: string | undefined): boolean {
    if (shortage !== undefined) this.refused++;
    const was = this.dropping;
    this.dropping = shortage;
    if (shortage !== undefined && was === undefined) {
      logWarn(`${shortage}: this node takes no new Raft entries until it has room again`, {
        directory: this.directory,
        freeBytes: Math.max(0, this.guard.free),
      });
    } else if (shortage === undefined && was !== undefined) {
      logInfo("this node has room again: it takes Raft entries again", {
        directory: this.directory,
        messagesDropped: this.refused,
      });
      this.refused = 0;
    }
    return shortage === undefined;
  }
}

const diskShortage = "the data disk is nearly full";

function takesRoom(entry: Entry): boolean {
  return entry.type === "normal" && commandTakesRoom(entry.data);
}

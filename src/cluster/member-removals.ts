// The members whose removal this node applied, and at which Raft index, until they are added
// again: a node cut off when it was removed never applies its removal, and its peers tell it
// when it reaches them (raft/driver/removal-verdict.ts). Part of the replicated state: checkpoints
// carry it (snapshot-state.ts), so a peer that restarted or installed a snapshot taken after the
// removal still knows, not only one that applied the removal entry since it started.
import type { ConfChange } from "../raft/index.js";
import { RecentMap } from "../recent-map.js";

/** Removals kept (the newest): an id is a peer's claim until peers authenticate. */
export const removalsKept = 1_024;

export interface Removal {
  id: string;
  index: number;
}

export class MemberRemovals {
  private readonly removals = new RecentMap<string, number>(removalsKept);

  /** Notes a membership change applied at `index`: a removal, or an addition that undoes one. */
  apply(change: ConfChange, index: number): void {
    if (change.type === "removeNode") this.removals.set(change.nodeId, index);
    else this.removals.delete(change.nodeId);
  }

  /** The index at which `id` was removed, unless it was added again since. */
  indexOf(id: string): number | undefined {
    return this.removals.get(id);
  }

  /** For a checkpoint: the oldest first. */
  list(): Removal[] {
    return [...this.removals].map(([id, index]) => ({ id, index }));
  }

  /** Replaces what is kept with a checkpoint's list (oldest first). */
  replace(removals: readonly Removal[]): void {
    this.removals.clear();
    for (const { id, index } of removals) this.removals.set(id, index);
  }
}

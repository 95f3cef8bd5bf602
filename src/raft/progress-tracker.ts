// The membership (voters and learners), the leader's Progress for each member, and the votes
// of the election in progress.

import { assert } from "../assert.js";
import type { InflightsLimits } from "./inflights.js";
import { Progress } from "./progress.js";
import { committedIndex, type VoteResult, voteResult } from "./quorum.js";
import type { ConfState, NodeId } from "./types.js";

export class ProgressTracker {
  voters = new Set<NodeId>();
  learners = new Set<NodeId>();
  readonly progress = new Map<NodeId, Progress>();
  readonly votes = new Map<NodeId, boolean>();

  constructor(readonly limits: InflightsLimits) {}

  confState(): ConfState {
    return { voters: [...this.voters].sort(), learners: [...this.learners].sort() };
  }

  /** Replaces the membership; keeps the Progress of members that stay, creates the others. */
  setConf(conf: ConfState, nextIndex: number): void {
    for (const id of conf.voters) assert(!conf.learners.includes(id), `${id} voter and learner`);
    this.voters = new Set(conf.voters);
    this.learners = new Set(conf.learners);
    for (const id of [...this.progress.keys()]) {
      if (!this.voters.has(id) && !this.learners.has(id)) this.progress.delete(id);
    }
    for (const id of [...conf.voters, ...conf.learners]) {
      const existing = this.progress.get(id);
      if (existing !== undefined) {
        existing.isLearner = this.learners.has(id);
        continue;
      }
      const progress = new Progress(nextIndex, this.learners.has(id), this.limits);
      // A new member may need a snapshot at once: count it as active so the leader sends one.
      progress.recentActive = true;
      this.progress.set(id, progress);
    }
  }

  isMember(id: NodeId): boolean {
    return this.progress.has(id);
  }

  committed(): number {
    return committedIndex(this.voters, (id) => this.progress.get(id)?.match);
  }

  /** Records a vote; a voter's first answer in an election counts, repeats are ignored. */
  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const [id, vote] of this.votes) {
      if (!this.voters.has(id)) continue;
      if (vote) granted += 1;
      else rejected += 1;
    }
    return { granted, rejected, result: voteResult(this.voters, this.votes) };
  }

  resetVotes(): void {
    this.votes.clear();
  }

  /** True when a majority of voters (the leader counting itself) was heard from recently. */
  quorumActive(self: NodeId): boolean {
    const active = new Map<NodeId, boolean>();
    for (const id of this.voters) {
      active.set(id, id === self || this.progress.get(id)?.recentActive === true);
    }
    return voteResult(this.voters, active) === "won";
  }
}

// Majority quorum arithmetic, free of any other Raft state so it can be tested alone.

import type { NodeId } from "./types.js";

export type VoteResult = "pending" | "lost" | "won";

/**
 * The highest index a majority of `voters` has acknowledged, given each voter's match index
 * (a voter missing from `matchOf` counts as 0). With no voters there is no constraint: Infinity.
 */
export function committedIndex(
  voters: ReadonlySet<NodeId>,
  matchOf: (id: NodeId) => number | undefined,
): number {
  if (voters.size === 0) return Number.POSITIVE_INFINITY;
  const matches: number[] = [];
  for (const id of voters) matches.push(matchOf(id) ?? 0);
  matches.sort((a, b) => b - a);
  // Descending order: the entry at position quorum-1 is held by at least `quorum` voters.
  return matches[quorumSize(voters.size) - 1]!;
}

export function quorumSize(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/** The election outcome so far: won with a majority of grants, lost with a majority of rejects. */
export function voteResult(
  voters: ReadonlySet<NodeId>,
  votes: ReadonlyMap<NodeId, boolean>,
): VoteResult {
  if (voters.size === 0) return "won";
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const vote = votes.get(id);
    if (vote === true) granted += 1;
    else if (vote === false) rejected += 1;
  }
  const quorum = quorumSize(voters.size);
  if (granted >= quorum) return "won";
  if (voters.size - rejected >= quorum) return "pending";
  return "lost";
}

// A node cut off from its cluster when it was removed never applies its removal: the leader
// sends nothing to a non-member. It keeps campaigning, and its peers hear it. A peer that applied
// the removal ends the sender's StepStream with this error (failed_precondition), naming the
// removal's index; the sender reads it back from the stream's grpc-message (peer-transport.ts)
// and takes it for itself only while it has applied less than that index (RaftNode.heardRemoved):
// an id used again by a member added later has applied past it.

const pattern = /node (\S+) was removed from the cluster at index (\d+)/;

/** The message a peer answers a removed member's messages with. */
export function removalVerdict(id: string, index: number): string {
  return `node ${id} was removed from the cluster at index ${index}; it takes no part any more`;
}

/** The removal index a peer's answer names for `self`, if it is such a verdict. */
export function parseRemovalVerdict(text: string, self: string): number | undefined {
  const match = pattern.exec(text);
  if (match === null || match[1] !== self) return undefined;
  const index = Number(match[2]);
  return Number.isSafeInteger(index) && index > 0 ? index : undefined;
}

// Addresses peers announced with their Raft messages (StepRequest.sender_address), by the id
// they claim: a new member answers its leader with them before its first snapshot tells it the
// membership, and a Join through a follower finds the joiner by them. Peers do not authenticate
// yet and any sender can claim any id, so only the ids heard most recently are kept.
export class AnnouncedAddresses {
  private readonly byId = new Map<string, string>();

  constructor(private readonly idsMax: number) {}

  get size(): number {
    return this.byId.size;
  }

  get(id: string): string | undefined {
    return this.byId.get(id);
  }

  /** `id` says it is at `address`; past `idsMax` ids, the one learnt longest ago is forgotten. */
  learn(id: string, address: string): void {
    if (this.byId.get(id) === address) return; // every message says it again
    this.byId.delete(id);
    this.byId.set(id, address);
    if (this.byId.size > this.idsMax) this.byId.delete(this.byId.keys().next().value!);
  }
}

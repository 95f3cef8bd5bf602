// The simulated network: every message gets a random delay (so messages reorder), and may be
// dropped or duplicated. Partitions (symmetric groups) and one-way cuts drop messages at send
// time. Time is in simulation steps.

import type { Message, NodeId, Random } from "../../../src/raft/index.js";

export interface NetworkFaults {
  /** Probability that a message is lost. */
  dropRate: number;
  /** Probability that a message is delivered twice. */
  duplicateRate: number;
  /** Delays are uniform in [1, maxDelaySteps]. */
  maxDelaySteps: number;
}

export class SimNetwork {
  private readonly queue = new Map<number, Message[]>();
  /** Node id → partition group; nodes in different groups cannot talk. Empty: no partition. */
  private groups = new Map<NodeId, number>();
  /** "from->to" pairs that cannot talk (one way). */
  readonly cuts = new Set<string>();
  faults: NetworkFaults;
  pendingCount = 0;

  constructor(
    private readonly random: Random,
    faults: NetworkFaults,
  ) {
    this.faults = faults;
  }

  /** Whether `from` can currently reach `to`. */
  connected(from: NodeId, to: NodeId): boolean {
    if (this.cuts.has(`${from}->${to}`)) return false;
    const a = this.groups.get(from) ?? 0;
    const b = this.groups.get(to) ?? 0;
    return a === b;
  }

  /** Schedules `message`; returns false if the network drops it. */
  send(message: Message, now: number): boolean {
    if (!this.connected(message.from, message.to)) return false;
    if (this.random.nextFloat() < this.faults.dropRate) return false;
    this.schedule(message, now + 1 + this.random.nextInt(this.faults.maxDelaySteps));
    if (this.random.nextFloat() < this.faults.duplicateRate) {
      this.schedule(message, now + 1 + this.random.nextInt(this.faults.maxDelaySteps));
    }
    return true;
  }

  private schedule(message: Message, at: number): void {
    const bucket = this.queue.get(at);
    if (bucket === undefined) this.queue.set(at, [message]);
    else bucket.push(message);
    this.pendingCount += 1;
  }

  /** Messages due at `now`, removed from the queue. */
  due(now: number): Message[] {
    const bucket = this.queue.get(now);
    if (bucket === undefined) return [];
    this.queue.delete(now);
    this.pendingCount -= bucket.length;
    return bucket;
  }

  partition(groups: readonly (readonly NodeId[])[]): void {
    this.groups = new Map();
    groups.forEach((group, index) => {
      for (const id of group) this.groups.set(id, index + 1);
    });
  }

  healPartition(): void {
    this.groups = new Map();
  }

  healAll(): void {
    this.groups = new Map();
    this.cuts.clear();
  }

  /** Drops everything in flight (used before the quiet phase's convergence check). */
  clear(): void {
    this.queue.clear();
    this.pendingCount = 0;
  }
}

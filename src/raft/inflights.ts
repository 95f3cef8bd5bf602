// Inflights: the AppendEntries messages a leader has sent to one follower in the replicate state
// and not yet seen acknowledged, bounded by count and by payload bytes. A ring buffer of
// (last index of the message, bytes of the message), in sending order.

import { assert } from "../assert.js";

export interface InflightsLimits {
  /** Most messages in flight at once; ≥ 1. */
  maxMessages: number;
  /** Most entry bytes in flight at once; 0 means no byte limit. */
  maxBytes: number;
}

export class Inflights {
  private readonly indexes: number[];
  private readonly sizes: number[];
  private start = 0;
  private countValue = 0;
  private bytesValue = 0;

  constructor(private readonly limits: InflightsLimits) {
    assert(limits.maxMessages >= 1, "maxInflightMessages must be at least 1");
    assert(limits.maxBytes >= 0, "maxInflightBytes must not be negative");
    this.indexes = new Array<number>(limits.maxMessages).fill(0);
    this.sizes = new Array<number>(limits.maxMessages).fill(0);
  }

  get count(): number {
    return this.countValue;
  }

  get bytes(): number {
    return this.bytesValue;
  }

  /** Records a message whose last entry is `index`. Indexes must increase. */
  add(index: number, bytes: number): void {
    assert(!this.full(), "cannot add into a full inflights");
    if (this.countValue > 0) {
      const last = this.indexes[(this.start + this.countValue - 1) % this.limits.maxMessages]!;
      assert(index > last, `inflight index ${index} not above ${last}`);
    }
    const slot = (this.start + this.countValue) % this.limits.maxMessages;
    this.indexes[slot] = index;
    this.sizes[slot] = bytes;
    this.countValue += 1;
    this.bytesValue += bytes;
  }

  /** Frees every message whose last index is ≤ `index` (they are acknowledged). */
  freeLE(index: number): void {
    // Bounded by the buffer capacity.
    while (this.countValue > 0 && this.indexes[this.start]! <= index) {
      this.bytesValue -= this.sizes[this.start]!;
      this.start = (this.start + 1) % this.limits.maxMessages;
      this.countValue -= 1;
    }
    if (this.countValue === 0) this.start = 0;
  }

  full(): boolean {
    return (
      this.countValue === this.limits.maxMessages ||
      (this.limits.maxBytes > 0 && this.bytesValue >= this.limits.maxBytes)
    );
  }

  reset(): void {
    this.start = 0;
    this.countValue = 0;
    this.bytesValue = 0;
  }
}

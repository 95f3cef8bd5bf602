// Latency samples in milliseconds, kept in a bounded reservoir (uniform sampling once full) so
// that a long run cannot grow memory without limit; percentiles by nearest rank.

/** Samples kept at most; beyond it each new sample replaces a random kept one (reservoir). */
export const latencySamplesMax = 1_000_000;

export class LatencySamples {
  private readonly values: Float64Array;
  private kept = 0;
  private seen = 0;

  constructor(private readonly capacity = latencySamplesMax) {
    this.values = new Float64Array(capacity);
  }

  /** Samples recorded, including those the reservoir dropped. */
  get count(): number {
    return this.seen;
  }

  add(milliseconds: number): void {
    this.seen++;
    if (this.kept < this.capacity) {
      this.values[this.kept++] = milliseconds;
      return;
    }
    const slot = Math.floor(Math.random() * this.seen);
    if (slot < this.capacity) this.values[slot] = milliseconds;
  }

  /** Percentiles (0–100] by nearest rank over the kept samples; NaN when there are none. */
  percentiles(ranks: readonly number[]): number[] {
    if (this.kept === 0) return ranks.map(() => Number.NaN);
    const sorted = this.values.slice(0, this.kept).sort();
    return ranks.map((rank) => {
      const index = Math.min(this.kept - 1, Math.max(0, Math.ceil((rank / 100) * this.kept) - 1));
      return sorted[index]!;
    });
  }

  /** p50, p99 and p99.9 in milliseconds. */
  summary(): LatencySummary {
    const [p50, p99, p999] = this.percentiles([50, 99, 99.9]);
    return { p50Ms: p50!, p99Ms: p99!, p999Ms: p999!, samples: this.seen };
  }
}

export interface LatencySummary {
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  samples: number;
}

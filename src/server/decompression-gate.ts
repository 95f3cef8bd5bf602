// How many request decompressions run at once in this process. Each one holds up to the read limit
// of output (about 9 MiB) plus its decoder's window (32 KiB for gzip, up to 16 MiB for brotli)
// until it ends, so unbounded concurrency let a few KiB of compression bombs each take tens of MB:
// 64 concurrent 3 KiB brotli bombs took a node from 100 MB to 1.7 GB.
//
// Past `activeMax`, decompressions wait in order. A waiting one holds only the compressed bytes
// its call has already read, so waiting costs no memory of its own; `waitingMax` bounds how long
// a flood can delay honest compressed requests. Past it, resource_exhausted.
import { Code, ConnectError } from "@connectrpc/connect";

export interface DecompressionGateOptions {
  /** Decompressions running at once. */
  activeMax: number;
  /** Decompressions waiting for a turn; beyond, refused. */
  waitingMax: number;
}

export class DecompressionGate {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly options: DecompressionGateOptions) {}

  /** Runs `work` when a turn is free; refuses at once when too many already wait. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.active >= this.options.activeMax) {
      if (this.waiting.length >= this.options.waitingMax) {
        throw new ConnectError(
          `too many compressed requests at once (${this.options.activeMax} decompressing, ` +
            `${this.options.waitingMax} waiting); retry, or send the request uncompressed`,
          Code.ResourceExhausted,
        );
      }
      // The turn is handed over by the one that ends (active is not decremented meanwhile).
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.active++;
    }
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next === undefined) this.active--;
      else next();
    }
  }

  /** Decompressions running and waiting now (for tests and diagnostics). */
  get load(): { active: number; waiting: number } {
    return { active: this.active, waiting: this.waiting.length };
  }
}

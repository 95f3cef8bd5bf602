import { TidelogError } from "../errors.js";

/** Counts streaming calls in progress and refuses new ones beyond `streamsMax`. */
export class StreamCounter {
  private count = 0;

  constructor(readonly streamsMax: number) {}

  get active(): number {
    return this.count;
  }

  /** Counts one stream; throws resource_exhausted at the limit. Call the result once, when done. */
  acquire(): () => void {
    if (this.count >= this.streamsMax) {
      throw new TidelogError(
        "resource_exhausted",
        `too many concurrent streams (limit ${this.streamsMax})`,
      );
    }
    this.count++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.count--;
    };
  }

  /** Runs `body` as one counted stream. */
  async *track<T>(body: () => AsyncGenerator<T>): AsyncGenerator<T> {
    const release = this.acquire();
    try {
      yield* body();
    } finally {
      release();
    }
  }
}

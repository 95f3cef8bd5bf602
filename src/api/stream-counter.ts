import { TidelogError } from "../errors.js";

/** Counts streaming calls in progress and refuses new ones beyond `streamsMax`. */
export class StreamCounter {
  private count = 0;

  constructor(readonly streamsMax: number) {}

  get active(): number {
    return this.count;
  }

  /** Runs `body` as one counted stream. */
  async *track<T>(body: () => AsyncGenerator<T>): AsyncGenerator<T> {
    if (this.count >= this.streamsMax) {
      throw new TidelogError(
        "resource_exhausted",
        `too many concurrent streams (limit ${this.streamsMax})`,
      );
    }
    this.count++;
    try {
      yield* body();
    } finally {
      this.count--;
    }
  }
}

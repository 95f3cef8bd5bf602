// How many bytes of ConsumeStream answers a node holds for its streams at once. A stream holds
// its last answer until it asks for the next one, which it does only once that answer was taken
// by the client (written out under HTTP/2 flow control, or serialized by Connect). A reader that
// never opens its receive window therefore holds one whole answer, up to consume-bytes-max:
// 1,000 such streams held 3.8 GB. Past the budget, answers shrink to a few KiB (still at least
// one record), so stalled readers cost little more than their count, and the others go on.
//
// A stream reserves its answer's room before it reads it (reserve), and the reservation becomes
// the answer's size once read: streams that start reading in the same turn see each other's
// reads. Checked only after the reads, 800 streams opened at once each took a 4 MiB answer
// (3.2 GB of reads in flight against a 256 MiB budget; the leader lost its leadership).
import type { ConsumeLimits } from "../cluster/broker.js";

/** The size of an answer while the budget is spent. */
export const squeezedAnswerBytes = 16 * 1024;

/** The room reserved for one answer, from before its read until the stream has sent it. */
export interface HeldAnswer {
  /** The limits to read the answer with: the stream's own, or squeezed (budget spent). */
  readonly limits: ConsumeLimits;
  /** Counts the answer's size, once read, instead of the room reserved for it. */
  settle(bytes: number): void;
  /** Gives the bytes back; only the first call counts. */
  release(): void;
}

export class AnswerBudget {
  private heldBytes = 0;

  /** `bytesMax`: answer bytes held across all streams before answers shrink. */
  constructor(private readonly bytesMax: number) {}

  /** Answer bytes held (or reserved for reads under way) now. */
  get held(): number {
    return this.heldBytes;
  }

  /**
   * Reserves room for a stream's next answer before it is read: its own limits while the budget
   * has room for `copies` of a whole answer, else squeezed ones. `copies`: how many copies of
   * the answer the route keeps until it is sent (Connect keeps its own serialized one besides).
   */
  reserve(wanted: ConsumeLimits, copies = 1): HeldAnswer {
    const limits =
      this.heldBytes + copies * wanted.maxBytes <= this.bytesMax
        ? wanted
        : {
            maxRecords: wanted.maxRecords,
            maxBytes: Math.min(wanted.maxBytes, squeezedAnswerBytes),
          };
    let counted = copies * limits.maxBytes;
    let released = false;
    this.heldBytes += counted;
    return {
      limits,
      settle: (bytes) => {
        if (released) return;
        this.heldBytes += copies * bytes - counted;
        counted = copies * bytes;
      },
      release: () => {
        if (released) return;
        released = true;
        this.heldBytes -= counted;
      },
    };
  }

  /**
   * Whether a stream may hold an answer of `bytes` made before it could reserve (one pushed to
   * a follower of the topic): within the budget, or no larger than a squeezed answer.
   */
  admits(bytes: number): boolean {
    return bytes <= squeezedAnswerBytes || this.heldBytes + bytes <= this.bytesMax;
  }

  /** Counts `bytes` as held; the returned function gives them back (once). */
  hold(bytes: number): () => void {
    this.heldBytes += bytes;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.heldBytes -= bytes;
    };
  }
}

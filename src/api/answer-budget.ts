// How many bytes of ConsumeStream answers a node holds for its streams at once. A stream holds
// its last answer until it asks for the next one, which it does only once that answer was taken
// by the client (written out under HTTP/2 flow control, or serialized by Connect). A reader that
// never opens its receive window therefore holds one whole answer, up to consume-bytes-max:
// 1,000 such streams held 3.8 GB. Past the budget, answers shrink to a few KiB (still at least
// one record), so stalled readers cost little more than their count, and the others go on.
import type { ConsumeLimits } from "../cluster/broker.js";

/** The size of an answer while the budget is spent. */
export const squeezedAnswerBytes = 16 * 1024;

export class AnswerBudget {
  private heldBytes = 0;

  /** `bytesMax`: answer bytes held across all streams before answers shrink. */
  constructor(private readonly bytesMax: number) {}

  /** Answer bytes held now. */
  get held(): number {
    return this.heldBytes;
  }

  /** A stream's limits for its next answer: its own, or squeezed while the budget is spent. */
  limits(wanted: ConsumeLimits): ConsumeLimits {
    if (this.heldBytes + wanted.maxBytes <= this.bytesMax) return wanted;
    return {
      maxRecords: wanted.maxRecords,
      maxBytes: Math.min(wanted.maxBytes, squeezedAnswerBytes),
    };
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

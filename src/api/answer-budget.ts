// How many bytes of Consume answers a node holds for its clients at once (streams, and unary
// calls until their answer is written: answerHoldKey). A stream holds
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
import { createContextKey } from "@connectrpc/connect";
import type { ConsumeLimits } from "../cluster/broker.js";

/**
 * Where a unary call's handler leaves the release of the answer room it holds: the route calls
 * it once the answer is written out or the client is gone (connect-fastify-routes.ts). An
 * answer is held until then: a client that does not read (or pipelines requests on HTTP/1.1,
 * whose answers Node queues) holds it. Without a route to call it, the room is given back at once.
 */
export const answerHoldKey = createContextKey<((release: () => void) => void) | undefined>(
  undefined,
  { description: "tidelog: hold a unary answer's budget room until it is written" },
);

/** The size of an answer while the budget is spent. */
export const squeezedAnswerBytes = 16 * 1024;

/** An answer read within the budget, and the function that gives its room back (once). */
export interface HeldAnswer<A> {
  answer: A;
  release: () => void;
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
   * Reads a stream's next answer within the budget. Room is reserved before `read` runs, with the
   * stream's own limits while the budget has room for `copies` of a whole answer, else squeezed
   * ones; once read, the answer's `sizeOf` bytes are counted instead; a failed read gives the room
   * back. `copies`: how many copies of the answer the route keeps until it is sent (Connect keeps
   * its own serialized one besides).
   */
  async read<A>(
    wanted: ConsumeLimits,
    read: (limits: ConsumeLimits) => Promise<A>,
    sizeOf: (answer: A) => number,
    copies = 1,
  ): Promise<HeldAnswer<A>> {
    const limits =
      this.heldBytes + copies * wanted.maxBytes <= this.bytesMax
        ? wanted
        : {
            maxRecords: wanted.maxRecords,
            maxBytes: Math.min(wanted.maxBytes, squeezedAnswerBytes),
          };
    const reserved = copies * limits.maxBytes;
    this.heldBytes += reserved;
    let answer: A;
    try {
      answer = await read(limits);
    } finally {
      this.heldBytes -= reserved;
    }
    return { answer, release: this.hold(copies * sizeOf(answer)) };
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

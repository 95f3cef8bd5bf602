// Buffers for consume answers that are handed back once the answer has been serialized, so that
// a catch-up reuses a few warm buffers instead of allocating a fresh 1.2 MB one per answer, whose
// pages each fault on first touch and whose external memory drives the GC: reusing them took the
// leader's CPU for a 1 M × 100 B catch-up from 0.89–1.25 to 0.77–0.90 s (paired runs,
// bench/README.md).
//
// Only a caller that knows when the bytes are no longer read may give a buffer back (see
// api/consume-handlers.ts: a ConsumeStream answer is serialized before the stream is asked for
// the next one). A buffer given back is overwritten by a later answer.

/** Buffers kept for reuse, at most this many and this many bytes together. */
const keptBuffersMax = 8;
const keptBytesMax = 32 * 1024 * 1024;
/** Sizes are rounded up to a multiple of this, so that answers of close sizes share buffers. */
const sizeStep = 64 * 1024;
/** Larger answers are not kept. */
const bufferBytesMax = 8 * 1024 * 1024;

export class AnswerBuffers {
  private readonly free: Buffer[] = [];
  private freeBytes = 0;

  /** A buffer of at least `bytes` (contents arbitrary): a kept one when one fits. */
  take(bytes: number): Buffer {
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const length = this.free[i]!.length;
      if (length >= bytes && (best < 0 || length < this.free[best]!.length)) best = i;
    }
    if (best >= 0 && this.free[best]!.length <= 2 * Math.max(bytes, sizeStep)) {
      const [buffer] = this.free.splice(best, 1);
      this.freeBytes -= buffer!.length;
      return buffer!;
    }
    return Buffer.allocUnsafeSlow(Math.ceil(Math.max(bytes, 1) / sizeStep) * sizeStep);
  }

  /** Gives back a buffer from take() that nothing reads any more. */
  give(buffer: Buffer): void {
    if (this.free.includes(buffer)) throw new Error("answer buffer given back twice");
    if (buffer.length > bufferBytesMax) return;
    while (
      this.free.length > 0 &&
      (this.free.length >= keptBuffersMax || this.freeBytes + buffer.length > keptBytesMax)
    ) {
      this.freeBytes -= this.free.shift()!.length;
    }
    this.free.push(buffer);
    this.freeBytes += buffer.length;
  }

  /** Buffers kept (for tests). */
  get kept(): number {
    return this.free.length;
  }
}

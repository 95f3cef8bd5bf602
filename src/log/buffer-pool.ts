// Reuses the memory of encoded batches once they are written. A fresh buffer of 10–100 KiB per
// append costs more than encoding into it (new pages to fault in, external memory for the GC to
// account and free), so the log takes batch buffers from here and gives them back after their
// write settles. Buffers are kept per power-of-two size class, up to a bound on the bytes held.
//
// A released buffer must be owned by the caller alone: nothing may read or write it afterwards.

import { assert } from "../assert.js";

const smallestClassBytes = 4 * 1024;
const largestClassBytes = 8 * 1024 * 1024;

export class BufferPool {
  private readonly free = new Map<number, ArrayBuffer[]>();
  /** Memory this pool allocated: only that is ever taken back (never Node's shared slabs). */
  private readonly own = new WeakSet<ArrayBuffer>();
  /** Memory in `free`, to catch a buffer released twice (it would be handed out twice). */
  private readonly held = new Set<ArrayBuffer>();
  private heldBytes = 0;

  constructor(private readonly heldBytesMax: number) {}

  /** A buffer of `bytes` bytes, uninitialised (as Buffer.allocUnsafe). */
  acquire(bytes: number): Buffer {
    if (bytes < smallestClassBytes || bytes > largestClassBytes) return Buffer.allocUnsafe(bytes);
    const classBytes = sizeClass(bytes);
    const memory = this.free.get(classBytes)?.pop();
    if (memory === undefined) {
      const fresh = Buffer.allocUnsafeSlow(classBytes);
      this.own.add(fresh.buffer as ArrayBuffer);
      return fresh.subarray(0, bytes);
    }
    this.held.delete(memory);
    this.heldBytes -= classBytes;
    return Buffer.from(memory, 0, bytes);
  }

  /** Takes back a buffer from `acquire` that nothing uses any more. */
  release(buffer: Buffer): void {
    const memory = buffer.buffer as ArrayBuffer;
    const classBytes = memory.byteLength;
    assert(!this.held.has(memory), "buffer pool: a buffer released twice");
    if (!this.own.has(memory) || this.heldBytes + classBytes > this.heldBytesMax) return;
    let list = this.free.get(classBytes);
    if (list === undefined) {
      list = [];
      this.free.set(classBytes, list);
    }
    list.push(memory);
    this.held.add(memory);
    this.heldBytes += classBytes;
  }

  /** Buffers held for reuse. */
  get kept(): number {
    return this.held.size;
  }

  /** Bytes held for reuse. */
  get heldTotal(): number {
    return this.heldBytes;
  }
}

/** The smallest power of two ≥ bytes. */
function sizeClass(bytes: number): number {
  return 2 ** Math.ceil(Math.log2(bytes));
}

/**
 * One pool for every log of the process and the Raft transport's frames (JavaScript runs them on
 * one thread). 64 MiB holds the working set of a loaded node: a Ready's batch of 64 requests of
 * 100 KiB is an 8 MiB class, and each peer's append frames are 1–4 MiB classes. With 16 MiB most
 * of them were fresh allocations, and V8 starts a scavenge for every few tens of MB of new
 * external memory (bench/README.md, "The batch buffer pool").
 */
export const batchBufferPool = new BufferPool(64 * 1024 * 1024);

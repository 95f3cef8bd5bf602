import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BufferPool } from "../../src/log/buffer-pool.js";

describe("BufferPool", () => {
  it("hands out buffers of the asked length and reuses released memory", () => {
    const pool = new BufferPool(1024 * 1024);
    const first = pool.acquire(10_000);
    assert.equal(first.length, 10_000);
    const memory = first.buffer;
    pool.release(first);
    assert.equal(pool.heldTotal, 16 * 1024);
    const second = pool.acquire(12_000); // same size class (16 KiB)
    assert.equal(second.length, 12_000);
    assert.equal(second.buffer, memory);
    assert.equal(pool.heldTotal, 0);
    const third = pool.acquire(12_000); // the class is empty again: new memory
    assert.notEqual(third.buffer, memory);
  });

  it("never takes back memory it did not allocate (Node's shared slabs, outside sizes)", () => {
    const pool = new BufferPool(1024 * 1024);
    pool.release(Buffer.allocUnsafe(100)); // from Node's shared pool slab
    pool.release(Buffer.allocUnsafeSlow(8192)); // a power of two, but not the pool's
    const small = pool.acquire(100); // below the smallest class: a plain allocation
    pool.release(small);
    assert.equal(pool.heldTotal, 0);
  });

  it("holds at most its bound", () => {
    const pool = new BufferPool(40 * 1024);
    const buffers = [pool.acquire(16 * 1024), pool.acquire(16 * 1024), pool.acquire(16 * 1024)];
    for (const buffer of buffers) pool.release(buffer);
    assert.equal(pool.heldTotal, 32 * 1024);
  });

  it("refuses a buffer released twice (it would be handed out twice)", () => {
    const pool = new BufferPool(1024 * 1024);
    const buffer = pool.acquire(5000);
    pool.release(buffer);
    assert.throws(() => pool.release(buffer), { name: "AssertionFailure" });
  });
});

// Record values for the benchmarks: incompressible bytes, and values that carry their send time.
import { randomBytes } from "node:crypto";

/** `count` values of `bytes` random bytes each (one random buffer, shared: the server copies). */
export function randomValues(count: number, bytes: number): Uint8Array[] {
  const value = randomBytes(bytes);
  return Array.from({ length: count }, () => value);
}

/** Wall-clock milliseconds with sub-millisecond precision, comparable across this process. */
export function nowEpochMs(): number {
  return performance.timeOrigin + performance.now();
}

/** A value of `bytes` (≥ 8) bytes whose first 8 hold the send time (float64, little endian). */
export function timestampedValue(bytes: number, sentAtMs: number = nowEpochMs()): Uint8Array {
  const value = Buffer.alloc(Math.max(8, bytes), 0x74);
  value.writeDoubleLE(sentAtMs, 0);
  return value;
}

/** The send time a timestampedValue carries. */
export function sentAtOf(value: Uint8Array): number {
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength).readDoubleLE(0);
}

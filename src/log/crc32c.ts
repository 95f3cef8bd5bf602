// CRC-32C (Castagnoli). One range at a time (`crc32c`): short inputs use a slice-by-8 table in
// JavaScript, which beats a native call's fixed overhead for the ~100 B records that dominate;
// long inputs use the SSE4.2 code in @node-rs/crc32. Many ranges of one buffer at once
// (`crc32cRanges`, the frames of a batch): one copy into WebAssembly memory, then slice-by-16 in
// WebAssembly two ranges at a time, native only for ranges long enough to amortise its call —
// unless the native batch addon (crc32c-native.ts: the CPU's crc32 instruction, all ranges in
// one call) is available, which is several times faster than either.
import { crc32c as nativeCrc32c } from "@node-rs/crc32";
import { nativeCrc32c as nativeBatch } from "./crc32c-native.js";
import { instantiateCrc32cWasm, tablesBytes } from "./crc32c-wasm.js";

const POLYNOMIAL_REFLECTED = 0x82f63b78;
const nativeThresholdBytes = 512;

const tables: Uint32Array[] = (() => {
  const result: Uint32Array[] = [];
  const first = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLYNOMIAL_REFLECTED : c >>> 1;
    first[n] = c >>> 0;
  }
  result.push(first);
  for (let t = 1; t < 8; t++) {
    const previous = result[t - 1]!;
    const table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      const value = previous[n]!;
      table[n] = ((value >>> 8) ^ first[value & 0xff]!) >>> 0;
    }
    result.push(table);
  }
  return result;
})();

const [t0, t1, t2, t3, t4, t5, t6, t7] = tables as [
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
];

function crc32cJs(data: Uint8Array, start: number, end: number): number {
  let crc = 0xffffffff;
  let i = start;
  const end8 = end - ((end - start) & 7);
  while (i < end8) {
    const low =
      (crc ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24))) >>> 0;
    crc =
      t7[low & 0xff]! ^
      t6[(low >>> 8) & 0xff]! ^
      t5[(low >>> 16) & 0xff]! ^
      t4[low >>> 24]! ^
      t3[data[i + 4]!]! ^
      t2[data[i + 5]!]! ^
      t1[data[i + 6]!]! ^
      t0[data[i + 7]!]!;
    i += 8;
  }
  while (i < end) crc = t0[(crc ^ data[i++]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** CRC-32C of data[start, end). */
export function crc32c(data: Uint8Array, start = 0, end = data.length): number {
  if (end - start >= nativeThresholdBytes) {
    const view = Buffer.from(data.buffer, data.byteOffset + start, end - start);
    return nativeCrc32c(view) >>> 0;
  }
  return crc32cJs(data, start, end);
}

const wasm = instantiateCrc32cWasm();
/** Where crc2 stores its two results. */
const resultsAt = tablesBytes;
/** Where ranges are copied to. */
const scratchAt = tablesBytes + 16;
/** Bytes copied into WebAssembly memory at once (the scratch area grows to this at most). */
const windowBytesMax = 1024 * 1024;
/**
 * Longer ranges go to the native code, whose fixed cost per call (~0.25 µs) is then small: on
 * 100-frame batches WebAssembly measured ~10% faster at 1 KiB frames, native faster from 2 KiB.
 */
const wasmRangeBytesMax = 1536;
let heap = new Uint8Array(wasm.memory.buffer);
let heapView = new DataView(wasm.memory.buffer);

function ensureScratch(bytes: number): void {
  const needed = scratchAt + bytes;
  if (needed <= heap.length) return;
  wasm.memory.grow(Math.ceil((needed - heap.length) / 65_536));
  heap = new Uint8Array(wasm.memory.buffer);
  heapView = new DataView(wasm.memory.buffer);
}

/**
 * CRC-32C of each range [starts[i], ends[i]) of `data`, for i < count, into out[i]. The ranges
 * must be ascending and must not overlap (as the frames of a batch).
 */
export function crc32cRanges(
  data: Uint8Array,
  starts: Int32Array,
  ends: Int32Array,
  count: number,
  out: Uint32Array,
): void {
  if (nativeBatch !== undefined) nativeBatch.ranges(data, starts, ends, count, out);
  else crc32cRangesPortable(data, starts, ends, count, out);
}

/** crc32cRanges without the native addon: WebAssembly and @node-rs/crc32. */
export function crc32cRangesPortable(
  data: Uint8Array,
  starts: Int32Array,
  ends: Int32Array,
  count: number,
  out: Uint32Array,
): void {
  let i = 0;
  while (i < count) {
    const start = starts[i]!;
    if (ends[i]! - start > wasmRangeBytesMax) {
      out[i] = crc32c(data, start, ends[i]!);
      i++;
      continue;
    }
    // A window of consecutive short ranges, copied into WebAssembly memory in one go.
    let next = i + 1;
    while (
      next < count &&
      ends[next]! - starts[next]! <= wasmRangeBytesMax &&
      ends[next]! - start <= windowBytesMax
    ) {
      next++;
    }
    const windowEnd = ends[next - 1]!;
    ensureScratch(windowEnd - start);
    heap.set(data.subarray(start, windowEnd), scratchAt);
    const base = scratchAt - start;
    for (; i + 1 < next; i += 2) {
      const aStart = starts[i]!;
      const aLength = ends[i]! - aStart;
      const bStart = starts[i + 1]!;
      const bLength = ends[i + 1]! - bStart;
      const common = Math.min(aLength, bLength);
      wasm.crc2(base + aStart, base + bStart, common, resultsAt);
      let a = heapView.getInt32(resultsAt, true);
      let b = heapView.getInt32(resultsAt + 4, true);
      if (aLength > common) a = wasm.crc(a, base + aStart + common, aLength - common);
      if (bLength > common) b = wasm.crc(b, base + bStart + common, bLength - common);
      out[i] = a >>> 0;
      out[i + 1] = b >>> 0;
    }
    if (i < next) {
      out[i] = wasm.crc(0, base + starts[i]!, ends[i]! - starts[i]!) >>> 0;
      i++;
    }
  }
}

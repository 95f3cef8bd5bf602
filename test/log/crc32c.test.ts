import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { crc32c as nativeCrc32c } from "@node-rs/crc32";
import { crc32c, crc32cRanges, crc32cRangesPortable } from "../../src/log/crc32c.js";
import { nativeCrc32c as nativeBatch } from "../../src/log/crc32c-native.js";
import { crc32cTables, instantiateCrc32cWasm, tablesBytes } from "../../src/log/crc32c-wasm.js";

describe("crc32c", () => {
  it("matches the known check vectors", () => {
    assert.equal(crc32c(Buffer.from("123456789")), 0xe3069283);
    assert.equal(crc32c(Buffer.alloc(0)), 0);
    assert.equal(crc32c(Buffer.alloc(32, 0)), 0x8a9136aa); // RFC 3720 B.4: 32 bytes of zeros
    assert.equal(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43); // RFC 3720 B.4: 32 bytes of 0xff
    const ascending = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
    assert.equal(crc32c(ascending), 0x46dd794e); // RFC 3720 B.4: 0x00..0x1f
  });

  it("agrees with @node-rs/crc32 across sizes on both sides of the native threshold", () => {
    const data = randomBytes(70_000);
    const sizes = [1, 2, 3, 7, 8, 9, 15, 16, 17, 63, 64, 100, 255, 511, 512, 513, 1024, 4099];
    for (const size of [...sizes, 65_536, 69_990]) {
      for (const start of [0, 1, 3, 5]) {
        const end = start + size;
        const expected = nativeCrc32c(data.subarray(start, end)) >>> 0;
        assert.equal(crc32c(data, start, end), expected, `size ${size} start ${start}`);
      }
    }
  });

  it("computes over a range of a view with a non-zero byteOffset", () => {
    const backing = randomBytes(2048);
    const view = backing.subarray(100, 1900);
    for (const [start, end] of [
      [0, 10],
      [13, 600],
      [50, 1800],
    ] as const) {
      assert.equal(crc32c(view, start, end), nativeCrc32c(view.subarray(start, end)) >>> 0);
    }
  });

  const rangeImplementations = [
    ["crc32cRanges (native batch addon where built)", crc32cRanges],
    ["crc32cRangesPortable (WebAssembly + @node-rs/crc32)", crc32cRangesPortable],
  ] as const;
  for (const [name, ranges] of rangeImplementations) {
    it(`${name}: many ranges of one buffer at once, as @node-rs/crc32 range by range`, () => {
      const data = randomBytes(300_000);
      // Equal and unequal neighbours (crc2 then finishes the longer one), empty ranges, gaps,
      // ranges on both sides of the native threshold, and enough bytes to need several windows.
      const lengths = [0, 1, 15, 16, 17, 100, 100, 1028, 1028, 1536, 1537, 4000, 0, 3, 70_000];
      for (let i = 0; i < 120; i++) lengths.push((i * 7919) % 2100);
      const starts = new Int32Array(lengths.length);
      const ends = new Int32Array(lengths.length);
      let at = 5;
      lengths.forEach((length, i) => {
        starts[i] = at;
        ends[i] = at + length;
        at += length + (i % 3) * 4;
      });
      assert.ok(at <= data.length);
      const out = new Uint32Array(lengths.length);
      ranges(data, starts, ends, lengths.length, out);
      lengths.forEach((_, i) => {
        const expected = nativeCrc32c(data.subarray(starts[i]!, ends[i]!)) >>> 0;
        assert.equal(out[i], expected, `range ${i} of ${ends[i]! - starts[i]!} bytes`);
      });
      // A view with a byteOffset, and a count below the arrays' length.
      const view = data.subarray(777, 50_000);
      ranges(view, new Int32Array([0, 10, 40]), new Int32Array([10, 30, 49_000]), 2, out);
      assert.equal(out[0], nativeCrc32c(view.subarray(0, 10)) >>> 0);
      assert.equal(out[1], nativeCrc32c(view.subarray(10, 30)) >>> 0);
    });
  }

  it("the native batch addon refuses ranges outside its data", {
    skip: nativeBatch === undefined ? "native/crc32c is not built on this machine" : false,
  }, () => {
    const data = randomBytes(100);
    const out = new Uint32Array(2);
    const starts = new Int32Array([0, 50]);
    assert.throws(
      () => nativeBatch!.ranges(data, starts, new Int32Array([10, 101]), 2, out),
      RangeError,
    );
    assert.throws(
      () => nativeBatch!.ranges(data, new Int32Array([20, 0]), new Int32Array([10, 5]), 2, out),
      RangeError,
    );
    assert.throws(
      () => nativeBatch!.ranges(data, starts, new Int32Array([10, 60]), 3, out),
      RangeError,
    );
    nativeBatch!.ranges(data, starts, new Int32Array([10, 100]), 2, out);
    assert.equal(out[1], nativeCrc32c(data.subarray(50, 100)) >>> 0);
  });

  it("assembles a WebAssembly module whose crc and crc2 match the check vectors", () => {
    const wasm = instantiateCrc32cWasm();
    const heap = new Uint8Array(wasm.memory.buffer);
    const at = tablesBytes + 64;
    heap.set(Buffer.from("123456789"), at);
    assert.equal(wasm.crc(0, at, 9) >>> 0, 0xe3069283);
    // Continuing from a previous result is the CRC of the concatenation.
    assert.equal(wasm.crc(wasm.crc(0, at, 4), at + 4, 5) >>> 0, 0xe3069283);
    heap.fill(0xff, at + 100, at + 132);
    heap.set(Buffer.from("123456789"), at + 200);
    wasm.crc2(at + 200, at + 200, 9, at + 300);
    const results = new DataView(wasm.memory.buffer, at + 300, 8);
    assert.equal(results.getUint32(0, true), 0xe3069283);
    assert.equal(results.getUint32(4, true), 0xe3069283);
    wasm.crc2(at + 100, at + 200, 0, at + 300);
    assert.equal(results.getUint32(0, true), 0);
    assert.equal(crc32cTables()[1], 0xf26b8303 | 0); // table 0, entry 1 of the reflected polynomial
  });
});

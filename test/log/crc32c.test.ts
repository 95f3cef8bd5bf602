import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { crc32c as nativeCrc32c } from "@node-rs/crc32";
import { crc32c } from "../../src/log/crc32c.js";

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
});

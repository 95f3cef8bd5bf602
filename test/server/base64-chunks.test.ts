// The base64 stream decoder of gRPC-Web text requests: independently padded chunks put end to
// end, then cut at arbitrary points as the network delivers them; and every kind of bad text.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Base64ChunkDecoder, Base64Error } from "../../src/server/base64-chunks.js";

/** Deterministic bytes, each telling its position apart. */
function payload(length: number): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 131 + 7) & 0xff;
  return bytes;
}

/** `bytes` cut into pieces of the given sizes (cycled), each encoded with its own padding. */
function encodeInPieces(bytes: Buffer, sizes: readonly number[]): string {
  let text = "";
  for (let at = 0, turn = 0; at < bytes.length; turn++) {
    const size = sizes[turn % sizes.length]!;
    text += bytes.subarray(at, at + size).toString("base64");
    at += size;
  }
  return text;
}

/** Feeds `text` in network chunks of the given sizes (cycled); the bytes decoded, whole. */
function decode(text: string, sizes: readonly number[]): Buffer {
  const decoder = new Base64ChunkDecoder();
  const out: Buffer[] = [];
  for (let at = 0, turn = 0; at < text.length; turn++) {
    const size = sizes[turn % sizes.length]!;
    out.push(decoder.push(Buffer.from(text.slice(at, at + size), "latin1")));
    at += size;
  }
  decoder.end();
  return Buffer.concat(out);
}

describe("Base64ChunkDecoder", () => {
  const bytes = payload(40_003);
  const pieceSizes: readonly (readonly number[])[] = [
    [bytes.length],
    [1],
    [2],
    [1, 2, 3, 4, 5],
    [7, 16_384, 1],
  ];
  const networkSizes: readonly (readonly number[])[] = [[1_000_000], [1], [3], [5, 4, 1, 16_384]];

  for (const pieces of pieceSizes) {
    for (const network of networkSizes) {
      test(`pieces of ${pieces.join(",")} bytes, delivered in ${network.join(",")}`, () => {
        const text = encodeInPieces(bytes, pieces);
        assert.ok(decode(text, network).equals(bytes));
      });
    }
  }

  test("an empty stream is no bytes", () => {
    const decoder = new Base64ChunkDecoder();
    assert.equal(decoder.push(Buffer.alloc(0)).length, 0);
    decoder.end();
  });

  const invalid: [string, string, RegExp][] = [
    ["a character outside the alphabet", "QUJD!UJD", /invalid base64 character "!" at character 4/],
    ["a URL-safe character", "QUJD-_Q=", /invalid base64 character "-" at character 4/],
    ["white-space", "QUJD\nQUJD", /invalid base64 character "\\n" at character 4/],
    ["a byte outside ASCII", "QUJD\u00e9QUJ", /invalid base64 character/],
    ["padding first in a group", "QUJD=AAA", /misplaced base64 padding at character 4/],
    ["padding second in a group", "QUJDQ===", /misplaced base64 padding at character 5/],
    ["one padding character before data", "QUJDQQ=A", /misplaced base64 padding at character 6/],
    ["a group cut short", "QUJDQQ", /ends inside a group of 4 characters \(2 left over\)/],
    [
      "a bad character in a group cut short",
      "QUJDQ*",
      /invalid base64 character "\*" at character 5/,
    ],
    ["a padded group cut short", "QQ=", /ends inside a group of 4 characters \(3 left over\)/],
    ["bad text after padding", "QQ==Q!==", /invalid base64 character "!" at character 5/],
  ];
  for (const [name, text, message] of invalid) {
    test(`refused: ${name}`, () => {
      for (const network of [[text.length], [1], [3]]) {
        assert.throws(
          () => decode(text, network),
          (error: unknown) => error instanceof Base64Error && message.test(error.message),
        );
      }
    });
  }
});

// The gRPC message cutter against every way a stream of messages can be split into chunks:
// messages whole in one chunk, spanning many, prefixes cut in two, empty messages.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConnectError } from "@connectrpc/connect";
import { grpcPrefixBytes } from "../../src/protobuf-wire.js";
import { GrpcMessageCutter } from "../../src/server/grpc-message-cutter.js";

function framed(message: Buffer, flag = 0): Buffer {
  const prefix = Buffer.alloc(grpcPrefixBytes);
  prefix[0] = flag;
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

/** Messages of assorted lengths, each byte telling its message and position apart. */
function messages(): Buffer[] {
  const lengths = [0, 1, 4, 5, 17, 1000, 16_384, 70_000, 3, 0, 250_000];
  return lengths.map((length, i) => {
    const message = Buffer.allocUnsafe(length);
    for (let j = 0; j < length; j++) message[j] = (i * 31 + j * 7) & 0xff;
    return message;
  });
}

/** Feeds `wire` in chunks of the given sizes (cycled) and collects every message cut. */
function cutAll(wire: Buffer, chunkSizes: readonly number[]): Buffer[] {
  const cutter = new GrpcMessageCutter(1 << 20);
  const out: Buffer[] = [];
  let at = 0;
  let turn = 0;
  while (at < wire.length) {
    const size = chunkSizes[turn++ % chunkSizes.length]!;
    // Each chunk a copy, as Node hands a read to a stream: nothing may alias the caller's bytes.
    cutter.push(Buffer.from(wire.subarray(at, at + size)));
    at += size;
    for (let message = cutter.next(); message !== undefined; message = cutter.next()) {
      out.push(Buffer.from(message));
    }
  }
  assert.equal(cutter.buffered, 0, "no bytes left over");
  return out;
}

describe("GrpcMessageCutter", () => {
  const sent = messages();
  const wire = Buffer.concat(sent.map((message) => framed(message)));

  for (const sizes of [
    [wire.length],
    [1],
    [2, 3],
    [5],
    [7, 4096],
    [16_384],
    [65_536, 13],
    [99_999],
  ]) {
    test(`chunks of ${sizes.join(", ")} bytes give back every message intact`, () => {
      const got = cutAll(wire, sizes);
      assert.equal(got.length, sent.length);
      for (const [i, message] of sent.entries()) {
        assert.ok(got[i]!.equals(message), `message ${i} (${message.length} bytes) intact`);
      }
    });
  }

  test("a message spanning chunks is copied alone: the bytes after it stay in their chunk", () => {
    const cutter = new GrpcMessageCutter(1 << 20);
    const both = Buffer.concat([framed(Buffer.alloc(10_000, 1)), framed(Buffer.alloc(5_000, 2))]);
    // Larger than Node's 4 KiB pool slices, so each chunk has memory of its own.
    const head = Buffer.from(both.subarray(0, 6_000));
    const rest = Buffer.from(both.subarray(6_000));
    cutter.push(head);
    assert.equal(cutter.next(), undefined);
    cutter.push(rest);
    const first = cutter.next()!;
    assert.ok(first.equals(Buffer.alloc(10_000, 1)));
    assert.equal(first.length, first.buffer.byteLength, "a buffer of the message's size");
    assert.equal(cutter.buffered, 5_000 + grpcPrefixBytes);
    const second = cutter.next()!;
    assert.ok(second.equals(Buffer.alloc(5_000, 2)));
    assert.equal(second.buffer, rest.buffer, "the second message was not copied");
  });

  test("a message over the limit is refused at its prefix, a compressed one at once", () => {
    const big = new GrpcMessageCutter(10);
    big.push(framed(Buffer.alloc(11)).subarray(0, grpcPrefixBytes));
    assert.throws(
      () => big.next(),
      (error: unknown) =>
        error instanceof ConnectError && /larger than configured/.test(error.message),
    );
    const compressed = new GrpcMessageCutter(10);
    compressed.push(framed(Buffer.alloc(3), 1));
    assert.throws(
      () => compressed.next(),
      (error: unknown) =>
        error instanceof ConnectError && /compressed envelope/.test(error.message),
    );
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  encodeBatch,
  frameBytes,
  frameHeaderBytes,
  frameIsValid,
  framePayloadBytesMax,
  readFrameHeader,
} from "../../src/log/frame.js";

describe("frame", () => {
  it("encodes a batch as contiguous frames with batch positions and valid CRCs", () => {
    const payloads = [Buffer.from("alpha"), Buffer.alloc(0), Buffer.from("gamma!")];
    const encoded = encodeBatch(payloads);
    assert.equal(
      encoded.length,
      payloads.reduce((sum, payload) => sum + frameBytes(payload.length), 0),
    );
    let position = 0;
    payloads.forEach((payload, i) => {
      const header = readFrameHeader(encoded, position);
      assert.ok(header);
      assert.equal(header.payloadLength, payload.length);
      assert.equal(header.batchPosition, i);
      assert.equal(header.batchRemaining, payloads.length - 1 - i);
      assert.ok(frameIsValid(encoded, position, header));
      const start = position + frameHeaderBytes;
      assert.deepEqual(encoded.subarray(start, start + payload.length), payload);
      position += frameBytes(payload.length);
    });
  });

  it("reports a torn frame (header or payload cut short) as invalid", () => {
    const encoded = encodeBatch([Buffer.alloc(40, 7)]);
    assert.equal(readFrameHeader(encoded.subarray(0, frameHeaderBytes - 1), 0), undefined);
    for (const cut of [frameHeaderBytes, frameHeaderBytes + 1, encoded.length - 1]) {
      const torn = encoded.subarray(0, cut);
      const header = readFrameHeader(torn, 0);
      assert.ok(header);
      assert.equal(frameIsValid(torn, 0, header), false, `cut at ${cut}`);
    }
  });

  it("detects every single flipped bit in the CRC, batch fields and payload", () => {
    const encoded = encodeBatch([Buffer.from("the quick brown fox"), Buffer.from("jumps")]);
    const firstLength = frameBytes("the quick brown fox".length);
    for (let byte = 4; byte < firstLength; byte++) {
      for (let bit = 0; bit < 8; bit++) {
        const copy = Buffer.from(encoded);
        copy[byte]! ^= 1 << bit;
        const header = readFrameHeader(copy, 0);
        assert.ok(header);
        assert.equal(frameIsValid(copy, 0, header), false, `byte ${byte} bit ${bit}`);
      }
    }
  });

  it("detects a flipped bit in the length field (the CRC then covers the wrong bytes)", () => {
    const encoded = encodeBatch([Buffer.alloc(64, 1), Buffer.alloc(64, 2)]);
    for (let bit = 0; bit < 32; bit++) {
      const copy = Buffer.from(encoded);
      copy.writeUInt32LE((copy.readUInt32LE(0) ^ (1 << bit)) >>> 0, 0);
      const header = readFrameHeader(copy, 0);
      assert.ok(header);
      assert.equal(frameIsValid(copy, 0, header), false, `length bit ${bit}`);
    }
  });

  it("rejects a huge length without reading past the buffer", () => {
    const encoded = encodeBatch([Buffer.from("x")]);
    for (const length of [framePayloadBytesMax + 1, 0xffffffff, encoded.length]) {
      const copy = Buffer.from(encoded);
      copy.writeUInt32LE(length, 0);
      const header = readFrameHeader(copy, 0);
      assert.ok(header);
      assert.equal(frameIsValid(copy, 0, header), false, `length ${length}`);
    }
  });

  it("reads headers at an offset inside a larger buffer view", () => {
    const encoded = encodeBatch([Buffer.from("one"), Buffer.from("two")]);
    const padded = Buffer.concat([Buffer.alloc(5, 0xee), encoded]);
    const view = padded.subarray(5);
    const second = frameBytes(3);
    const header = readFrameHeader(view, second);
    assert.ok(header);
    assert.equal(header.batchPosition, 1);
    assert.ok(frameIsValid(view, second, header));
  });

  it("asserts on an empty batch (a programmer error)", () => {
    assert.throws(() => encodeBatch([]), { name: "AssertionFailure" });
  });
});

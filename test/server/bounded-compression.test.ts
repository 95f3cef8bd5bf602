// The Connect routes' gzip (src/server/bounded-compression.ts) and the process-wide gate its
// decompressions take turns of (src/server/decompression-gate.ts), on real zlib: the exact limit
// passes, one byte over is resource_exhausted in connect-node's words, cut-short or corrupt input
// is invalid_argument, and the gate runs at most activeMax at once and refuses past waitingMax.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import { Code, ConnectError } from "@connectrpc/connect";
import { boundedGzip, chunkBytes, gunzipAtMost } from "../../src/server/bounded-compression.js";
import { DecompressionGate } from "../../src/server/decompression-gate.js";

const limit = 3 * chunkBytes + 17;

async function refusal(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (error) {
    return ConnectError.from(error);
  }
  assert.fail("the decompression succeeded");
}

describe("bounded gzip", () => {
  test("a message of exactly the limit is decompressed whole", async () => {
    const message = Buffer.alloc(limit, "tidelog ");
    const out = await gunzipAtMost(gzipSync(message), limit);
    assert.ok(out.buffer instanceof ArrayBuffer);
    assert.deepEqual(Buffer.from(out), message);
  });

  test("one byte over the limit is resource_exhausted, as connect-node words it", async () => {
    const error = await refusal(gunzipAtMost(gzipSync(Buffer.alloc(limit + 1)), limit));
    assert.equal(error.code, Code.ResourceExhausted);
    assert.equal(
      error.rawMessage,
      `message is larger than configured readMaxBytes ${limit} after decompression`,
    );
  });

  test("a bomb far over the limit is refused the same way", async () => {
    const bomb = gzipSync(Buffer.alloc(256 * 1024 * 1024), { level: 9 });
    assert.ok(bomb.length < 300 * 1024);
    const error = await refusal(gunzipAtMost(bomb, limit));
    assert.equal(error.code, Code.ResourceExhausted);
    assert.match(error.rawMessage, /after decompression/);
  });

  test("cut-short and corrupt input are invalid_argument", async () => {
    const whole = gzipSync(Buffer.from("a record value, compressed"));
    const cut = await refusal(gunzipAtMost(whole.subarray(0, whole.length - 6), limit));
    assert.equal(cut.code, Code.InvalidArgument);
    const corrupt = Buffer.from(whole);
    corrupt[12] = corrupt[12]! ^ 0xff;
    corrupt[13] = corrupt[13]! ^ 0xff;
    assert.equal((await refusal(gunzipAtMost(corrupt, limit))).code, Code.InvalidArgument);
    const notGzip = await refusal(gunzipAtMost(Buffer.from("plain text, not gzip"), limit));
    assert.equal(notGzip.code, Code.InvalidArgument);
  });

  test("the Compression: empty is empty, and compress round-trips", async () => {
    const gzip = boundedGzip(new DecompressionGate({ activeMax: 1, waitingMax: 0 }));
    assert.equal(gzip.name, "gzip");
    assert.equal((await gzip.decompress(new Uint8Array(0), limit)).length, 0);
    const message = Buffer.from("round trip");
    const back = await gzip.decompress(await gzip.compress(message), limit);
    assert.deepEqual(Buffer.from(back), message);
  });
});

describe("the decompression gate", () => {
  test("runs at most activeMax at once, in order, and refuses past waitingMax", async () => {
    const gate = new DecompressionGate({ activeMax: 2, waitingMax: 3 });
    let running = 0;
    let runningMax = 0;
    const started: number[] = [];
    const releases: (() => void)[] = [];
    const work = (i: number) => () => {
      started.push(i);
      running++;
      runningMax = Math.max(runningMax, running);
      return new Promise<number>((resolve) =>
        releases.push(() => {
          running--;
          resolve(i);
        }),
      );
    };
    const runs = [0, 1, 2, 3, 4].map((i) => gate.run(work(i)));
    assert.deepEqual(gate.load, { active: 2, waiting: 3 });
    const refused = await refusal(gate.run(work(5)));
    assert.equal(refused.code, Code.ResourceExhausted);
    assert.match(refused.rawMessage, /too many compressed requests at once/);
    for (let turn = 0; turn < 5; turn++) {
      while (releases.length === 0) await new Promise((resolve) => setImmediate(resolve));
      releases.shift()!();
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.deepEqual(await Promise.all(runs), [0, 1, 2, 3, 4]);
    assert.deepEqual(started, [0, 1, 2, 3, 4]);
    assert.equal(runningMax, 2);
    assert.deepEqual(gate.load, { active: 0, waiting: 0 });
  });

  test("a failed run hands its turn on", async () => {
    const gate = new DecompressionGate({ activeMax: 1, waitingMax: 1 });
    const failing = gate.run(() => Promise.reject(new Error("corrupt")));
    const next = gate.run(() => Promise.resolve("next"));
    await assert.rejects(failing, /corrupt/);
    assert.equal(await next, "next");
    assert.deepEqual(gate.load, { active: 0, waiting: 0 });
  });
});

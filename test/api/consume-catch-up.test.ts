// ConsumeStream catch-ups read behind the tail's cache, so their answers are transcoded into
// reused buffers (TopicTails.answerBuffers, a BufferPool): consume-handlers.ts gives a buffer back when the
// stream is asked for its next answer, relying on Connect having serialized the previous one by
// then. Here every buffer given back is overwritten at once (the node runs in this process), so
// an answer serialized after its buffer was given back arrives corrupt: several concurrent
// catch-ups in small answers, over every binary protocol, must each get every record intact.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { LogService } from "../../src/gen/tidelog/v1/log_service_pb.js";
import { RecordSchema } from "../../src/gen/tidelog/v1/record_pb.js";
import { BufferPool, batchBufferPool } from "../../src/log/buffer-pool.js";
import {
  type ClosableTransport,
  connectClient,
  createNodeTransport,
  type NodeTransportKind,
} from "../harness/clients.js";
import { type InProcessNode, startInProcessNode } from "../harness/in-process-node.js";

const recordCount = 3_000;

function expectedValue(offset: number): string {
  return `value-${offset}-${"v".repeat(offset % 50)}`;
}

describe("ConsumeStream catch-ups in reused answer buffers", () => {
  let server: InProcessNode;
  const transports: ClosableTransport[] = [];

  const release = BufferPool.prototype.release;
  let given = 0;

  before(async () => {
    // The node's answer pool (the log's batch pool is the only other BufferPool).
    BufferPool.prototype.release = function (this: BufferPool, buffer: Buffer) {
      if (this !== batchBufferPool) {
        buffer.fill(0xff);
        given++;
      }
      release.call(this, buffer);
    };
    server = await startInProcessNode();
    const made = createNodeTransport("grpc", server.baseUrl);
    transports.push(made);
    const client = connectClient(LogService, made.transport);
    for (let from = 0; from < recordCount; from += 500) {
      await client.produce({
        topic: "catch-up",
        records: Array.from({ length: 500 }, (_, i) =>
          create(RecordSchema, {
            value: Buffer.from(expectedValue(from + i)),
            key: (from + i) % 7 === 0 ? Buffer.from(`key-${from + i}`) : new Uint8Array(),
          }),
        ),
      });
    }
  });

  after(async () => {
    BufferPool.prototype.release = release;
    for (const made of transports) made.close();
    await server?.close();
  });

  async function catchUp(kind: NodeTransportKind, maxRecords: number): Promise<void> {
    const made = createNodeTransport(kind, server.baseUrl);
    transports.push(made);
    const client = connectClient(LogService, made.transport);
    const controller = new AbortController();
    let next = 0;
    try {
      for await (const response of client.consumeStream(
        { topic: "catch-up", offset: 0n, maxRecords },
        { signal: controller.signal },
      )) {
        assert.ok(response.records.length >= 1 && response.records.length <= maxRecords);
        for (const record of response.records) {
          assert.equal(Number(record.offset), next, `${kind}: offset`);
          assert.equal(Buffer.from(record.value).toString(), expectedValue(next), `${kind}: value`);
          const key = next % 7 === 0 ? `key-${next}` : "";
          assert.equal(Buffer.from(record.key).toString(), key, `${kind}: key`);
          next++;
        }
        assert.equal(response.nextOffset, BigInt(next));
        if (next === recordCount) controller.abort();
      }
    } catch (error) {
      if (!controller.signal.aborted) throw error;
    }
    assert.equal(next, recordCount, kind);
  }

  test("concurrent catch-ups over every binary protocol get every record intact", async () => {
    await Promise.all([
      catchUp("grpc", 7),
      catchUp("grpc", 100),
      catchUp("grpc", 1_000),
      catchUp("connect-binary-h2", 13),
      catchUp("connect-binary-h1", 29),
      catchUp("grpc-web-h2", 11),
      catchUp("grpc-web-h1", 200),
    ]);
    assert.ok(given > 100, `answer buffers given back: ${given}`);
  });
});

// The benchmark's bare HTTP/2 gRPC client (bench/lib/h2-grpc-producer.ts) against a real node:
// what it acknowledges is in the topic, in order, and a call the server refuses fails the run
// instead of being counted.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createH2GrpcProducer } from "../../bench/lib/h2-grpc-producer.js";
import {
  createGrpcLogClient,
  type GrpcConsumeResponse,
  type GrpcLogServiceClient,
  grpcUnary,
} from "../harness/clients.js";
import { type InProcessNode, startInProcessNode } from "../harness/in-process-node.js";

describe("the bare HTTP/2 gRPC producer of the benchmark", () => {
  let server: InProcessNode;
  let strict: InProcessNode;
  let client: GrpcLogServiceClient;

  before(async () => {
    server = await startInProcessNode();
    strict = await startInProcessNode({ limits: { recordBytesMax: 8 } });
    client = createGrpcLogClient(server.address);
  });

  after(async () => {
    client?.close();
    await server?.close();
    await strict?.close();
  });

  const values = ["a", "bb", "ccc"].map((value) => Buffer.from(value));

  test("unary calls and a pipelined stream are acknowledged as the topic holds them", async () => {
    const producer = createH2GrpcProducer(server.baseUrl, { topic: "h2-bench", values });
    try {
      await producer.produce();
      await producer.produce();
      const outcome = await producer.stream({ inflight: 4, durationMs: 10_000, requestsMax: 10 });
      assert.equal(outcome.requests, 10);
      assert.equal(outcome.latency.count, 10);
    } finally {
      producer.close();
    }
    const consumed = await grpcUnary<GrpcConsumeResponse>(client, "Consume", {
      topic: "h2-bench",
      offset: "0",
    });
    assert.equal(consumed.highWatermark, "36");
    assert.equal(consumed.records.length, 36);
    for (const [i, record] of consumed.records.entries()) {
      assert.equal(record.offset, String(i));
      assert.equal(record.value.toString(), values[i % 3]!.toString());
    }
  });

  test("a refused request fails the call and the stream", async () => {
    const producer = createH2GrpcProducer(strict.baseUrl, {
      topic: "h2-refused",
      values: [Buffer.alloc(16)],
    });
    try {
      await assert.rejects(producer.produce(), /grpc-status 8 /);
      await assert.rejects(
        producer.stream({ inflight: 2, durationMs: 10_000, requestsMax: 5 }),
        /grpc-status 8 /,
      );
    } finally {
      producer.close();
    }
  });
});

// A ProduceStream sent to a follower: the follower forwards the whole stream to the leader as one
// ProduceStream, so a stream's requests get offsets in their order (each request forwarded as
// its own call let a large request commit after the small ones sent behind it), on the
// plain-gRPC route and on the Connect route alike; a request over a limit still fails the stream
// with its own error after the requests before it were answered.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import {
  ProduceRequestSchema,
  ProduceResponseSchema,
} from "../../src/gen/tidelog/v1/log_service_pb.js";
import { Cluster } from "../harness/cluster.js";
import { cutGrpcMessages, grpcCall, grpcFrame, gzipFrame } from "../harness/raw-grpc.js";

const produceStreamPath = "/tidelog.v1.LogService/ProduceStream";
const recordBytesMax = 300_000;

function request(topic: string, value: string): Buffer {
  return Buffer.from(
    toBinary(
      ProduceRequestSchema,
      create(ProduceRequestSchema, { topic, records: [{ value: Buffer.from(value) }] }),
    ),
  );
}

/** 60 requests, every 7th a large one (200 kB), the rest tiny. */
function mixedRequests(topic: string): Buffer[] {
  return Array.from({ length: 60 }, (_, i) =>
    request(topic, i % 7 === 0 ? "x".repeat(200_000) : `r${i}`),
  );
}

function firstOffsets(body: Buffer): number[] {
  return cutGrpcMessages(body).map((message) =>
    Number(fromBinary(ProduceResponseSchema, message).offsets[0]),
  );
}

describe("ProduceStream through a follower", () => {
  let cluster: Cluster;
  let followerPort: number;

  before(async () => {
    cluster = await Cluster.start({
      size: 2,
      args: ["--record-bytes-max", String(recordBytesMax)],
    });
    const leader = await cluster.waitForLeader();
    const follower = cluster.ids.find((id) => id !== leader)!;
    followerPort = Number(cluster.member(follower).address.split(":")[1]);
  });

  after(async () => {
    await cluster?.close();
  });

  for (const route of ["plain gRPC", "Connect (gzip)"] as const) {
    test(`${route}: a stream's requests get offsets in their order`, async () => {
      const topic = `order-${route.startsWith("plain") ? "fast" : "connect"}`;
      const gzip = route !== "plain gRPC";
      const answer = await grpcCall(
        followerPort,
        produceStreamPath,
        mixedRequests(topic).map((message) => (gzip ? gzipFrame(message) : grpcFrame(message))),
        { headers: gzip ? { "grpc-encoding": "gzip" } : {}, timeoutMs: 30_000 },
      );
      assert.equal(answer.grpcStatus, "0", answer.grpcMessage);
      const offsets = firstOffsets(answer.body);
      assert.deepEqual(
        offsets,
        Array.from({ length: 60 }, (_, i) => i),
        `offsets in request order: ${offsets.join(",")}`,
      );
    });
  }

  test("a request over the record limit: those before it answered, then its error", async () => {
    const topic = "limit";
    const messages = [
      request(topic, "a"),
      request(topic, "b"),
      request(topic, "x".repeat(recordBytesMax + 1)),
      request(topic, "never"),
    ].map((message) => grpcFrame(message));
    const answer = await grpcCall(followerPort, produceStreamPath, messages, {
      timeoutMs: 30_000,
    });
    assert.equal(answer.grpcStatus, String(Code.ResourceExhausted), answer.grpcMessage);
    assert.match(answer.grpcMessage, /record 0 is \d+ bytes; the limit is 300000/);
    assert.deepEqual(firstOffsets(answer.body), [0, 1]);
  });
});

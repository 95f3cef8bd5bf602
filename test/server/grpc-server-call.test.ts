// Plain gRPC calls of LogService's hot methods served straight on the HTTP/2 stream
// (src/server/grpc-server-call.ts, fast-grpc-routes.ts), seen by a raw node:http2 client of a
// real node on 127.0.0.1: framing cut anywhere, framing errors, the unary-request rules,
// deadlines, resets, shutdown, and flow control in both directions.
import assert from "node:assert/strict";
import http2 from "node:http2";
import { after, before, describe, test } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { clientReadMaxBytes, defaultApiLimits } from "../../src/api/limits.js";
import {
  ConsumeRequestSchema,
  ProduceRequestSchema,
  ProduceResponseSchema,
} from "../../src/gen/tidelog/v1/log_service_pb.js";
import { eventually, type InProcessNode, startInProcessNode } from "../harness/in-process-node.js";
import {
  cutGrpcMessages,
  grpcCall,
  grpcFrame,
  openGrpcStream,
  rawCallThenReset,
  recordRoutes,
  writeUntilStalled,
} from "../harness/raw-grpc.js";

const producePath = "/tidelog.v1.LogService/Produce";
const produceStreamPath = "/tidelog.v1.LogService/ProduceStream";
const consumeStreamPath = "/tidelog.v1.LogService/ConsumeStream";
const limits = { ...defaultApiLimits, streamsMax: 4, produceStreamInflightMax: 8 };
const streamsMax = limits.streamsMax;

function produceMessage(topic: string, values: readonly string[]): Buffer {
  const request = create(ProduceRequestSchema, {
    topic,
    records: values.map((value) => ({ value: Buffer.from(value), key: Buffer.from("k") })),
  });
  return grpcFrame(toBinary(ProduceRequestSchema, request));
}

function consumeMessage(topic: string, offset: number): Buffer {
  return grpcFrame(
    toBinary(ConsumeRequestSchema, create(ConsumeRequestSchema, { topic, offset: BigInt(offset) })),
  );
}

/** The offsets of each ProduceResponse in a response body. */
function answeredOffsets(body: Buffer): number[][] {
  return cutGrpcMessages(body).map((message) =>
    fromBinary(ProduceResponseSchema, message).offsets.map(Number),
  );
}

describe("plain gRPC served on the HTTP/2 stream", () => {
  let node: InProcessNode;
  let port: number;
  const streamsActive = () => node.node.app.streams.active;
  /** The topic's next offset; 0 for a topic that does not exist. */
  const nextOffset = (topic: string) =>
    node.node.broker.topics().find((info) => info.name === topic)?.nextOffset ?? 0;

  before(async () => {
    node = await startInProcessNode({ limits });
    port = Number(node.address.split(":")[1]);
  });

  after(async () => {
    await node?.close();
  });

  /** The node still serves a Produce on the fast path, and no stream is left counted. */
  async function assertServingAndReleased(): Promise<void> {
    await eventually(() => streamsActive() === 0, "every stream released");
    const answer = await grpcCall(port, producePath, [produceMessage("alive", ["x"])]);
    assert.equal(answer.grpcStatus, "0", answer.grpcMessage);
  }

  test("a Produce cut into DATA frames at every byte boundary is answered", async () => {
    const message = produceMessage("cut", ["value"]);
    const splits: Buffer[][] = [[...message].map((byte) => Buffer.from([byte]))];
    for (let at = 1; at < message.length; at++)
      splits.push([message.subarray(0, at), message.subarray(at)]);
    const routes = recordRoutes(node.node.app);
    const session = http2.connect(node.baseUrl);
    try {
      for (const [i, chunks] of splits.entries()) {
        const answer = await grpcCall(port, producePath, chunks, { session, writeApart: true });
        assert.equal(answer.grpcStatus, "0", `split ${i}: ${answer.grpcMessage}`);
        assert.deepEqual(answeredOffsets(answer.body), [[i]], `split ${i}`);
      }
    } finally {
      session.close();
      routes.restore();
    }
    // The server did receive the pieces apart (each its own DATA frame), on the fast path.
    assert.equal(routes.streams.length, splits.length);
    routes.streams.forEach((routed, i) => {
      assert.ok(routed.fast, `split ${i} took the fast path`);
      assert.deepEqual(
        routed.chunks,
        splits[i]!.map((chunk) => chunk.length),
        `split ${i} arrived as sent`,
      );
    });
  });

  test("a prefix announcing a message over the limit is refused at once, body unsent", async () => {
    const limit = clientReadMaxBytes(limits);
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(limit + 1, 1);
    for (const path of [producePath, produceStreamPath, consumeStreamPath]) {
      const answer = await grpcCall(port, path, [prefix], { keepOpen: true });
      assert.equal(answer.grpcStatus, String(Code.ResourceExhausted), path);
      assert.ok(answer.elapsedMs < 5_000, `${path}: answered after ${answer.elapsedMs} ms`);
      assert.equal(
        answer.grpcMessage,
        `message size ${limit + 1} is larger than configured readMaxBytes ${limit}`,
      );
    }
    await assertServingAndReleased();
  });

  test("framing and unary-request errors end the call with their code", async () => {
    const whole = produceMessage("framing", ["v"]);
    const streamed = produceMessage("framing-stream", ["v"]);
    const compressed = Buffer.from(whole);
    compressed[0] = 1;
    const cases: [string, string, Buffer[], boolean, Code, string][] = [
      [
        "compressed flag",
        produceStreamPath,
        [compressed],
        true,
        Code.Internal,
        "received compressed envelope, but do not know how to decompress",
      ],
      [
        "ends mid-message",
        producePath,
        [whole.subarray(0, 7)],
        false,
        Code.InvalidArgument,
        "protocol error: incomplete envelope",
      ],
      [
        "ends mid-prefix",
        produceStreamPath,
        [streamed, streamed.subarray(0, 3)],
        false,
        Code.InvalidArgument,
        "protocol error: incomplete envelope",
      ],
      [
        "no message (Produce)",
        producePath,
        [],
        false,
        Code.Unimplemented,
        "protocol error: missing input message for unary method",
      ],
      [
        "two messages (Produce)",
        producePath,
        [whole, whole],
        false,
        Code.Unimplemented,
        "protocol error: received extra input message for unary method",
      ],
      [
        "no message (ConsumeStream)",
        consumeStreamPath,
        [],
        false,
        Code.Unimplemented,
        "protocol error: missing input message for server-streaming method",
      ],
      [
        "two messages (ConsumeStream)",
        consumeStreamPath,
        [consumeMessage("alive", 0), consumeMessage("alive", 0)],
        false,
        Code.Unimplemented,
        "protocol error: received extra input message for server-streaming method",
      ],
    ];
    for (const [name, path, chunks, keepOpen, code, message] of cases) {
      const answer = await grpcCall(port, path, chunks, { keepOpen });
      assert.equal(answer.grpcStatus, String(code), `${name}: ${answer.grpcMessage}`);
      assert.equal(answer.grpcMessage, message, name);
    }
    // A Produce with two messages must not have committed the first one; a stream commits what
    // came whole before its torn end.
    assert.equal(nextOffset("framing"), 0);
    assert.equal(nextOffset("framing-stream"), 1);
    await assertServingAndReleased();
  });

  test("grpc-timeout ends a ConsumeStream waiting at the tail with DEADLINE_EXCEEDED", async () => {
    await grpcCall(port, producePath, [produceMessage("deadline", ["a"])]);
    const answer = await grpcCall(port, consumeStreamPath, [consumeMessage("deadline", 1)], {
      headers: { "grpc-timeout": "50m" },
    });
    assert.equal(answer.grpcStatus, String(Code.DeadlineExceeded), answer.grpcMessage);
    assert.equal(answer.grpcMessage, "the operation timed out");
    assert.ok(answer.elapsedMs >= 40, `ended after ${answer.elapsedMs} ms`);
    assert.ok(answer.elapsedMs < 5_000, `ended after ${answer.elapsedMs} ms`);
    await assertServingAndReleased();
  });

  test("an invalid grpc-timeout is INVALID_ARGUMENT", async () => {
    for (const value of ["abc", "50", "1x", "123456789S", "-5m"]) {
      const answer = await grpcCall(port, consumeStreamPath, [consumeMessage("alive", 0)], {
        headers: { "grpc-timeout": value },
      });
      assert.equal(answer.grpcStatus, String(Code.InvalidArgument), value);
      assert.equal(answer.grpcMessage, `protocol error: invalid grpc timeout value: ${value}`);
    }
    await assertServingAndReleased();
  });

  test("ConsumeStreams that their client resets are released: as many open again", async () => {
    await grpcCall(port, producePath, [produceMessage("reset", ["a"])]);
    const session = http2.connect(node.baseUrl);
    session.on("error", () => undefined);
    const open = () =>
      Array.from({ length: streamsMax }, () => {
        const stream = openGrpcStream(session, consumeStreamPath);
        stream.end(consumeMessage("reset", 1));
        return stream;
      });
    try {
      for (let round = 0; round < 3; round++) {
        const streams = open();
        await eventually(() => streamsActive() === streamsMax, `round ${round}: all waiting`);
        const refused = await grpcCall(port, consumeStreamPath, [consumeMessage("reset", 1)]);
        assert.equal(refused.grpcStatus, String(Code.ResourceExhausted), refused.grpcMessage);
        for (const stream of streams) stream.close(http2.constants.NGHTTP2_CANCEL);
        await eventually(() => streamsActive() === 0, `round ${round}: all released`);
      }
    } finally {
      session.destroy();
    }
    await assertServingAndReleased();
  });

  test("a client's RST_STREAM(NO_ERROR) mid-call leaves the node serving", async () => {
    await grpcCall(port, producePath, [produceMessage("raw-reset", ["a"])]);
    const whole = produceMessage("raw-reset", ["b"]);
    const cases: [string, Buffer, boolean][] = [
      [producePath, whole.subarray(0, 8), false],
      [producePath, whole, false],
      [produceStreamPath, Buffer.concat([whole, whole.subarray(0, 6)]), false],
      [consumeStreamPath, consumeMessage("raw-reset", 1), false],
      [consumeStreamPath, consumeMessage("raw-reset", 0), true],
      [consumeStreamPath, consumeMessage("raw-reset", 5), true],
    ];
    for (const [path, data, endStream] of cases) {
      await rawCallThenReset(port, path, data, { endStream });
      await eventually(() => streamsActive() === 0, `${path} released after the reset`);
    }
    await assertServingAndReleased();
  });

  test("many ProduceStream requests in one DATA frame are answered in order", async () => {
    const count = 40; // more than the 16 a call queues before it pauses its stream
    const batch = Buffer.concat(
      Array.from({ length: count }, (_, i) => produceMessage("one-frame", [`a${i}`, `b${i}`])),
    );
    const routes = recordRoutes(node.node.app);
    let answer: Awaited<ReturnType<typeof grpcCall>>;
    try {
      answer = await grpcCall(port, produceStreamPath, [batch]);
    } finally {
      routes.restore();
    }
    assert.equal(answer.grpcStatus, "0", answer.grpcMessage);
    assert.deepEqual(routes.streams[0]?.chunks, [batch.length], "one DATA frame");
    assert.ok(routes.streams[0]?.fast);
    assert.deepEqual(
      answeredOffsets(answer.body),
      Array.from({ length: count }, (_, i) => [2 * i, 2 * i + 1]),
    );
    await assertServingAndReleased();
  });

  test("an error after answers, while the client still sends, arrives in trailers", async () => {
    const good = produceMessage("trailers", ["a"]);
    const bad = produceMessage("no/slash", ["a"]);
    const answer = await grpcCall(port, produceStreamPath, [good, good, bad], {
      keepOpen: true,
    });
    assert.deepEqual(answeredOffsets(answer.body), [[0], [1]]);
    assert.equal(answer.grpcStatus, String(Code.InvalidArgument), "the status in the trailers");
    assert.match(answer.grpcMessage, /topic/);
    assert.ok(!answer.trailersOnly);
    await assertServingAndReleased();
  });

  test("a ProduceStream client that never reads: the server stops reading, bounded", async (t) => {
    const topic = "never-reads";
    const recordsPerRequest = 100;
    const request = produceMessage(
      topic,
      Array.from({ length: recordsPerRequest }, () => "v".repeat(50)),
    );
    const total = 500;
    // A small receive window, and no reader: the answers back up on the server.
    const session = http2.connect(node.baseUrl, { settings: { initialWindowSize: 4096 } });
    session.on("error", () => undefined);
    try {
      const stream = openGrpcStream(session, produceStreamPath);
      const { written: accepted, stalled } = await writeUntilStalled(stream, request, total, 1_000);
      assert.ok(stalled, `the client wrote all ${total} requests: the server kept reading`);
      // The requests already taken in commit; then nothing more, however long the client waits.
      const committed = () => nextOffset(topic) / recordsPerRequest;
      let settled = committed();
      await eventually(async () => {
        await new Promise((resolve) => setTimeout(resolve, 100));
        const previous = settled;
        settled = committed();
        return settled === previous;
      }, "commits settle");
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(committed(), settled, "nothing more is committed while the client is stuck");
      assert.ok(settled < accepted, `${settled} committed of ${accepted} written`);
      assert.equal(streamsActive(), 1);
      t.diagnostic(`${accepted} requests written, ${settled} committed before the stall`);
    } finally {
      session.destroy();
    }
    await assertServingAndReleased();
  });
  test("a ProduceStream reset with NO_ERROR while blocked both ways is released", async () => {
    // The client reads no answers (a 16-byte window) and writes until the server stops reading,
    // then resets with RST_STREAM(NO_ERROR) and leaves. Node keeps such a stream until its input
    // was read to the end; as many clients as streamsMax once used up every slot for good.
    const request = produceMessage("reset-blocked", ["v"]);
    for (let client = 0; client < streamsMax; client++) {
      const session = http2.connect(node.baseUrl, { settings: { initialWindowSize: 16 } });
      session.on("error", () => undefined);
      const stream = openGrpcStream(session, produceStreamPath);
      const { stalled } = await writeUntilStalled(stream, request, 100_000, 300);
      assert.ok(stalled, "the server kept reading");
      stream.close(http2.constants.NGHTTP2_NO_ERROR);
      await new Promise((resolve) => setTimeout(resolve, 100));
      session.destroy();
    }
    await eventually(() => node.node.app.server.connectionCount === 0, "every connection closed");
    await assertServingAndReleased();
  });
});

describe("plain gRPC and server shutdown", () => {
  test("a ConsumeStream waiting at the tail ends with UNAVAILABLE when the node stops", async () => {
    const node = await startInProcessNode();
    const port = Number(node.address.split(":")[1]);
    let closed: Promise<void> | undefined;
    try {
      await grpcCall(port, producePath, [produceMessage("shutdown", ["a"])]);
      const pending = grpcCall(port, consumeStreamPath, [consumeMessage("shutdown", 1)]);
      await eventually(() => node.node.app.streams.active === 1, "the stream waits");
      closed = node.close();
      const answer = await pending;
      assert.equal(answer.grpcStatus, String(Code.Unavailable), answer.grpcMessage);
      assert.equal(answer.grpcMessage, "server is shutting down");
      assert.equal(node.node.app.streams.active, 0);
    } finally {
      await (closed ?? node.close());
    }
  });

  test("a Produce under way when the node stops is answered with its outcome", async () => {
    // Connect answers a unary call that is under way within the grace period; so must this
    // route: an UNAVAILABLE for a record that commits invites a duplicate on retry.
    const node = await startInProcessNode({ shutdownGraceMs: 5_000 });
    const port = Number(node.address.split(":")[1]);
    let closed: Promise<void> | undefined;
    try {
      await grpcCall(port, producePath, [produceMessage("stopping", ["a"])]);
      // Hold the answer back once the record is committed, until the node has started to stop.
      const broker = node.node.broker;
      const produce = broker.produce.bind(broker);
      let committed: number[] | undefined;
      let release: () => void = () => undefined;
      const held = new Promise<void>((resolve) => (release = resolve));
      broker.produce = async (topic, records) => {
        committed = await produce(topic, records);
        await held;
        return committed;
      };
      const pending = grpcCall(port, producePath, [produceMessage("stopping", ["b"])]);
      await eventually(() => committed !== undefined, "the record is committed");
      closed = node.close();
      await new Promise((resolve) => setTimeout(resolve, 50));
      release();
      const answer = await pending;
      assert.equal(answer.grpcStatus, "0", answer.grpcMessage);
      assert.deepEqual(answeredOffsets(answer.body), [committed]);
    } finally {
      await (closed ?? node.close());
    }
  });
});

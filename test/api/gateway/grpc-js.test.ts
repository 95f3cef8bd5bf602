// The Connect gateway seen by @grpc/grpc-js over h2c (HTTP/2 with prior knowledge, sniffed by the
// one-port server), with service definitions loaded from our .proto files by proto-loader: the
// four LogService methods, a live ConsumeStream, cancellation that releases the stream, and the
// gRPC status of an unknown method.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import {
  createGrpcClient,
  createGrpcLogClient,
  type GrpcConsumeResponse,
  type GrpcLogServiceClient,
  type GrpcProduceResponse,
  grpcCallUnknownPath,
  grpcUnary,
} from "../../harness/clients.js";
import {
  eventually,
  type InProcessNode,
  startInProcessNode,
} from "../../harness/in-process-node.js";

describe("LogService over @grpc/grpc-js (h2c)", () => {
  let server: InProcessNode;
  let client: GrpcLogServiceClient;

  before(async () => {
    server = await startInProcessNode();
    client = createGrpcLogClient(server.address);
  });

  after(async () => {
    client?.close();
    await server?.close();
  });

  const streamsActive = () => server.node.app.streams.active;

  test("Produce answers contiguous offsets and Consume reads the records back", async () => {
    const produced = await grpcUnary<GrpcProduceResponse>(client, "Produce", {
      topic: "grpc-unary",
      records: [
        { value: Buffer.from("one"), key: Buffer.from("k1"), headers: { kind: "first" } },
        { value: Buffer.from("two") },
        { value: Buffer.alloc(0) },
      ],
    });
    assert.deepEqual(produced.offsets, ["0", "1", "2"]);

    const consumed = await grpcUnary<GrpcConsumeResponse>(client, "Consume", {
      topic: "grpc-unary",
      offset: "0",
    });
    assert.equal(consumed.records.length, 3);
    assert.equal(consumed.nextOffset, "3");
    assert.equal(consumed.highWatermark, "3");
    const [first, second, third] = consumed.records;
    assert.equal(first!.value.toString(), "one");
    assert.equal(first!.key.toString(), "k1");
    assert.deepEqual(first!.headers, { kind: "first" });
    assert.equal(first!.offset, "0");
    assert.ok(first!.time !== null && Number(first!.time.seconds) > 0, "server assigns a time");
    assert.equal(second!.value.toString(), "two");
    assert.equal(third!.value.length, 0);
    assert.equal(third!.offset, "2");
  });

  test("Consume past the end is OUT_OF_RANGE with the detail in grpc-status-details-bin", async () => {
    await assert.rejects(
      grpcUnary(client, "Consume", { topic: "grpc-unary", offset: "99" }),
      (error: grpc.ServiceError) => {
        assert.equal(error.code, grpc.status.OUT_OF_RANGE);
        // grpc-message is percent-encoded as the gRPC spec says: grpc-js decodes it with
        // decodeURI, which leaves "%3A" for ":" as it is (encodeURIComponent's encoding).
        assert.doesNotMatch(error.details, /%[0-9A-F]{2}/, error.details);
        assert.match(error.details, /[:;]/, error.details);
        const details = error.metadata.get("grpc-status-details-bin");
        assert.equal(details.length, 1, "a google.rpc.Status with the OffsetOutOfRange detail");
        assert.match(
          Buffer.from(details[0] as Buffer).toString("latin1"),
          /tidelog\.v1\.OffsetOutOfRange/,
        );
        return true;
      },
    );
  });

  test("ProduceStream answers one response per request, in order", async () => {
    const call = client.ProduceStream(new grpc.Metadata(), { deadline: Date.now() + 10_000 });
    const responses: GrpcProduceResponse[] = [];
    const done = new Promise<void>((resolve, reject) => {
      call.on("data", (response: GrpcProduceResponse) => responses.push(response));
      call.on("error", reject);
      call.on("end", resolve);
    });
    const batches = 20;
    for (let i = 0; i < batches; i++) {
      call.write({
        topic: "grpc-produce-stream",
        records: [{ value: Buffer.from(`a${i}`) }, { value: Buffer.from(`b${i}`) }],
      });
    }
    call.end();
    await done;
    assert.equal(responses.length, batches);
    responses.forEach((response, i) => {
      assert.deepEqual(response.offsets, [String(2 * i), String(2 * i + 1)]);
    });
  });

  test("ConsumeStream sends existing records, then one produced after it started", async () => {
    const topic = "grpc-consume-stream";
    await grpcUnary(client, "Produce", { topic, records: [{ value: Buffer.from("before") }] });
    const call = client.ConsumeStream({ topic, offset: "0" });
    const received: string[] = [];
    let onRecord: (() => void) | undefined;
    call.on("data", (response: GrpcConsumeResponse) => {
      for (const record of response.records) received.push(record.value.toString());
      onRecord?.();
    });
    const ended = new Promise<grpc.StatusObject | Error>((resolve) => {
      call.on("error", resolve);
      call.on("status", resolve);
    });
    const waitFor = (count: number) =>
      eventually(() => received.length >= count, `${count} records on the stream`);

    await waitFor(1);
    assert.deepEqual(received, ["before"]);
    assert.equal(streamsActive(), 1);

    // Produced after the stream has caught up and is waiting.
    await grpcUnary(client, "Produce", {
      topic,
      records: [{ value: Buffer.from("after-1") }, { value: Buffer.from("after-2") }],
    });
    await waitFor(3);
    assert.deepEqual(received, ["before", "after-1", "after-2"]);

    call.cancel();
    const status = await ended;
    assert.equal((status as grpc.StatusObject).code, grpc.status.CANCELLED);
    await eventually(() => streamsActive() === 0, "the cancelled stream is released");
  });

  test("cancelling many waiting ConsumeStreams releases every one of them", async () => {
    const topic = "grpc-cancel-many";
    await grpcUnary(client, "Produce", { topic, records: [{ value: Buffer.from("x") }] });
    const count = 25;
    const calls = Array.from({ length: count }, () => {
      const call = client.ConsumeStream({ topic, offset: "1" }); // waits at the end
      call.on("error", () => undefined);
      return call;
    });
    await eventually(() => streamsActive() === count, `${count} streams active`);
    for (const call of calls) call.cancel();
    await eventually(() => streamsActive() === 0, "every cancelled stream is released");
  });

  test("a ConsumeStream that starts past the end fails with OUT_OF_RANGE and is released", async () => {
    const call = client.ConsumeStream({ topic: "grpc-unary", offset: "1000" });
    const error = await new Promise<grpc.ServiceError>((resolve) => {
      call.on("data", () => undefined);
      call.on("error", resolve);
    });
    assert.equal(error.code, grpc.status.OUT_OF_RANGE);
    await eventually(() => streamsActive() === 0, "the failed stream is released");
  });

  test("an unknown method is UNIMPLEMENTED (grpc-status 12), and so is an unknown service", async () => {
    for (const path of ["/tidelog.v1.LogService/NoSuchMethod", "/no.such.Service/Call"]) {
      const error = await grpcCallUnknownPath(server.address, path);
      assert.equal(error.code, grpc.status.UNIMPLEMENTED, path);
      assert.ok(error.details.includes(path), `the message names ${path}: ${error.details}`);
    }
  });

  // connect-es 2.1 answers INTERNAL for a binary request it cannot parse; patched (see
  // patches/) to INVALID_ARGUMENT, as it answers for JSON.
  test("wrong field types in a binary message are INVALID_ARGUMENT", async () => {
    // Field 2 (offset, a varint) sent as a length-delimited field: a wire-type mismatch.
    const grpcClient = new grpc.Client(server.address, grpc.credentials.createInsecure());
    try {
      const error = await new Promise<grpc.ServiceError | null>((resolve) => {
        grpcClient.makeUnaryRequest(
          "/tidelog.v1.LogService/Consume",
          (value: Buffer) => value,
          (value: Buffer) => value,
          Buffer.from([0x12, 0x03, 0x61, 0x62, 0x63]),
          new grpc.Metadata(),
          { deadline: Date.now() + 10_000 },
          (callError) => resolve(callError),
        );
      });
      assert.ok(error !== null, "the call fails");
      assert.equal(error.code, grpc.status.INVALID_ARGUMENT, error.details);
    } finally {
      grpcClient.close();
    }
  });

  test("a deadline longer than Node's timers hold is taken as none, on every route", async () => {
    // 30 days: grpc-js sends grpc-timeout in hours (720H), past 2^31 - 1 ms.
    const month = 30 * 24 * 3_600_000;
    const produced = await grpcUnary<GrpcProduceResponse>(
      client,
      "Produce",
      { topic: "long-deadline", records: [{ value: Buffer.from("v") }] },
      month,
    );
    assert.deepEqual(produced.offsets, ["0"]);
    const consumed = await grpcUnary<GrpcConsumeResponse>(
      client,
      "Consume",
      { topic: "long-deadline", offset: "0" },
      month,
    );
    assert.equal(consumed.records.length, 1);
    const topics = createGrpcClient(server.address, "TopicService");
    try {
      const listed = await grpcUnary<{ topics: { name: string }[] }>(
        topics,
        "ListTopics",
        {},
        month,
      );
      assert.ok(listed.topics.some((topic) => topic.name === "long-deadline"));
    } finally {
      topics.close();
    }
    // The largest values the specs allow, over Connect (HTTP/1.1) too.
    const json = await fetch(`http://${server.address}/tidelog.v1.TopicService/ListTopics`, {
      method: "POST",
      headers: { "content-type": "application/json", "connect-timeout-ms": "9999999999" },
      body: "{}",
    });
    assert.equal(json.status, 200, await json.clone().text());
    // Within the timers' range, deadlines still hold, and a malformed one is still refused.
    const malformed = await fetch(`http://${server.address}/tidelog.v1.TopicService/ListTopics`, {
      method: "POST",
      headers: { "content-type": "application/json", "connect-timeout-ms": "soon" },
      body: "{}",
    });
    assert.equal(malformed.status, 400);
  });
});

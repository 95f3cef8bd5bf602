// ConsumeStream through the shared per-topic tail (src/cluster/topic-tail.ts), on a real node in
// this process over real sockets: many tails of one topic (gRPC, Connect binary and JSON, gRPC-Web)
// each get every committed record exactly once and in order, also one that joins midway and
// ones with small answers; binary and JSON answers carry the same records; cancelled streams
// release the tail; a gRPC stream whose reader stalls again and again misses nothing; a deleted
// topic ends its streams.
import assert from "node:assert/strict";
import http2 from "node:http2";
import { after, before, describe, test } from "node:test";
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  ConsumeRequestSchema,
  ConsumeResponseSchema,
  LogService,
  StartPosition,
} from "../../src/gen/tidelog/v1/log_service_pb.js";
import { RecordSchema } from "../../src/gen/tidelog/v1/record_pb.js";
import { TopicService } from "../../src/gen/tidelog/v1/topic_service_pb.js";
import {
  type ClosableTransport,
  connectClient,
  createNodeTransport,
  type NodeTransportKind,
} from "../harness/clients.js";
import { eventually, type InProcessNode, startInProcessNode } from "../harness/in-process-node.js";

interface Seen {
  offset: number;
  value: string;
  key: string;
  headers: { [name: string]: string };
  timeMs: number;
}

describe("ConsumeStream through the shared tail", () => {
  let server: InProcessNode;
  const transports: ClosableTransport[] = [];
  const transport = (kind: NodeTransportKind) => {
    const made = createNodeTransport(kind, server.baseUrl);
    transports.push(made);
    return made.transport;
  };

  before(async () => {
    server = await startInProcessNode();
  });

  after(async () => {
    for (const made of transports) made.close();
    await server?.close();
  });

  /** Reads a stream into `seen` until `signal` aborts; rejects on any other end. */
  async function follow(
    kind: NodeTransportKind,
    request: MessageInitShape<typeof ConsumeRequestSchema>,
    seen: Seen[],
    signal: AbortSignal,
    answers?: number[],
  ): Promise<void> {
    const client = connectClient(LogService, transport(kind));
    try {
      for await (const response of client.consumeStream(create(ConsumeRequestSchema, request), {
        signal,
      })) {
        answers?.push(response.records.length);
        for (const record of response.records) {
          seen.push({
            offset: Number(record.offset),
            value: Buffer.from(record.value).toString(),
            key: Buffer.from(record.key).toString(),
            headers: { ...record.headers },
            timeMs: record.time === undefined ? 0 : timestampMs(record.time),
          });
        }
        assert.equal(response.nextOffset, response.records.at(-1)!.offset + 1n);
        assert.ok(response.highWatermark >= response.nextOffset);
      }
    } catch (error) {
      if (!signal.aborted) throw error;
    }
  }

  async function produce(topic: string, from: number, count: number): Promise<void> {
    const client = connectClient(LogService, transport("grpc"));
    await client.produce({
      topic,
      records: Array.from({ length: count }, (_, i) =>
        create(RecordSchema, {
          value: Buffer.from(`value-${from + i}`),
          key: (from + i) % 3 === 0 ? Buffer.from(`key-${from + i}`) : new Uint8Array(),
          headers: (from + i) % 4 === 0 ? { n: String(from + i), ü: "✓" } : {},
        }),
      ),
    });
  }

  function assertComplete(seen: Seen[], from: number, to: number, label: string): void {
    assert.equal(seen.length, to - from, `${label}: ${seen.length} records, expected ${to - from}`);
    seen.forEach((each, i) => {
      const offset = from + i;
      assert.equal(each.offset, offset, `${label}: record ${i} at offset ${each.offset}`);
      assert.equal(each.value, `value-${offset}`);
      assert.equal(each.key, offset % 3 === 0 ? `key-${offset}` : "");
      assert.deepEqual(each.headers, offset % 4 === 0 ? { n: String(offset), ü: "✓" } : {});
      assert.ok(each.timeMs > 0);
    });
  }

  test("many tails get every record once, in order, whatever the protocol", async () => {
    const topic = "shared-tail";
    await produce(topic, 0, 5);
    const controller = new AbortController();
    const kinds: NodeTransportKind[] = [
      ...Array.from({ length: 40 }, () => "grpc" as const),
      "connect-binary-h2",
      "connect-json-h2",
      "connect-json-h1",
      "grpc-web-h2",
    ];
    const tails = kinds.map((kind) => ({ kind, seen: [] as Seen[] }));
    const small = { seen: [] as Seen[], answers: [] as number[] };
    const reading = [
      ...tails.map(({ kind, seen }) =>
        follow(kind, { topic, start: StartPosition.TAIL }, seen, controller.signal),
      ),
      follow(
        "grpc",
        { topic, offset: 0n, maxRecords: 3 },
        small.seen,
        controller.signal,
        small.answers,
      ),
    ];
    // Every tail starts at 5 when the server handles it; wait until all are open.
    await eventually(() => server.node.app.streams.active === tails.length + 1, "streams open");
    let next = 5;
    for (const size of [1, 1, 7, 50, 1, 200, 3]) {
      await produce(topic, next, size);
      next += size;
    }
    const midway = { seen: [] as Seen[] };
    const joinedAt = next;
    reading.push(
      follow("grpc", { topic, start: StartPosition.TAIL }, midway.seen, controller.signal),
    );
    await eventually(() => server.node.app.streams.active === tails.length + 2, "late tail open");
    for (const size of [1, 40, 2]) {
      await produce(topic, next, size);
      next += size;
    }
    await eventually(
      () =>
        tails.every(({ seen }) => seen.length === next - 5) &&
        small.seen.length === next &&
        midway.seen.length === next - joinedAt,
      "every tail caught up",
      15_000,
    );
    controller.abort();
    await Promise.all(reading);
    for (const { kind, seen } of tails) assertComplete(seen, 5, next, kind);
    assertComplete(small.seen, 0, next, "maxRecords 3");
    assert.ok(
      small.answers.every((count) => count >= 1 && count <= 3),
      `answers of at most 3: ${small.answers}`,
    );
    assertComplete(midway.seen, joinedAt, next, "joined midway");
    // JSON and binary answers carry the same records, time included.
    const binary = tails.find(({ kind }) => kind === "grpc")!.seen;
    for (const { kind, seen } of tails) assert.deepEqual(seen, binary, kind);
    await eventually(
      () => server.node.app.streams.active === 0 && server.node.broker.tailsOpen === 0,
      "cancelled streams release their tail",
    );
  });

  test("unary Consume answers the same records in binary and JSON", async () => {
    const topic = "unary-wire";
    await produce(topic, 0, 30);
    const answers: Seen[][] = [];
    for (const kind of ["grpc", "connect-json-h1", "connect-binary-h1"] as const) {
      const client = connectClient(LogService, transport(kind));
      const response = await client.consume({ topic, offset: 4n, maxRecords: 10 });
      assert.equal(response.nextOffset, 14n);
      assert.equal(response.highWatermark, 30n);
      answers.push(
        response.records.map((each) => ({
          offset: Number(each.offset),
          value: Buffer.from(each.value).toString(),
          key: Buffer.from(each.key).toString(),
          headers: { ...each.headers },
          timeMs: each.time === undefined ? 0 : timestampMs(each.time),
        })),
      );
    }
    assertComplete(answers[0]!, 4, 14, "grpc");
    assert.deepEqual(answers[1], answers[0]);
    assert.deepEqual(answers[2], answers[0]);
  });

  test("a gRPC tail whose reader stalls and resumes gets every record once, in order", async () => {
    // A raw HTTP/2 client with a 1 KiB stream window that pauses its stream: the server's writes
    // back up, the stream stops following the topic and reads again once drained, many times.
    const topic = "stalling-tail";
    await produce(topic, 0, 1);
    const session = http2.connect(server.baseUrl, { settings: { initialWindowSize: 1024 } });
    try {
      const stream = session.request({
        ":method": "POST",
        ":path": "/tidelog.v1.LogService/ConsumeStream",
        "content-type": "application/grpc",
        te: "trailers",
      });
      const body = toBinary(
        ConsumeRequestSchema,
        create(ConsumeRequestSchema, { topic, start: StartPosition.TAIL }),
      );
      const prefix = Buffer.alloc(5);
      prefix.writeUInt32BE(body.length, 1);
      stream.end(Buffer.concat([prefix, body]));
      const offsets: number[] = [];
      let pending = Buffer.alloc(0);
      stream.on("data", (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32BE(1)) {
          const length = pending.readUInt32BE(1);
          const response = fromBinary(ConsumeResponseSchema, pending.subarray(5, 5 + length));
          for (const record of response.records) offsets.push(Number(record.offset));
          pending = pending.subarray(5 + length);
        }
      });
      await eventually(() => server.node.app.streams.active === 1, "stream open");
      let next = 1;
      for (let round = 0; round < 20; round++) {
        stream.pause();
        for (let batch = 0; batch < 4; batch++) {
          await produce(topic, next, 200);
          next += 200;
        }
        stream.resume();
        await eventually(() => offsets.length >= next - 1, "caught up after a stall");
      }
      stream.resume();
      await eventually(() => offsets.length >= next - 1, "every record delivered", 15_000);
      assert.deepEqual(
        offsets,
        Array.from({ length: next - 1 }, (_, i) => i + 1),
      );
      stream.close();
    } finally {
      session.destroy();
    }
    await eventually(
      () => server.node.app.streams.active === 0 && server.node.broker.tailsOpen === 0,
      "the stream released the tail",
    );
  });

  test("a stream of a deleted topic ends with not_found and releases the tail", async () => {
    const topic = "deleted-tail";
    await produce(topic, 0, 2);
    const controller = new AbortController();
    const seen: Seen[] = [];
    const reading = follow("grpc", { topic, offset: 0n }, seen, controller.signal);
    await eventually(() => seen.length === 2, "stream read the records");
    await connectClient(TopicService, transport("grpc")).deleteTopic({ name: topic });
    await assert.rejects(reading, (error: unknown) => {
      assert.ok(error instanceof ConnectError, String(error));
      assert.equal(error.code, Code.NotFound);
      return true;
    });
    controller.abort();
    await eventually(
      () => server.node.app.streams.active === 0 && server.node.broker.tailsOpen === 0,
      "the deleted topic's tail is released",
    );
  });
});

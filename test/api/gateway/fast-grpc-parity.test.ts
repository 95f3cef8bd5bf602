// Plain gRPC requests of Produce, ProduceStream and ConsumeStream skip Connect
// (src/server/fast-grpc-routes.ts); the same requests gzip-compressed, or over gRPC-Web, take the
// Connect routes. Both must answer alike: the same code, message and error details for every bad
// input, the same offsets and records for good ones. Every call checks which route it took.
import assert from "node:assert/strict";
import http2 from "node:http2";
import { after, before, describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import { create, equals, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import {
  Code,
  type Client as ConnectClient,
  ConnectError,
  createClient,
} from "@connectrpc/connect";
import {
  compressionGzip,
  createGrpcTransport,
  Http2SessionManager,
} from "@connectrpc/connect-node";
import { clientReadMaxBytes, defaultApiLimits } from "../../../src/api/limits.js";
import type { Status } from "../../../src/gen/google/rpc/status_pb.js";
import { OffsetOutOfRangeSchema } from "../../../src/gen/tidelog/v1/errors_pb.js";
import {
  ConsumeRequestSchema,
  ConsumeResponseSchema,
  LogService,
  ProduceRequestSchema,
  StartPosition,
} from "../../../src/gen/tidelog/v1/log_service_pb.js";
import { createNodeTransport } from "../../harness/clients.js";
import {
  eventually,
  type InProcessNode,
  startInProcessNode,
} from "../../harness/in-process-node.js";
import {
  cutGrpcMessages,
  type GrpcAnswer,
  grpcCall,
  grpcFrame,
  gzipFrame,
  openGrpcStream,
  type RoutedStream,
  recordRoutes,
} from "../../harness/raw-grpc.js";

const limits = { ...defaultApiLimits, recordBytesMax: 100, requestRecordsMax: 5, streamsMax: 3 };
const paths = {
  produce: "/tidelog.v1.LogService/Produce",
  produceStream: "/tidelog.v1.LogService/ProduceStream",
  consumeStream: "/tidelog.v1.LogService/ConsumeStream",
} as const;
type Method = keyof typeof paths;
/** The topic "parity" holds this many records: two produced through each route. */
const parityNext = 4n;

type Client = ConnectClient<typeof LogService>;
type ProduceInit = MessageInitShape<typeof ProduceRequestSchema> & { $typeName?: undefined };
type ConsumeInit = MessageInitShape<typeof ConsumeRequestSchema> & { $typeName?: undefined };
const produce = (init: ProduceInit) =>
  toBinary(ProduceRequestSchema, create(ProduceRequestSchema, init));
const consume = (init: ConsumeInit) =>
  toBinary(ConsumeRequestSchema, create(ConsumeRequestSchema, init));

/** What must match between the routes: status, message, details, and the answer's shape. */
function comparable(answer: GrpcAnswer) {
  const details = (status: Status | undefined) =>
    status?.details.map((any) => `${any.typeUrl} ${Buffer.from(any.value).toString("hex")}`);
  return {
    status: answer.grpcStatus,
    message: answer.grpcMessage,
    details: details(answer.details),
    detailsStatus: answer.details && [answer.details.code, answer.details.message],
    trailersOnly: answer.trailersOnly,
    messages: cutGrpcMessages(answer.body).length,
  };
}

describe("plain gRPC (fast routes) and Connect answer alike", () => {
  let node: InProcessNode;
  let port: number;
  let routes: { streams: RoutedStream[]; restore(): void };

  before(async () => {
    node = await startInProcessNode({ limits });
    port = Number(node.address.split(":")[1]);
    routes = recordRoutes(node.node.app);
    await bothCall("produce", [produce({ topic: "parity", records: [{}, {}] })]);
  });

  after(async () => {
    routes?.restore();
    await node?.close();
  });

  const streamsActive = () => node.node.app.streams.active;

  /**
   * One call on the fast route (identity) and the same on the Connect route (gzip), checking
   * which route each took.
   */
  async function bothCall(
    method: Method,
    payloads: Uint8Array[],
    options: { headers?: Record<string, string>; keepOpen?: boolean } = {},
  ): Promise<{ fast: GrpcAnswer; connect: GrpcAnswer }> {
    const call = async (gzip: boolean) => {
      const seen = routes.streams.length;
      const answer = await grpcCall(
        port,
        paths[method],
        payloads.map((payload) => (gzip ? gzipFrame(payload) : grpcFrame(payload))),
        {
          ...options,
          headers: { ...options.headers, ...(gzip ? { "grpc-encoding": "gzip" } : {}) },
        },
      );
      assert.equal(routes.streams[seen]?.fast, !gzip, `${method}: the route taken`);
      return answer;
    };
    return { fast: await call(false), connect: await call(true) };
  }

  const invalid = Code.InvalidArgument;
  const exhausted = Code.ResourceExhausted;
  const unimplemented = Code.Unimplemented;
  const maxUint64 = 2n ** 64n - 1n;
  const bytes = (...values: number[]) => Uint8Array.from(values);
  const badInput: [string, Method, Uint8Array[], Code][] = [
    ...["a/b", ".", "..", "a".repeat(250), "é"].flatMap((topic): typeof badInput => [
      [`topic ${topic.slice(0, 9)}`, "produce", [produce({ topic })], invalid],
      [`topic ${topic.slice(0, 9)}`, "produceStream", [produce({ topic })], invalid],
      [`topic ${topic.slice(0, 9)}`, "consumeStream", [consume({ topic })], invalid],
    ]),
    [
      "a record over recordBytesMax",
      "produce",
      [produce({ records: [{ value: new Uint8Array(101) }] })],
      exhausted,
    ],
    [
      "key and headers over recordBytesMax",
      "produceStream",
      [produce({ records: [{}, { key: new Uint8Array(90), headers: { h: "0123456789" } }] })],
      exhausted,
    ],
    ["over requestRecordsMax", "produce", [produce({ records: Array(6).fill({}) })], exhausted],
    ["a truncated field", "produce", [bytes(0x0a, 0x05, 0x61)], invalid],
    ["a wrong wire type", "produce", [bytes(0x08, 0x01)], invalid],
    ["invalid UTF-8 in the topic", "produceStream", [bytes(0x0a, 0x01, 0xff)], invalid],
    ["a wrong wire type", "consumeStream", [bytes(0x12, 0x03, 0x61, 0x62, 0x63)], invalid],
    ["max_records over 10,000", "consumeStream", [consume({ maxRecords: 10_001 })], invalid],
    ["past the end", "consumeStream", [consume({ topic: "parity", offset: 5n })], Code.OutOfRange],
    [
      "at 2^64 - 1",
      "consumeStream",
      [consume({ topic: "parity", offset: maxUint64 })],
      Code.OutOfRange,
    ],
    ["an unknown topic", "consumeStream", [consume({ topic: "nope" })], Code.NotFound],
    ["no request message", "produce", [], unimplemented],
    ["no request message", "consumeStream", [], unimplemented],
    ["two request messages", "produce", [produce({}), produce({})], unimplemented],
    ["two request messages", "consumeStream", [consume({}), consume({})], unimplemented],
  ];

  for (const [name, method, payloads, code] of badInput) {
    test(`${method}, ${name}: the same error on both routes`, async () => {
      const { fast, connect } = await bothCall(method, payloads);
      assert.equal(fast.grpcStatus, String(code), `${fast.grpcStatus}: ${fast.grpcMessage}`);
      assert.deepEqual(comparable(fast), comparable(connect));
      await eventually(() => streamsActive() === 0, "no stream left counted");
    });
  }

  test("the OffsetOutOfRange detail carries the offset as requested, on both routes", async () => {
    const { fast, connect } = await bothCall("consumeStream", [
      consume({ topic: "parity", offset: maxUint64 }),
    ]);
    for (const answer of [fast, connect]) {
      const any = answer.details?.details[0];
      assert.equal(any?.typeUrl, "type.googleapis.com/tidelog.v1.OffsetOutOfRange");
      const detail = fromBinary(OffsetOutOfRangeSchema, any.value);
      assert.deepEqual(
        [detail.topic, detail.requested, detail.lowest, detail.next],
        ["parity", maxUint64, 0n, parityNext],
      );
    }
  });

  test("an invalid request later in a ProduceStream: the same answers, then the same error", async () => {
    const good = produce({ topic: "parity-midway", records: [{}] });
    const bad = produce({ topic: "no/slash" });
    // Each route appends to the same topic: the connect route's offsets follow the fast one's.
    const { fast, connect } = await bothCall("produceStream", [good, good, bad], {
      keepOpen: true,
    });
    assert.equal(fast.grpcStatus, "3", fast.grpcMessage);
    assert.deepEqual(comparable(fast), comparable(connect));
    assert.equal(comparable(fast).messages, 2);
  });

  test("an invalid grpc-timeout: the same INVALID_ARGUMENT", async () => {
    for (const timeout of ["abc", "1x", "123456789S", "-5m"]) {
      const { fast, connect } = await bothCall("consumeStream", [consume({ topic: "parity" })], {
        headers: { "grpc-timeout": timeout },
      });
      assert.equal(fast.grpcStatus, "3", `${timeout}: ${fast.grpcMessage}`);
      assert.deepEqual(comparable(fast), comparable(connect), timeout);
    }
  });

  test("a deadline or shutdown ends a waiting ConsumeStream alike", async () => {
    const atTail = [consume({ topic: "parity", offset: parityNext })];
    const { fast, connect } = await bothCall("consumeStream", atTail, {
      headers: { "grpc-timeout": "50m" },
    });
    assert.equal(fast.grpcStatus, "4", fast.grpcMessage);
    assert.deepEqual(comparable(connect), comparable(fast), "deadline");
    const other = await startInProcessNode();
    try {
      const otherPort = Number(other.address.split(":")[1]);
      await grpcCall(otherPort, paths.produce, [grpcFrame(produce({ topic: "t", records: [{}] }))]);
      const waiting = [false, true].map((gzip) =>
        grpcCall(
          otherPort,
          paths.consumeStream,
          [(gzip ? gzipFrame : grpcFrame)(consume({ topic: "t", offset: 1n }))],
          { headers: gzip ? { "grpc-encoding": "gzip" } : {} },
        ),
      );
      await eventually(() => other.node.app.streams.active === 2, "both streams wait");
      const closing = other.close();
      const [fastEnd, connectEnd] = await Promise.all(waiting);
      await closing;
      assert.equal(fastEnd?.grpcStatus, "14", fastEnd?.grpcMessage);
      assert.deepEqual(comparable(connectEnd!), comparable(fastEnd!), "shutdown");
    } finally {
      await other.close();
    }
  });

  /** Runs `body` while streamsMax ConsumeStreams wait at the tail; resets them after. */
  async function atStreamLimit(body: () => Promise<void>): Promise<void> {
    const session = http2.connect(node.baseUrl);
    session.on("error", () => undefined);
    try {
      for (let i = 0; i < limits.streamsMax; i++) {
        openGrpcStream(session, paths.consumeStream).end(
          grpcFrame(consume({ topic: "parity", offset: parityNext })),
        );
      }
      await eventually(() => streamsActive() === limits.streamsMax, "every stream waits");
      await body();
    } finally {
      session.destroy();
      await eventually(() => streamsActive() === 0, "every stream released");
    }
  }

  test("streams over streamsMax: the same RESOURCE_EXHAUSTED", async () => {
    await atStreamLimit(async () => {
      for (const method of ["consumeStream", "produceStream"] as const) {
        const request = method === "consumeStream" ? consume({ topic: "parity" }) : produce({});
        const { fast, connect } = await bothCall(method, [request]);
        assert.equal(fast.grpcStatus, "8", fast.grpcMessage);
        assert.equal(fast.grpcMessage, `too many concurrent streams (limit ${limits.streamsMax})`);
        assert.deepEqual(comparable(fast), comparable(connect), method);
      }
    });
  });

  // Connect reads and validates a server-streaming request before its handler counts the stream.
  test("an invalid ConsumeStream at the stream limit: the same error", async () => {
    await atStreamLimit(async () => {
      const { fast, connect } = await bothCall("consumeStream", [consume({ topic: "a/b" })]);
      assert.deepEqual(comparable(fast), comparable(connect));
    });
  });

  test("a gzip message cut short inside a whole envelope is invalid_argument", async () => {
    // connect-node answered internal for zlib's "unexpected end of file" (Z_BUF_ERROR), while
    // a corrupt stream (Z_DATA_ERROR) was invalid_argument: patched to match.
    const compressed = gzipSync(produce({ topic: "t", records: [{ value: Buffer.from("v") }] }));
    const truncated = grpcFrame(compressed.subarray(0, compressed.length - 6), 1);
    const answer = await grpcCall(port, paths.produce, [truncated], {
      headers: { "grpc-encoding": "gzip" },
    });
    assert.equal(answer.grpcStatus, "3", JSON.stringify(answer.grpcMessage));
  });

  test("framing errors: the same codes and messages", async () => {
    const oversized = Buffer.alloc(5);
    oversized.writeUInt32BE(20_000_000, 1);
    const limit = clientReadMaxBytes(limits);
    const whole = grpcFrame(produce({}));
    const cases: [string, Buffer, Buffer, string, string][] = [
      [
        "a message over the size limit",
        oversized,
        oversized,
        `message size 20000000 is larger than configured readMaxBytes ${limit}`,
        `message size 20000000 is larger than configured readMaxBytes ${limit}`,
      ],
      [
        "a request ending mid-message",
        whole.subarray(0, 3),
        gzipFrame(produce({})).subarray(0, 8),
        "protocol error: incomplete envelope",
        "protocol error: incomplete envelope",
      ],
    ];
    for (const [name, fastBytes, connectBytes, fastMessage, connectMessage] of cases) {
      const fast = await grpcCall(port, paths.produce, [fastBytes]);
      const connect = await grpcCall(port, paths.produce, [connectBytes], {
        headers: { "grpc-encoding": "gzip" },
      });
      assert.equal(fast.grpcStatus, connect.grpcStatus, name);
      assert.deepEqual([fast.grpcMessage, connect.grpcMessage], [fastMessage, connectMessage]);
    }
  });

  /** Connect clients: plain gRPC (the fast route), gRPC with gzip and gRPC-Web (Connect's). */
  function connectClients() {
    const grpc = createNodeTransport("grpc", node.baseUrl);
    const web = createNodeTransport("grpc-web-h2", node.baseUrl);
    const sessionManager = new Http2SessionManager(node.baseUrl);
    const gzip = createGrpcTransport({
      baseUrl: node.baseUrl,
      sessionManager,
      sendCompression: compressionGzip,
      compressMinBytes: 0,
    });
    return {
      fast: createClient(LogService, grpc.transport),
      gzip: createClient(LogService, gzip),
      web: createClient(LogService, web.transport),
      close() {
        grpc.close();
        web.close();
        sessionManager.abort();
      },
    };
  }

  test("success: the same offsets and records through plain gRPC, gRPC+gzip and gRPC-Web", async () => {
    const { close, ...clients } = connectClients();
    const requests: ProduceInit[] = [
      { records: [{ value: Buffer.from("one"), key: Buffer.from("k"), headers: { h: "v" } }] },
      { records: [{}, { value: new Uint8Array(100) }, { headers: { a: "", b: "é" } }] },
      { records: [] },
      { records: Array.from({ length: 5 }, (_, i) => ({ value: Buffer.from(`r${i}`) })) },
    ];
    try {
      const seen = routes.streams.length;
      const offsets: Record<string, bigint[][]> = {};
      for (const [name, client] of Object.entries(clients)) {
        const topic = `success-${name}`;
        const answered: bigint[][] = [];
        for (const request of requests)
          answered.push((await client.produce({ ...request, topic })).offsets);
        for await (const response of client.produceStream(
          (async function* () {
            for (const request of requests)
              yield create(ProduceRequestSchema, { ...request, topic });
          })(),
        ))
          answered.push(response.offsets);
        offsets[name] = answered;
      }
      assert.deepEqual(offsets.gzip, offsets.fast);
      assert.deepEqual(offsets.web, offsets.fast);
      assert.deepEqual(offsets.fast?.flat().length, 2 * 9);

      // One topic read through every route: the same answers, record for record.
      const read = async (client: Client, request: ConsumeInit) => {
        const controller = new AbortController();
        const answers = [];
        for await (const answer of client.consumeStream(
          { topic: "success-fast", ...request },
          { signal: controller.signal },
        )) {
          answers.push(answer);
          if (answer.nextOffset === answer.highWatermark) break;
        }
        controller.abort();
        // Leaving the loop cancels the stream; the server releases it a moment later.
        await eventually(() => streamsActive() === 0, "the stream released");
        return answers;
      };
      for (const request of [
        {},
        { offset: 7n },
        { maxRecords: 4 },
        { start: StartPosition.TAIL, tailBack: 3n },
      ] as const) {
        const fast = await read(clients.fast, request);
        assert.ok(fast.length > 0);
        for (const other of [clients.gzip, clients.web]) {
          const answers = await read(other, request);
          assert.equal(answers.length, fast.length);
          for (const [i, answer] of answers.entries())
            assert.ok(equals(ConsumeResponseSchema, answer, fast[i]!), `answer ${i}`);
        }
      }
      const taken = routes.streams.slice(seen);
      assert.ok(taken.some((routed) => routed.fast) && taken.some((routed) => !routed.fast));
    } finally {
      close();
    }
    await eventually(() => streamsActive() === 0, "every stream released");
  });

  test("Connect clients see the same ConnectError from both routes", async () => {
    const clients = connectClients();
    const failure = async (call: () => Promise<unknown>) => {
      const error = await call().then(
        () => assert.fail("the call succeeded"),
        (caught: unknown) => ConnectError.from(caught),
      );
      return {
        code: error.code,
        message: error.rawMessage,
        details: error.details.map((detail) =>
          "type" in detail ? { type: detail.type, value: Buffer.from(detail.value) } : detail,
        ),
      };
    };
    const drain = async (stream: AsyncIterable<unknown>) => {
      for await (const _ of stream);
    };
    try {
      for (const call of [
        (client: Client) => client.produce({ topic: "a/b" }),
        (client: Client) => client.produce({ records: [{ value: new Uint8Array(101) }] }),
        (client: Client) => drain(client.consumeStream({ topic: "parity", offset: 9n })),
      ]) {
        const fast = await failure(() => call(clients.fast));
        assert.ok(fast.message.length > 0 && fast.code !== Code.Internal, fast.message);
        assert.deepEqual(await failure(() => call(clients.web)), fast);
        assert.deepEqual(await failure(() => call(clients.gzip)), fast);
      }
    } finally {
      clients.close();
    }
  });
});

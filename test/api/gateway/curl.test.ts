// The Connect protocol of a real `tidelog serve` process spoken by plain `curl`: JSON POSTs and
// Connect GETs (Consume is NO_SIDE_EFFECTS) over HTTP/1.1 and over h2c with prior knowledge, the
// status codes and bodies, and the out_of_range error with its typed detail, decoded both from
// curl's JSON and by a connect-node client with findOffsetOutOfRange.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { findOffsetOutOfRange } from "../../../src/api/errors/index.js";
import { OffsetOutOfRangeSchema } from "../../../src/gen/tidelog/v1/errors_pb.js";
import { LogService } from "../../../src/gen/tidelog/v1/log_service_pb.js";
import {
  type ClosableTransport,
  type CurlResponse,
  connectClient,
  createNodeTransport,
  curl,
} from "../../harness/clients.js";
import { NodeProcess } from "../../harness/node-process.js";

const httpVersions = [
  { name: "HTTP/1.1", flag: "--http1.1" },
  { name: "h2c", flag: "--http2-prior-knowledge" },
] as const;

interface ConnectErrorBody {
  code: string;
  message: string;
  details?: { type: string; value: string; debug?: unknown }[];
}

function json<T>(response: CurlResponse): T {
  assert.match(response.headers.get("content-type") ?? "", /^application\/json/);
  return JSON.parse(response.body) as T;
}

describe("curl against a tidelog process (Connect protocol, JSON)", () => {
  let node: NodeProcess;

  before(async () => {
    node = await NodeProcess.start({ args: ["--bootstrap"] });
  });

  after(async () => {
    await node?.destroy();
  });

  const post = (flag: string, method: string, body: unknown, extra: string[] = []) =>
    curl([
      flag,
      "-X",
      "POST",
      "-H",
      "content-type: application/json",
      "--data-binary",
      typeof body === "string" ? body : JSON.stringify(body),
      ...extra,
      `${node.baseUrl}/tidelog.v1.LogService/${method}`,
    ]);

  for (const { name, flag } of httpVersions) {
    const topic = `curl-${name === "h2c" ? "h2c" : "h1"}`;

    test(`POST Produce and Consume (${name})`, async () => {
      const produced = await post(flag, "Produce", {
        topic,
        records: [
          { value: Buffer.from("first").toString("base64"), headers: { source: "curl" } },
          { value: Buffer.from("second").toString("base64") },
        ],
      });
      assert.equal(produced.status, 200, produced.body);
      assert.deepEqual(json(produced), { offsets: ["0", "1"] });

      const consumed = await post(flag, "Consume", { topic, offset: "1" });
      assert.equal(consumed.status, 200, consumed.body);
      const body = json<{
        records: { value: string; offset: string; time: string }[];
        nextOffset: string;
        highWatermark: string;
      }>(consumed);
      assert.equal(body.records.length, 1);
      assert.equal(Buffer.from(body.records[0]!.value, "base64").toString(), "second");
      assert.equal(body.records[0]!.offset, "1");
      assert.ok(!Number.isNaN(Date.parse(body.records[0]!.time)), "an RFC 3339 time");
      assert.equal(body.nextOffset, "2");
      assert.equal(body.highWatermark, "2");
    });

    test(`GET Consume with ?encoding=json&message=… and the base64 form (${name})`, async () => {
      const message = JSON.stringify({ topic, offset: "0", maxRecords: 1 });
      const plain = await curl([
        flag,
        `${node.baseUrl}/tidelog.v1.LogService/Consume?encoding=json&message=${encodeURIComponent(message)}`,
      ]);
      assert.equal(plain.status, 200, plain.body);
      const body = json<{ records: { value: string }[]; nextOffset: string }>(plain);
      assert.equal(body.records.length, 1);
      assert.equal(Buffer.from(body.records[0]!.value, "base64").toString(), "first");
      assert.equal(body.nextOffset, "1");

      const encoded = Buffer.from(message).toString("base64url");
      const base64 = await curl([
        flag,
        `${node.baseUrl}/tidelog.v1.LogService/Consume?encoding=json&base64=1&message=${encoded}`,
      ]);
      assert.equal(base64.status, 200, base64.body);
      assert.deepEqual(json(base64), body);
    });

    test(`Consume past the end: HTTP 400, out_of_range, OffsetOutOfRange detail (${name})`, async () => {
      for (const response of [
        await post(flag, "Consume", { topic, offset: "7" }),
        await curl([
          flag,
          `${node.baseUrl}/tidelog.v1.LogService/Consume?encoding=json&message=${encodeURIComponent(JSON.stringify({ topic, offset: "7" }))}`,
        ]),
      ]) {
        assert.equal(response.status, 400, response.body);
        const error = json<ConnectErrorBody>(response);
        assert.equal(error.code, "out_of_range");
        assert.doesNotMatch(error.message, /\n\s+at /, "no stack trace");
        assert.equal(error.details?.length, 1);
        const detail = error.details![0]!;
        assert.equal(detail.type, "tidelog.v1.OffsetOutOfRange");
        const decoded = fromBinary(OffsetOutOfRangeSchema, Buffer.from(detail.value, "base64"));
        assert.equal(decoded.topic, topic);
        assert.equal(decoded.requested, 7n);
        assert.equal(decoded.lowest, 0n);
        assert.equal(decoded.next, 2n);
      }
    });

    test(`an unknown topic is not_found (HTTP 404), bad JSON invalid_argument (HTTP 400) (${name})`, async () => {
      const missing = await post(flag, "Consume", { topic: "no-such-topic" });
      assert.equal(missing.status, 404, missing.body);
      assert.equal(json<ConnectErrorBody>(missing).code, "not_found");

      const malformed = await post(flag, "Produce", '{"topic": ');
      assert.equal(malformed.status, 400, malformed.body);
      assert.equal(json<ConnectErrorBody>(malformed).code, "invalid_argument");
    });
  }

  test("values as `base64` prints them, and media types in any case", async () => {
    // `printf hello | base64` ends its line: white-space after the padding once cost the last
    // byte (protobuf-es's size estimate), and the produce was acknowledged.
    const topic = "curl-printed-base64";
    const produced = await post("--http1.1", "Produce", {
      topic,
      records: [
        { value: "aGVsbG8=\n", key: "aGk=\n" },
        { value: "aGVsbG8gd29ybGQ= " },
        { value: "aGVs\r\nbG8=\r\n" },
      ],
    });
    assert.equal(produced.status, 200, produced.body);
    // RFC 9110: media types are case-insensitive. Connect reads these as JSON, and the answer
    // must carry its records (a binary-built answer lost them, its offsets still advancing).
    for (const type of ["application/json", "application/JSON", "Application/Json"]) {
      const consumed = await curl([
        "--http1.1",
        "-X",
        "POST",
        "-H",
        `content-type: ${type}`,
        "--data-binary",
        JSON.stringify({ topic, offset: "0" }),
        `${node.baseUrl}/tidelog.v1.LogService/Consume`,
      ]);
      assert.equal(consumed.status, 200, consumed.body);
      const body = JSON.parse(consumed.body) as {
        records?: { value: string; key?: string }[];
        nextOffset: string;
      };
      assert.deepEqual(
        (body.records ?? []).map((record) => Buffer.from(record.value, "base64").toString()),
        ["hello", "hello world", "hello"],
        `content-type ${type}: ${consumed.body}`,
      );
      assert.equal(Buffer.from(body.records![0]!.key ?? "", "base64").toString(), "hi");
      assert.equal(body.nextOffset, "3");
    }
  });

  test("an unknown path is HTTP 404 with a Connect JSON error", async () => {
    const response = await curl([
      "--http1.1",
      "-X",
      "POST",
      "-H",
      "content-type: application/json",
      "-d",
      "{}",
      `${node.baseUrl}/tidelog.v1.LogService/NoSuchMethod`,
    ]);
    assert.equal(response.status, 404);
    assert.equal(json<ConnectErrorBody>(response).code, "unimplemented");
  });

  test("a Connect GET of Produce (which has side effects) is refused, not served", async () => {
    const message = encodeURIComponent(JSON.stringify({ topic: "curl-get-produce" }));
    const response = await curl([
      "--http1.1",
      `${node.baseUrl}/tidelog.v1.LogService/Produce?encoding=json&message=${message}`,
    ]);
    assert.ok(response.status >= 400 && response.status < 500, `${response.status}`);
    const check = await post("--http1.1", "Consume", { topic: "curl-get-produce" });
    assert.equal(check.status, 404, "the GET created nothing");
  });

  test("a connect-node client decodes the typed detail with findOffsetOutOfRange", async () => {
    const transports: ClosableTransport[] = [
      createNodeTransport("connect-json-h1", node.baseUrl),
      createNodeTransport("connect-binary-h2", node.baseUrl),
      createNodeTransport("connect-get-h1", node.baseUrl),
      createNodeTransport("grpc", node.baseUrl),
      createNodeTransport("grpc-web-h1", node.baseUrl),
    ];
    try {
      for (const { transport } of transports) {
        const client = connectClient(LogService, transport);
        const error = await client.consume({ topic: "curl-h1", offset: 1000n }).then(
          () => assert.fail("Consume past the end succeeded"),
          (reason: unknown) => reason,
        );
        assert.ok(error instanceof ConnectError);
        assert.equal(error.code, Code.OutOfRange);
        const detail = findOffsetOutOfRange(error);
        assert.ok(detail !== undefined, "the detail is there");
        assert.equal(detail.topic, "curl-h1");
        assert.equal(detail.requested, 1000n);
        assert.equal(detail.lowest, 0n);
        assert.equal(detail.next, 2n);
      }
    } finally {
      for (const transport of transports) transport.close();
    }
  });
});

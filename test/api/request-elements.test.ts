// The decoding bound (src/api/request-elements.ts): counts of a request's wire and JSON against
// protobuf-es's own view of the same message, and the refusals every protocol gives before
// decoding a request of too many elements. An outside probe's 8 MB ProduceRequest of 4 million
// empty records held a node's loop for 2.4–10 s on every route; refused here before decoding,
// its answer no longer says how many records it held ("got N": they were never counted).
import assert from "node:assert/strict";
import http2 from "node:http2";
import { after, before, describe, test } from "node:test";
import { create, toBinary, toJsonString } from "@bufbuild/protobuf";
import fc from "fast-check";
import { defaultApiLimits } from "../../src/api/limits.js";
import {
  countJson,
  countWire,
  produceElementsMax,
  requestElementsMax,
} from "../../src/api/request-elements.js";
import {
  ConsumeRequestSchema,
  ProduceRequestSchema,
} from "../../src/gen/tidelog/v1/log_service_pb.js";
import { UpdateTopicRequestSchema } from "../../src/gen/tidelog/v1/topic_service_pb.js";
import { type InProcessNode, startInProcessNode } from "../harness/in-process-node.js";
import { grpcCall, grpcFrame } from "../harness/raw-grpc.js";

const utf8 = (text: string) => new TextEncoder().encode(text);

/** A ProduceRequest of `records` records with these many headers each. */
function produceRequest(records: number, headersEach: number, withTime = false) {
  return create(ProduceRequestSchema, {
    topic: "t",
    records: Array.from({ length: records }, (_, i) => ({
      value: utf8(`v${i}`),
      key: utf8("k"),
      ...(withTime ? { time: { seconds: 1n, nanos: 2 } } : {}),
      headers: Object.fromEntries(Array.from({ length: headersEach }, (_, j) => [`h${j}`, "x"])),
    })),
  });
}

describe("counting", () => {
  test("a ProduceRequest's wire: its records and headers, as protobuf-es decodes them", () => {
    fc.assert(
      fc.property(fc.nat(20), fc.nat(5), fc.boolean(), (records, headersEach, withTime) => {
        const bytes = toBinary(
          ProduceRequestSchema,
          produceRequest(records, headersEach, withTime),
        );
        const counts = countWire(ProduceRequestSchema, bytes, 1_000_000);
        assert.equal(counts.records, records);
        assert.equal(counts.headers, records * headersEach);
        // topic; per record: the record, value, key, time (+ its 2), each header's entry + 2
        const perRecord = 3 + (withTime ? 3 : 0) + 3 * headersEach;
        assert.equal(counts.elements, 1 + records * perRecord);
        // The same request as JSON.
        const json = countJson(
          utf8(toJsonString(ProduceRequestSchema, produceRequest(records, headersEach, withTime))),
          1_000_000,
        );
        assert.equal(json.records, records);
        assert.equal(json.headers, records * headersEach);
      }),
      { numRuns: 50 },
    );
  });

  test("counting stops past the bound", () => {
    const bytes = toBinary(ProduceRequestSchema, produceRequest(100, 0));
    assert.equal(countWire(ProduceRequestSchema, bytes, 10).elements, 11);
    const json = utf8(toJsonString(ProduceRequestSchema, produceRequest(100, 0)));
    assert.equal(countJson(json, 10).elements, 11);
  });

  test("unknown fields and packed numbers count; malformed wire stops the count", () => {
    const unknown = Buffer.alloc(2 * 1000);
    for (let i = 0; i < 1000; i++) unknown[2 * i] = 0x78; // field 15, varint 0
    assert.equal(countWire(ConsumeRequestSchema, unknown, 1_000_000).elements, 1000);
    // A truncated length: counted up to there, the decoder reports it.
    assert.equal(countWire(ConsumeRequestSchema, Buffer.from([0x0a, 5, 0x61]), 100).elements, 1);
    // An update's field mask: each path one element, however long.
    const update = create(UpdateTopicRequestSchema, {
      name: "t",
      updateMask: { paths: ["retention_ms", "a".repeat(10_000)] },
    });
    assert.equal(
      countWire(UpdateTopicRequestSchema, toBinary(UpdateTopicRequestSchema, update), 100).elements,
      4,
    );
  });

  test("JSON: brackets, commas and colons inside strings are not counted", () => {
    const text = `{"topic":"a,b:[{\\"}","records":[{"value":"","headers":{"x\\\\":"{,:}"}}]}`;
    assert.doesNotThrow(() => JSON.parse(text));
    const counts = countJson(utf8(text), 100);
    assert.equal(counts.records, 1);
    assert.equal(counts.headers, 1);
    // { : , : [ { : , : { :
    assert.equal(counts.elements, 11);
  });

  test("the largest produce request the limits allow fits the bound, as binary and as JSON", () => {
    const { requestRecordsMax, requestHeadersMax } = defaultApiLimits;
    const request = produceRequest(requestRecordsMax, requestHeadersMax / requestRecordsMax, true);
    const max = produceElementsMax(defaultApiLimits);
    assert.ok(
      countWire(ProduceRequestSchema, toBinary(ProduceRequestSchema, request), max).elements <= max,
    );
    assert.ok(countJson(utf8(toJsonString(ProduceRequestSchema, request)), max).elements <= max);
  });
});

describe("every protocol refuses too many elements before decoding them", () => {
  let server: InProcessNode;
  let port: number;

  before(async () => {
    server = await startInProcessNode();
    port = Number(server.address.split(":")[1]);
  });

  after(async () => {
    await server?.close();
  });

  const recordsOver = defaultApiLimits.requestRecordsMax + 1;
  const tooManyRecords = `a produce request holds at most ${defaultApiLimits.requestRecordsMax} records`;
  /** recordsOver empty records: 2 bytes each. */
  const emptyRecordsBinary = Buffer.concat([
    Buffer.from([0x0a, 1, 0x74]),
    Buffer.from(Array.from({ length: recordsOver }, () => [0x12, 0]).flat()),
  ]);
  const emptyRecordsJson = `{"topic":"t","records":[${Array(recordsOver).fill("{}").join(",")}]}`;
  /** A ConsumeRequest with more unknown fields than any request but a produce may hold. */
  const unknownFields = Buffer.from(
    Array.from({ length: requestElementsMax + 1 }, () => [0x78, 0]).flat(),
  );

  async function connectPost(path: string, contentType: string, body: Uint8Array | string) {
    const response = await fetch(`${server.baseUrl}${path}`, {
      method: "POST",
      headers: { "content-type": contentType },
      body,
      signal: AbortSignal.timeout(10_000),
    });
    return { status: response.status, text: await response.text() };
  }

  test("Connect binary and JSON Produce", async () => {
    for (const [type, body] of [
      ["application/proto", emptyRecordsBinary],
      ["application/json", emptyRecordsJson],
    ] as const) {
      const answer = await connectPost("/tidelog.v1.LogService/Produce", type, body);
      assert.equal(answer.status, 429, `${type}: ${answer.text}`);
      const error = JSON.parse(answer.text) as { code: string; message: string };
      assert.deepEqual(error, { code: "resource_exhausted", message: tooManyRecords }, type);
    }
  });

  test("plain gRPC and gRPC-Web Produce, Connect streaming ProduceStream", async () => {
    const grpc = await grpcCall(port, "/tidelog.v1.LogService/Produce", [
      grpcFrame(emptyRecordsBinary),
    ]);
    assert.equal(grpc.grpcStatus, "8");
    assert.equal(grpc.grpcMessage, tooManyRecords);

    const web = await connectPost(
      "/tidelog.v1.LogService/Produce",
      "application/grpc-web+proto",
      grpcFrame(emptyRecordsBinary),
    );
    assert.equal(web.status, 200);
    assert.match(web.text, /grpc-status:\s*8/);
    assert.match(web.text, new RegExp(`grpc-message: ?${tooManyRecords}`));

    // Bidirectional: Connect streams it over HTTP/2 only.
    const stream = await h2Post(
      "/tidelog.v1.LogService/ProduceStream",
      "application/connect+proto",
      grpcFrame(emptyRecordsBinary),
    );
    assert.equal(stream.status, 200);
    assert.ok(stream.text.includes(`"code":"resource_exhausted"`), stream.text);
    assert.ok(stream.text.includes(tooManyRecords), stream.text);
  });

  function h2Post(path: string, contentType: string, body: Uint8Array) {
    return new Promise<{ status: number; text: string }>((resolve, reject) => {
      const session = http2.connect(server.baseUrl);
      session.on("error", reject);
      const stream = session.request({
        ":method": "POST",
        ":path": path,
        "content-type": contentType,
      });
      let status = 0;
      const chunks: Buffer[] = [];
      stream.on("response", (headers) => {
        status = Number(headers[":status"]);
      });
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("error", reject);
      stream.on("close", () => {
        session.close();
        resolve({ status, text: Buffer.concat(chunks).toString("latin1") });
      });
      stream.end(body);
    });
  }

  test("any other request, binary or JSON, over Connect and plain gRPC", async () => {
    const binary = await connectPost(
      "/tidelog.v1.LogService/Consume",
      "application/proto",
      unknownFields,
    );
    assert.equal(binary.status, 429, binary.text);
    assert.match(binary.text, new RegExp(`more than ${requestElementsMax} fields and values`));
    const members = Array.from({ length: requestElementsMax + 1 }, (_, i) => `"f${i}":0`).join(",");
    const json = await connectPost(
      "/tidelog.v1.LogService/Consume",
      "application/json",
      `{${members}}`,
    );
    assert.equal(json.status, 429, json.text);
    const grpc = await new Promise<{ status?: string }>((resolve, reject) => {
      const session = http2.connect(server.baseUrl);
      session.on("error", reject);
      const stream = session.request({
        ":method": "POST",
        ":path": "/tidelog.v1.LogService/ConsumeStream",
        "content-type": "application/grpc",
        te: "trailers",
      });
      stream.end(grpcFrame(Buffer.concat([Buffer.from([0x0a, 1, 0x74]), unknownFields])));
      stream.on("data", () => undefined);
      let status: string | undefined;
      const read = (headers: http2.IncomingHttpHeaders) => {
        if (headers["grpc-status"] !== undefined) status = String(headers["grpc-status"]);
      };
      stream.on("response", read);
      stream.on("trailers", read);
      stream.on("close", () => {
        session.close();
        resolve({ status });
      });
    });
    assert.equal(grpc.status, "8");
  });

  test("a produce at the limits is served", async () => {
    const { requestRecordsMax } = defaultApiLimits;
    const request = produceRequest(requestRecordsMax, 1, true);
    const binary = await connectPost(
      "/tidelog.v1.LogService/Produce",
      "application/proto",
      toBinary(ProduceRequestSchema, request),
    );
    assert.equal(binary.status, 200, binary.text);
    const json = await connectPost(
      "/tidelog.v1.LogService/Produce",
      "application/json",
      toJsonString(ProduceRequestSchema, request),
    );
    assert.equal(json.status, 200, json.text);
  });
});

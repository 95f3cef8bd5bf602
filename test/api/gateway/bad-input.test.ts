// Bad input, table by table: every case gets a clear Connect error code (never internal, never a
// 500), nothing crashes or hangs, and the node keeps serving afterwards (a successful Produce is
// checked after each case). Raw sockets and raw HTTP/2 streams play the clients that misbehave:
// random bytes, a 64 MiB body, a client that vanishes in the middle of a stream.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import http2 from "node:http2";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import {
  eventually,
  type InProcessNode,
  startInProcessNode,
} from "../../harness/in-process-node.js";

/** Bytes a "huge body" client offers: far over the 8 MiB request limit. */
const hugeBodyBytes = 64 * 1024 * 1024;
/** A huge body must be refused within this; reading all of it would take longer. */
const refusalTimeoutMs = 5_000;
const chunk = Buffer.alloc(256 * 1024, 0x61);

interface JsonAnswer {
  status: number;
  body: { code?: string; message?: string; [key: string]: unknown };
}

describe("bad input never breaks the gateway", () => {
  let server: InProcessNode;
  let host: string;
  let port: number;

  before(async () => {
    server = await startInProcessNode();
    const [hostPart, portPart] = server.address.split(":");
    host = hostPart!;
    port = Number(portPart);
  });

  after(async () => {
    await server?.close();
  });

  async function post(method: string, body: string, service = "LogService"): Promise<JsonAnswer> {
    const response = await fetch(`${server.baseUrl}/tidelog.v1.${service}/${method}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.text();
    let parsed: JsonAnswer["body"];
    try {
      parsed = JSON.parse(text) as JsonAnswer["body"];
    } catch {
      assert.fail(`not JSON (HTTP ${response.status}): ${text.slice(0, 200)}`);
    }
    return { status: response.status, body: parsed };
  }

  /** The node still serves: a Produce succeeds. */
  async function assertServing(): Promise<void> {
    const answer = await post("Produce", JSON.stringify({ topic: "alive", records: [{}] }));
    assert.equal(answer.status, 200, `the node stopped serving: ${JSON.stringify(answer.body)}`);
  }

  const errorStatus: { [code: string]: number } = {
    invalid_argument: 400,
    out_of_range: 400,
    resource_exhausted: 429,
    not_found: 404,
  };

  const table: { name: string; method: string; body: string; code: string; service?: string }[] = [
    {
      name: "malformed JSON",
      method: "Produce",
      body: '{"topic": "t", "records": [',
      code: "invalid_argument",
    },
    {
      name: "not JSON at all",
      method: "Produce",
      body: "\u0000\u0001binary",
      code: "invalid_argument",
    },
    {
      name: "a JSON array, not an object",
      method: "Produce",
      body: "[]",
      code: "invalid_argument",
    },
    {
      name: "topic is a number",
      method: "Produce",
      body: '{"topic": 5}',
      code: "invalid_argument",
    },
    {
      name: "records is a string",
      method: "Produce",
      body: '{"records": "x"}',
      code: "invalid_argument",
    },
    {
      name: "value is not base64",
      method: "Produce",
      body: '{"records": [{"value": "%%%"}]}',
      code: "invalid_argument",
    },
    {
      name: "headers is a list",
      method: "Produce",
      body: '{"records": [{"headers": ["a"]}]}',
      code: "invalid_argument",
    },
    {
      name: "an unknown field",
      method: "Produce",
      body: '{"topic": "t", "bogus": 1}',
      code: "invalid_argument",
    },
    {
      name: "an unknown field in a record",
      method: "Produce",
      body: '{"records": [{"valu": "eA=="}]}',
      code: "invalid_argument",
    },
    {
      name: "offset is a float",
      method: "Consume",
      body: '{"topic": "alive", "offset": 1.5}',
      code: "invalid_argument",
    },
    {
      name: "offset is negative",
      method: "Consume",
      body: '{"topic": "alive", "offset": "-1"}',
      code: "invalid_argument",
    },
    {
      name: "offset is over uint64",
      method: "Consume",
      body: '{"topic": "alive", "offset": "18446744073709551616"}',
      code: "invalid_argument",
    },
    {
      name: "offset is the largest uint64",
      method: "Consume",
      body: '{"topic": "alive", "offset": "18446744073709551615"}',
      code: "out_of_range",
    },
    {
      name: "offset 2^53 + 1",
      method: "Consume",
      body: '{"topic": "alive", "offset": "9007199254740993"}',
      code: "out_of_range",
    },
    {
      name: "max_records over 10,000",
      method: "Consume",
      body: '{"topic": "alive", "maxRecords": 10001}',
      code: "invalid_argument",
    },
    {
      name: "max_records negative",
      method: "Consume",
      body: '{"topic": "alive", "maxRecords": -1}',
      code: "invalid_argument",
    },
    {
      name: "an undefined start position",
      method: "Consume",
      body: '{"topic": "alive", "start": 99}',
      code: "invalid_argument",
    },
    {
      name: "a Consume of an unknown topic",
      method: "Consume",
      body: '{"topic": "nope"}',
      code: "not_found",
    },
    {
      name: "a record over 1 MiB",
      method: "Produce",
      body: JSON.stringify({
        records: [{ value: Buffer.alloc(1024 * 1024 + 1).toString("base64") }],
      }),
      code: "resource_exhausted",
    },
    {
      name: "a record whose key and headers take it over 1 MiB",
      method: "Produce",
      body: JSON.stringify({
        records: [
          {
            value: Buffer.alloc(1024 * 1024 - 10).toString("base64"),
            key: "a2V5a2V5",
            headers: { header: "value" },
          },
        ],
      }),
      code: "resource_exhausted",
    },
    {
      name: "10,001 records",
      method: "Produce",
      body: JSON.stringify({ records: Array.from({ length: 10_001 }, () => ({})) }),
      code: "resource_exhausted",
    },
    {
      name: "records over 8 MiB together",
      method: "Produce",
      body: JSON.stringify({
        records: Array.from({ length: 9 }, () => ({
          value: Buffer.alloc(1024 * 1024 - 64).toString("base64"),
        })),
      }),
      code: "resource_exhausted",
    },
    {
      name: "retention_bytes over 2^53",
      method: "CreateTopic",
      service: "TopicService",
      body: '{"name": "big-retention", "config": {"retentionBytes": "18446744073709551615"}}',
      code: "invalid_argument",
    },
    {
      name: "a negative retention",
      method: "CreateTopic",
      service: "TopicService",
      body: '{"name": "negative-retention", "config": {"retention": "-5s"}}',
      code: "invalid_argument",
    },
  ];

  for (const row of table) {
    test(`${row.name} → ${row.code}`, async () => {
      const answer = await post(row.method, row.body, row.service);
      assert.equal(answer.body.code, row.code, JSON.stringify(answer.body).slice(0, 300));
      assert.equal(answer.status, errorStatus[row.code]);
      assert.doesNotMatch(answer.body.message ?? "", /\n\s+at /, "no stack trace");
      await assertServing();
    });
  }

  test("records of exactly the request limit are accepted over Connect JSON, base64 and all", async () => {
    // 8 records of exactly 1 MiB: 8 MiB of records, 10.7 MiB of JSON. The wire bound of a
    // request leaves room for base64; the records themselves are what the limit counts.
    const value = Buffer.alloc(1024 * 1024, 7).toString("base64");
    const body = JSON.stringify({
      topic: "at-the-limit",
      records: Array.from({ length: 8 }, () => ({ value })),
    });
    const answer = await post("Produce", body);
    assert.equal(answer.status, 200, JSON.stringify(answer.body).slice(0, 300));
    const over = JSON.stringify({
      topic: "at-the-limit",
      records: [...Array.from({ length: 8 }, () => ({ value })), { value: "AA==" }],
    });
    const refused = await post("Produce", over);
    assert.equal(refused.status, 429);
    assert.match(String(refused.body.message), /records exceed 8388608 bytes/);
  });

  test("a Connect GET whose base64 message is not base64 is invalid_argument", async () => {
    for (const message of ["!!!!", "a", "%00", "@@"]) {
      const response = await fetch(
        `${server.baseUrl}/tidelog.v1.LogService/Consume?encoding=json&base64=1&message=${message}`,
        { signal: AbortSignal.timeout(10_000) },
      );
      const body = (await response.json()) as JsonAnswer["body"];
      assert.equal(response.status, 400, `${message}: ${JSON.stringify(body)}`);
      assert.equal(body.code, "invalid_argument");
      assert.match(body.message ?? "", /not base64/);
    }
    await assertServing();
  });

  test("the largest uint64 offset is reported as requested in the OffsetOutOfRange detail", async () => {
    const answer = await post("Consume", '{"topic": "alive", "offset": "18446744073709551615"}');
    const details = answer.body.details as { debug?: { requested?: string } }[];
    assert.equal(details[0]?.debug?.requested, "18446744073709551615");
  });

  test('an empty topic name means "default" and succeeds', async () => {
    const produced = await post(
      "Produce",
      JSON.stringify({ topic: "", records: [{ value: "eA==" }] }),
    );
    assert.equal(produced.status, 200, JSON.stringify(produced.body));
    const consumed = await post("Consume", JSON.stringify({ topic: "default", offset: "0" }));
    assert.equal(consumed.status, 200, JSON.stringify(consumed.body));
    const empty = await post("Consume", JSON.stringify({ topic: "", offset: "0" }));
    assert.deepEqual(empty.body, consumed.body);
  });

  for (const name of ["a/b", "..", ".", "a".repeat(250), "é", "a b", "../etc", "a\u0000b"]) {
    const shown = name.length > 20 ? `${name.length} characters` : JSON.stringify(name);
    test(`the topic name ${shown} is invalid_argument everywhere`, async () => {
      for (const [service, method, body] of [
        ["LogService", "Produce", { topic: name, records: [{}] }],
        ["LogService", "Consume", { topic: name }],
        ["TopicService", "CreateTopic", { name }],
        ["TopicService", "GetTopic", { name }],
        ["TopicService", "DeleteTopic", { name }],
      ] as const) {
        const answer = await post(method, JSON.stringify(body), service);
        assert.equal(answer.status, 400, `${method}: ${JSON.stringify(answer.body)}`);
        assert.equal(answer.body.code, "invalid_argument", method);
      }
      await assertServing();
    });
  }

  test("249 characters is a valid topic name", async () => {
    const answer = await post("Produce", JSON.stringify({ topic: "b".repeat(249), records: [{}] }));
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
  });

  // --- unknown paths ------------------------------------------------------------------------------

  test("unknown Connect paths are HTTP 404 unimplemented", async () => {
    for (const path of ["/tidelog.v1.LogService/Nope", "/tidelog.v1.Nope/Produce", "/", "/x"]) {
      const response = await fetch(`${server.baseUrl}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      assert.equal(response.status, 404, path);
      assert.equal(((await response.json()) as { code: string }).code, "unimplemented", path);
    }
    await assertServing();
  });

  test("unknown gRPC paths are a trailers-only grpc-status 12 over HTTP/2", async () => {
    const session = http2.connect(server.baseUrl);
    session.on("error", () => undefined);
    try {
      for (const path of ["/tidelog.v1.LogService/Nope", "/no.Such/Method"]) {
        const answer = await new Promise<{ headers: http2.IncomingHttpHeaders; ended: boolean }>(
          (resolve, reject) => {
            const stream = session.request({
              ":method": "POST",
              ":path": path,
              "content-type": "application/grpc",
              te: "trailers",
            });
            stream.end(Buffer.from([0, 0, 0, 0, 0]));
            stream.on("response", (headers, flags) =>
              resolve({ headers, ended: (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0 }),
            );
            stream.on("error", reject);
            stream.resume();
          },
        );
        assert.equal(answer.headers[":status"], 200, path);
        assert.equal(answer.headers["grpc-status"], "12", path);
        assert.ok(answer.ended, "the HEADERS frame ends the stream (trailers-only)");
      }
    } finally {
      session.destroy();
    }
  });

  // --- a 64 MiB body ------------------------------------------------------------------------------

  interface RefusalResult {
    /** Bytes the client had written when the answer came. */
    writtenBytes: number;
    elapsedMs: number;
    answer: string;
  }

  /**
   * Offers `hugeBodyBytes` over a raw HTTP/1.1 socket (headers then body chunks, with backpressure)
   * and stops at the first response bytes. Write errors after the server answered (it may close
   * the connection) are expected.
   */
  function offerHugeBodyHttp1(headers: string, prefix: Buffer): Promise<RefusalResult> {
    return new Promise((resolve, reject) => {
      const started = Date.now();
      const socket = net.connect(port, host);
      let written = 0;
      let received = "";
      let done = false;
      const timer = setTimeout(
        () => finish(new Error("no answer to a huge body")),
        refusalTimeoutMs,
      );
      const finish = (error?: Error) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        socket.destroy();
        if (error !== undefined) reject(error);
        else resolve({ writtenBytes: written, elapsedMs: Date.now() - started, answer: received });
      };
      socket.on("error", () => (received.length > 0 ? finish() : undefined));
      socket.on("close", () =>
        finish(received.length > 0 ? undefined : new Error("closed unanswered")),
      );
      socket.on("data", (data: Buffer) => {
        received += data.toString("latin1");
        // Wait for the whole (small) answer: headers and a body that ends in "}" or a trailer.
        if (/\r\n\r\n[\s\S]*(\}|grpc-status: \d+\r\n)/.test(received)) finish();
      });
      socket.on("connect", async () => {
        socket.write(headers);
        socket.write(prefix);
        while (!done && written < hugeBodyBytes) {
          written += chunk.length;
          if (!socket.write(chunk)) {
            await new Promise((resume) => {
              socket.once("drain", resume);
              socket.once("close", resume);
            });
          }
        }
      });
    });
  }

  function grpcPrefix(length: number): Buffer {
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(length, 1);
    return prefix;
  }

  const http1Cases = [
    {
      name: "Connect with content-length",
      headers: `POST /tidelog.v1.LogService/Produce HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${hugeBodyBytes}\r\n\r\n`,
      prefix: Buffer.alloc(0),
      answer: /^HTTP\/1\.1 429[\s\S]*"code":"resource_exhausted"/,
    },
    {
      name: "Connect, chunked",
      headers:
        "POST /tidelog.v1.LogService/Produce HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n",
      prefix: Buffer.from(`${(hugeBodyBytes).toString(16)}\r\n`),
      answer: /^HTTP\/1\.1 429[\s\S]*"code":"resource_exhausted"/,
    },
    {
      name: "gRPC-Web",
      headers:
        "POST /tidelog.v1.LogService/Produce HTTP/1.1\r\nhost: x\r\ncontent-type: application/grpc-web+proto\r\ntransfer-encoding: chunked\r\n\r\n",
      prefix: Buffer.concat([
        Buffer.from(`${(hugeBodyBytes + 5).toString(16)}\r\n`),
        grpcPrefix(hugeBodyBytes),
      ]),
      answer: /^HTTP\/1\.1 200[\s\S]*grpc-status: 8\r\n/,
    },
  ];

  for (const { name, headers, prefix, answer } of http1Cases) {
    test(`a 64 MiB body over HTTP/1.1 (${name}) is refused with resource_exhausted, quickly`, async () => {
      const result = await offerHugeBodyHttp1(headers, prefix);
      assert.match(result.answer, answer);
      assert.ok(result.elapsedMs < refusalTimeoutMs, `${result.elapsedMs} ms`);
      // Connect reads up to the client read bound (12.5 MB by default: room for JSON's base64)
      // before it refuses, and the sockets buffer a few MB more: well under the 64 MiB.
      assert.ok(
        result.writtenBytes < 32 * 1024 * 1024,
        `answered after ${result.writtenBytes} bytes, before the 64 MiB were sent`,
      );
      await assertServing();
    });
  }

  /**
   * Offers `hugeBodyBytes` on one HTTP/2 stream and reports when the answer came and whether the
   * server then ended the stream (so that the client stops sending) within the time limit.
   */
  function offerHugeBodyHttp2(
    headers: http2.OutgoingHttpHeaders,
    prefix: Buffer,
  ): Promise<RefusalResult & { status: string; closed: boolean }> {
    return new Promise((resolve, reject) => {
      const started = Date.now();
      const session = http2.connect(server.baseUrl);
      session.on("error", () => undefined);
      const stream = session.request({ ":method": "POST", ...headers });
      let written = 0;
      let answeredAt: number | undefined;
      let writtenAtAnswer = 0;
      let status = "";
      let text = "";
      let done = false;
      const finish = (closed: boolean) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        session.destroy();
        if (answeredAt === undefined) reject(new Error("no answer to a huge body"));
        else
          resolve({
            writtenBytes: writtenAtAnswer,
            elapsedMs: answeredAt - started,
            answer: text,
            status,
            closed,
          });
      };
      const timer = setTimeout(() => finish(false), refusalTimeoutMs);
      const answered = () => {
        if (answeredAt !== undefined) return;
        answeredAt = Date.now();
        writtenAtAnswer = written;
      };
      stream.on("response", (responseHeaders) => {
        status = String(responseHeaders["grpc-status"] ?? responseHeaders[":status"]);
        if (responseHeaders["grpc-status"] !== undefined || responseHeaders[":status"] !== 200)
          answered();
      });
      stream.on("trailers", (trailers) => {
        status = String(trailers["grpc-status"]);
        answered();
      });
      stream.on("data", (data: Buffer) => (text += data.toString("latin1")));
      stream.on("error", () => undefined);
      stream.on("close", () => finish(true));
      stream.write(prefix);
      void (async () => {
        while (!done && !stream.destroyed && written < hugeBodyBytes) {
          written += chunk.length;
          if (!stream.write(chunk)) {
            await new Promise((resume) => {
              stream.once("drain", resume);
              stream.once("close", resume);
            });
          }
        }
      })();
    });
  }

  test("a 64 MiB body over h2c (Connect) is refused with resource_exhausted, quickly", async () => {
    const result = await offerHugeBodyHttp2(
      {
        ":path": "/tidelog.v1.LogService/Produce",
        "content-type": "application/json",
        "content-length": String(hugeBodyBytes),
      },
      Buffer.alloc(0),
    );
    assert.equal(result.status, "429");
    assert.match(result.answer, /"code":"resource_exhausted"/);
    assert.ok(result.writtenBytes < 16 * 1024 * 1024, `${result.writtenBytes} bytes written`);
    assert.ok(result.closed, "the server ended the stream");
    await assertServing();
  });

  test("a 64 MiB message over gRPC is refused with RESOURCE_EXHAUSTED and the stream ended", async () => {
    const result = await offerHugeBodyHttp2(
      {
        ":path": "/tidelog.v1.LogService/Produce",
        "content-type": "application/grpc",
        te: "trailers",
      },
      grpcPrefix(hugeBodyBytes),
    );
    assert.equal(result.status, "8", "grpc-status RESOURCE_EXHAUSTED");
    assert.ok(result.writtenBytes < 16 * 1024 * 1024, `${result.writtenBytes} bytes written`);
    assert.ok(result.closed, "the server ends the stream so that the client stops sending");
    await assertServing();
  });

  // --- garbage on the socket ----------------------------------------------------------------------

  /** Sends `bytes` on a raw connection; resolves when the server closes it (bounded). */
  function sendRaw(bytes: Buffer, endAfterWrite: boolean): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, host);
      let received = "";
      const timer = setTimeout(() => {
        socket.destroy();
        reject(
          new Error(
            `the server kept a garbage connection open; it said ${JSON.stringify(received)}`,
          ),
        );
      }, 5_000);
      socket.on("data", (data: Buffer) => (received += data.toString("latin1")));
      socket.on("error", () => undefined);
      socket.on("close", () => {
        clearTimeout(timer);
        resolve(received);
      });
      socket.on("connect", () => {
        socket.write(bytes);
        if (endAfterWrite) socket.end();
      });
    });
  }

  const garbage: { name: string; bytes: Buffer; endAfterWrite: boolean }[] = [
    {
      name: "random bytes",
      bytes: Buffer.concat([Buffer.from([0x16, 0x03, 0x01]), randomBytes(4096)]),
      endAfterWrite: false,
    },
    {
      name: "random bytes, then EOF",
      bytes: Buffer.concat([Buffer.from("\x00\xff"), randomBytes(100)]),
      endAfterWrite: true,
    },
    {
      name: "the HTTP/2 preface, then random bytes",
      bytes: Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), randomBytes(4096)]),
      endAfterWrite: false,
    },
    {
      name: "half of the HTTP/2 preface, then EOF",
      bytes: Buffer.from("PRI * HTTP/2"),
      endAfterWrite: true,
    },
    {
      name: "a broken HTTP/1.1 request line",
      bytes: Buffer.from("POST /tidelog.v1.LogService/Produce HTTP/9.9 nonsense\r\n\r\n"),
      endAfterWrite: false,
    },
    {
      name: "an HTTP/1.1 header without a colon",
      bytes: Buffer.from("GET /healthz HTTP/1.1\r\nhost x\r\n\r\n"),
      endAfterWrite: false,
    },
    {
      name: "a TLS ClientHello on the cleartext port",
      bytes: Buffer.from("16030100a5010000a10303", "hex"),
      endAfterWrite: true,
    },
  ];

  for (const { name, bytes, endAfterWrite } of garbage) {
    test(`${name} on the raw socket: the connection is closed and the node survives`, async () => {
      const said = await sendRaw(bytes, endAfterWrite);
      if (said.startsWith("HTTP/")) assert.match(said, /^HTTP\/1\.1 4\d\d/);
      await assertServing();
    });
  }

  // --- requests no URL can be made of -------------------------------------------------------------

  const listTopics = (head: string) =>
    Buffer.from(
      `POST /tidelog.v1.TopicService/ListTopics ${head}\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}`,
    );
  for (const [name, head] of [
    ["HTTP/1.0 without Host", "HTTP/1.0"],
    ["HTTP/1.1 with Host 'a b'", "HTTP/1.1\r\nhost: a b"],
    ["HTTP/1.1 with Host 'x:abc'", "HTTP/1.1\r\nhost: x:abc"],
  ] as const) {
    test(`${name}: 400 invalid_argument, not an empty 200`, async () => {
      const said = await sendRaw(listTopics(head), false);
      assert.match(said, /^HTTP\/1\.[01] 400 /);
      assert.match(said, /"code":"invalid_argument"/);
      await assertServing();
    });
  }

  test("HTTP/2 with :authority 'x:abc': 400 invalid_argument, not an empty 200", async () => {
    const session = http2.connect(`http://${host}:${port}`);
    try {
      const stream = session.request({
        ":method": "POST",
        ":path": "/tidelog.v1.TopicService/ListTopics",
        ":authority": "x:abc",
        "content-type": "application/json",
      });
      stream.end("{}");
      const [status, body] = await new Promise<[number, string]>((resolve, reject) => {
        let answer = 0;
        let text = "";
        stream.on("response", (headers) => (answer = Number(headers[":status"])));
        stream.on("data", (chunk: Buffer) => (text += chunk.toString()));
        stream.on("end", () => resolve([answer, text]));
        stream.on("error", reject);
      });
      assert.equal(status, 400);
      assert.match(body, /"code":"invalid_argument"/);
    } finally {
      session.close();
    }
    await assertServing();
  });

  // --- clients that vanish mid-stream -------------------------------------------------------------

  function connectEnvelope(message: unknown): Buffer {
    const payload = Buffer.from(JSON.stringify(message));
    const envelope = Buffer.alloc(5 + payload.length);
    envelope.writeUInt32BE(payload.length, 1);
    payload.copy(envelope, 5);
    return envelope;
  }

  const streamsActive = () => server.node.app.streams.active;

  test("an HTTP/1.1 client that drops its socket mid-ConsumeStream releases the stream", async () => {
    await post("Produce", JSON.stringify({ topic: "vanish", records: [{ value: "eA==" }] }));
    const sockets: net.Socket[] = [];
    for (const contentType of ["application/connect+json", "application/grpc-web+json"]) {
      const socket = net.connect(port, host);
      sockets.push(socket);
      socket.on("error", () => undefined);
      const body = connectEnvelope({ topic: "vanish", offset: "0" });
      let received = "";
      socket.on("data", (data: Buffer) => (received += data.toString("latin1")));
      socket.write(
        `POST /tidelog.v1.LogService/ConsumeStream HTTP/1.1\r\nhost: x\r\ncontent-type: ${contentType}\r\ncontent-length: ${body.length}\r\n\r\n`,
      );
      socket.write(body);
      await eventually(() => received.includes("eA=="), `the first record (${contentType})`);
    }
    assert.equal(streamsActive(), 2);
    for (const socket of sockets) socket.destroy();
    await eventually(() => streamsActive() === 0, "both streams released");
    await assertServing();
  });

  test("an HTTP/2 client that destroys its session mid-stream releases every stream", async () => {
    await post("Produce", JSON.stringify({ topic: "vanish-h2", records: [{ value: "eA==" }] }));
    const session = http2.connect(server.baseUrl);
    session.on("error", () => undefined);
    const opened = [
      { "content-type": "application/grpc+json", te: "trailers" },
      { "content-type": "application/connect+json" },
      { "content-type": "application/grpc-web+json" },
    ].map((headers) => {
      const stream = session.request({
        ":method": "POST",
        ":path": "/tidelog.v1.LogService/ConsumeStream",
        ...headers,
      });
      stream.on("error", () => undefined);
      stream.end(connectEnvelope({ topic: "vanish-h2", offset: "0" }));
      let received = "";
      stream.on("data", (data: Buffer) => (received += data.toString("latin1")));
      return () => received.includes("eA==");
    });
    await eventually(() => opened.every((sawRecord) => sawRecord()), "every stream's first record");
    assert.equal(streamsActive(), 3);
    session.destroy();
    await eventually(() => streamsActive() === 0, "every stream released");
    await assertServing();
  });

  test("a ProduceStream whose client vanishes releases the stream and commits whole batches only", async () => {
    const session = http2.connect(server.baseUrl);
    session.on("error", () => undefined);
    const stream = session.request({
      ":method": "POST",
      ":path": "/tidelog.v1.LogService/ProduceStream",
      "content-type": "application/connect+json",
    });
    stream.on("error", () => undefined);
    let received = "";
    stream.on("data", (data: Buffer) => (received += data.toString("latin1")));
    stream.write(connectEnvelope({ topic: "vanish-produce", records: [{ value: "eA==" }, {}] }));
    await eventually(() => received.includes('"offsets"'), "the first batch's answer");
    // Half an envelope, then gone.
    stream.write(connectEnvelope({ topic: "vanish-produce", records: [{}] }).subarray(0, 7));
    await eventually(() => streamsActive() === 1, "the stream is counted");
    session.destroy();
    await eventually(() => streamsActive() === 0, "the stream is released");
    const consumed = await post(
      "Consume",
      JSON.stringify({ topic: "vanish-produce", offset: "0" }),
    );
    assert.equal((consumed.body.records as unknown[]).length, 2, "only the whole batch");
    await assertServing();
  });
});

// gRPC-Web text mode (application/grpc-web-text), the default of the official grpc-web browser
// client, played by hand against a real node: fetch over HTTP/1.1 and node:http2 over h2c. The
// requests are base64 of gRPC-Web frames; answers are decoded in groups of 4 characters as they
// arrive, as the official client does. Produce, Consume, a ConsumeStream that gets a record
// produced while it is open, a body of separately padded chunks, bad base64 (invalid_argument)
// and a message over the size limit (refused as binary gRPC-Web refuses it). Outside probe P4.
import assert from "node:assert/strict";
import http2 from "node:http2";
import { after, before, describe, test } from "node:test";
import {
  create,
  type DescMessage,
  fromBinary,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { clientReadMaxBytes, defaultApiLimits } from "../../../src/api/limits.js";
import {
  ConsumeRequestSchema,
  ConsumeResponseSchema,
  ProduceRequestSchema,
  ProduceResponseSchema,
  StartPosition,
} from "../../../src/gen/tidelog/v1/log_service_pb.js";
import { abortableFetch } from "../../harness/abortable-fetch.js";
import {
  eventually,
  type InProcessNode,
  startInProcessNode,
} from "../../harness/in-process-node.js";

const limits = {
  ...defaultApiLimits,
  recordBytesMax: 64 * 1024,
  requestBytesMax: 64 * 1024,
  requestRecordsMax: 100,
};
const trailerFlag = 0x80;
const textContentType = "application/grpc-web-text";

/** One gRPC-Web frame: flag, big-endian length, bytes. */
function frame(bytes: Uint8Array, flag = 0): Buffer {
  const prefix = Buffer.alloc(5);
  prefix[0] = flag;
  prefix.writeUInt32BE(bytes.length, 1);
  return Buffer.concat([prefix, bytes]);
}

function request<Desc extends DescMessage>(schema: Desc, init: Record<string, unknown>): Buffer {
  return frame(toBinary(schema, create(schema, init as never)));
}

interface Frame {
  flag: number;
  data: Buffer;
}

/**
 * The frames of a gRPC-Web text answer as its chunks arrive: text is decoded in whole groups of
 * 4 characters (padding may end any group: the server encodes each chunk on its own).
 */
async function* textFrames(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Frame> {
  let text = "";
  let bytes = Buffer.alloc(0);
  for await (const chunk of chunks) {
    text += Buffer.from(chunk).toString("latin1");
    const whole = text.length - (text.length % 4);
    const groups: Buffer[] = [bytes];
    for (let at = 0; at < whole; at += 4) {
      const group = text.slice(at, at + 4);
      assert.match(group, /^[A-Za-z0-9+/]{2}([A-Za-z0-9+/]{2}|[A-Za-z0-9+/]=|==)$/);
      groups.push(Buffer.from(group, "base64"));
    }
    text = text.slice(whole);
    bytes = Buffer.concat(groups);
    while (bytes.length >= 5 && bytes.length >= 5 + bytes.readUInt32BE(1)) {
      const end = 5 + bytes.readUInt32BE(1);
      yield { flag: bytes[0]!, data: bytes.subarray(5, end) };
      bytes = bytes.subarray(end);
    }
  }
  assert.equal(text, "", "the answer ends inside a group of 4 characters");
  assert.equal(bytes.length, 0, "the answer ends inside a frame");
}

/** The frames of a binary gRPC-Web answer. */
async function* binaryFrames(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Frame> {
  const all = [];
  for await (const chunk of chunks) all.push(Buffer.from(chunk));
  let bytes = Buffer.concat(all);
  while (bytes.length >= 5) {
    const end = 5 + bytes.readUInt32BE(1);
    yield { flag: bytes[0]!, data: bytes.subarray(5, end) };
    bytes = bytes.subarray(end);
  }
}

function parseTrailer(data: Buffer): Record<string, string> {
  const trailer: Record<string, string> = {};
  for (const line of data.toString("latin1").split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon > 0)
      trailer[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return trailer;
}

interface Answer {
  httpStatus: number;
  contentType: string | undefined;
  messages: Buffer[];
  trailer: Record<string, string>;
}

async function collect(
  httpStatus: number,
  contentType: string | undefined,
  frames: AsyncIterable<Frame>,
): Promise<Answer> {
  const messages: Buffer[] = [];
  let trailer: Record<string, string> | undefined;
  for await (const { flag, data } of frames) {
    assert.equal(trailer, undefined, "a frame after the trailer");
    if (flag & trailerFlag) trailer = parseTrailer(data);
    else messages.push(Buffer.from(data));
  }
  assert.ok(trailer !== undefined, "no trailer frame");
  return { httpStatus, contentType, messages, trailer };
}

type Transport = "h1" | "h2";

interface Call {
  httpStatus: number;
  contentType: string | undefined;
  body: AsyncIterable<Uint8Array>;
  /** Ends the call from the client's side. */
  cancel(): void;
}

describe("gRPC-Web text (application/grpc-web-text)", () => {
  let server: InProcessNode;
  let session: http2.ClientHttp2Session;

  before(async () => {
    server = await startInProcessNode({ limits });
    session = http2.connect(server.baseUrl);
    session.on("error", () => undefined);
  });

  after(async () => {
    session?.close();
    await server?.close();
  });

  /** Starts a call; `body` is sent in the given pieces (h2: each its own DATA write). */
  async function start(
    transport: Transport,
    method: string,
    body: readonly (string | Buffer)[],
    contentType = textContentType,
    extraHeaders: Record<string, string> = {},
  ): Promise<Call> {
    const path = `/tidelog.v1.LogService/${method}`;
    const headers = { "content-type": contentType, "x-grpc-web": "1", accept: contentType };
    if (transport === "h1") {
      const controller = new AbortController();
      const response = await abortableFetch(`${server.baseUrl}${path}`, {
        method: "POST",
        headers: { ...headers, ...extraHeaders },
        body: Buffer.concat(body.map((piece) => Buffer.from(piece))),
        signal: controller.signal,
      });
      assert.ok(response.body !== null);
      return {
        httpStatus: response.status,
        contentType: response.headers.get("content-type") ?? undefined,
        body: response.body,
        cancel: () => controller.abort(),
      };
    }
    const stream = session.request({ ":method": "POST", ":path": path, ...headers });
    stream.on("error", () => undefined);
    for (const piece of body) stream.write(piece);
    stream.end();
    const responseHeaders = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
      stream.once("response", resolve);
      stream.once("close", () => reject(new Error(`stream closed (${stream.rstCode})`)));
    });
    return {
      httpStatus: Number(responseHeaders[":status"]),
      contentType: responseHeaders["content-type"],
      body: stream,
      cancel: () => stream.close(http2.constants.NGHTTP2_CANCEL),
    };
  }

  async function call(
    transport: Transport,
    method: string,
    body: readonly (string | Buffer)[],
    contentType = textContentType,
    extraHeaders: Record<string, string> = {},
  ): Promise<Answer> {
    const started = await start(transport, method, body, contentType, extraHeaders);
    const frames = contentType.startsWith(textContentType) ? textFrames : binaryFrames;
    return collect(started.httpStatus, started.contentType, frames(started.body));
  }

  function assertOk(answer: Answer): void {
    assert.equal(answer.httpStatus, 200);
    assert.equal(answer.contentType, "application/grpc-web-text+proto");
    assert.equal(answer.trailer["grpc-status"], "0", JSON.stringify(answer.trailer));
  }

  async function produce(transport: Transport, topic: string, values: string[]): Promise<bigint[]> {
    const body = request(ProduceRequestSchema, {
      topic,
      records: values.map((value) => ({ value: Buffer.from(value) })),
    });
    const answer = await call(transport, "Produce", [body.toString("base64")]);
    assertOk(answer);
    assert.equal(answer.messages.length, 1);
    return fromBinary(ProduceResponseSchema, answer.messages[0]!).offsets;
  }

  const values = (message: MessageShape<typeof ConsumeResponseSchema>) =>
    message.records.map((record) => Buffer.from(record.value).toString());

  for (const transport of ["h1", "h2"] as const) {
    const topic = `text-${transport}`;

    test(`Produce, then Consume (${transport})`, async () => {
      assert.deepEqual(await produce(transport, topic, ["a", "b"]), [0n, 1n]);
      const body = request(ConsumeRequestSchema, { topic, offset: 0n });
      // The media type with its +proto suffix this time.
      const answer = await call(
        transport,
        "Consume",
        [body.toString("base64")],
        "application/grpc-web-text+proto",
      );
      assertOk(answer);
      assert.equal(answer.messages.length, 1);
      const consumed = fromBinary(ConsumeResponseSchema, answer.messages[0]!);
      assert.deepEqual(values(consumed), ["a", "b"]);
      assert.equal(consumed.nextOffset, 2n);
    });

    test(`ConsumeStream delivers a record produced while it is open (${transport})`, async () => {
      const streamTopic = `${topic}-stream`;
      await produce(transport, streamTopic, ["a", "b"]);
      const body = request(ConsumeRequestSchema, {
        topic: streamTopic,
        start: StartPosition.EARLIEST,
      });
      const stream = await start(transport, "ConsumeStream", [body.toString("base64")]);
      assert.equal(stream.httpStatus, 200);
      assert.equal(stream.contentType, "application/grpc-web-text+proto");
      const frames = textFrames(stream.body);
      const received: string[] = [];
      const next = async () => {
        const result = await frames.next();
        assert.ok(result.done !== true, "the stream ended");
        assert.equal(result.value.flag, 0, `not a message: ${result.value.data.toString()}`);
        received.push(...values(fromBinary(ConsumeResponseSchema, result.value.data)));
      };
      while (received.length < 2) await next();
      assert.deepEqual(received, ["a", "b"]);
      assert.equal(server.node.app.streams.active, 1);
      // Produced after the backlog arrived: it can only come through the open stream.
      await produce(transport, streamTopic, ["c"]);
      while (received.length < 3) await next();
      assert.deepEqual(received, ["a", "b", "c"]);
      stream.cancel();
      await frames.return(undefined).catch(() => undefined);
      await eventually(
        () => server.node.app.streams.active === 0,
        "the cancelled stream is released",
      );
    });

    test(`a body of separately padded base64 chunks (${transport})`, async () => {
      const bytes = request(ProduceRequestSchema, {
        topic,
        records: [{ value: Buffer.from("chunked, padded") }],
      });
      // Pieces of 1, 2, 4 and 7 bytes: each ends in "==", "=" or none, wherever it falls.
      const pieces: string[] = [];
      for (let at = 0, turn = 0; at < bytes.length; turn++) {
        const size = [1, 2, 4, 7][turn % 4]!;
        pieces.push(bytes.subarray(at, at + size).toString("base64"));
        at += size;
      }
      assert.ok(pieces.join("").slice(0, -4).includes("="), "padding inside the body");
      // Sent as pieces cut across groups too, so that h2 delivers groups in halves.
      const text = pieces.join("");
      const cut = [text.slice(0, 5), text.slice(5, 11), text.slice(11)];
      const answer = await call(transport, "Produce", cut);
      assertOk(answer);
      const [offset] = fromBinary(ProduceResponseSchema, answer.messages[0]!).offsets;
      const consumed = await call(transport, "Consume", [
        request(ConsumeRequestSchema, { topic, offset }).toString("base64"),
      ]);
      assertOk(consumed);
      const records = values(fromBinary(ConsumeResponseSchema, consumed.messages[0]!));
      assert.deepEqual(records.slice(0, 1), ["chunked, padded"]);
    });

    test(`invalid base64 is invalid_argument with a message (${transport})`, async () => {
      const valid = request(ProduceRequestSchema, {
        topic,
        records: [{ value: Buffer.from("x") }],
      }).toString("base64");
      const bodies = [
        ["!!!!", /invalid base64 character "!" at character 0/],
        [`${valid}*`, /invalid base64 character "\*"/],
        [valid.slice(0, -1), /ends inside a group of 4 characters/],
        ["QUJD=AAA", /misplaced base64 padding/],
        [Buffer.from(valid, "base64").toString("latin1"), /invalid base64 character/],
      ] as const;
      for (const [body, message] of bodies) {
        const answer = await call(transport, "Produce", [Buffer.from(body, "latin1")]);
        assert.equal(answer.httpStatus, 200);
        assert.equal(answer.contentType, "application/grpc-web-text+proto");
        assert.equal(answer.trailer["grpc-status"], String(Code.InvalidArgument), body);
        const text = decodeURIComponent(answer.trailer["grpc-message"] ?? "");
        assert.match(text, /^gRPC-Web text request body: /);
        assert.match(text, message);
        assert.equal(answer.messages.length, 0);
      }
      // The node still serves.
      await produce(transport, topic, ["after bad base64"]);
    });

    test(`an oversize message is refused as binary gRPC-Web refuses it (${transport})`, async () => {
      const readMax = clientReadMaxBytes(limits);
      // One byte over the read limit, and a length prefix claiming 4 GiB with no body behind it.
      const over = frame(Buffer.alloc(readMax + 1, 0x61));
      const claimed = frame(Buffer.alloc(0));
      claimed.writeUInt32BE(0xffffffff, 1);
      // Over HTTP/1.1, a connection whose request was answered before its body was read is not
      // reused: the server stops reading it, binary gRPC-Web alike (found here, left as it is).
      const close: Record<string, string> = transport === "h1" ? { connection: "close" } : {};
      for (const bytes of [over, claimed]) {
        const binary = await call(
          transport,
          "Produce",
          [bytes],
          "application/grpc-web+proto",
          close,
        );
        const text = await call(
          transport,
          "Produce",
          [bytes.toString("base64")],
          textContentType,
          close,
        );
        assert.equal(binary.trailer["grpc-status"], String(Code.ResourceExhausted));
        assert.equal(text.httpStatus, 200);
        assert.equal(text.contentType, "application/grpc-web-text+proto");
        assert.deepEqual(text.trailer, binary.trailer);
        assert.match(decodeURIComponent(text.trailer["grpc-message"] ?? ""), /readMaxBytes/);
      }
      await produce(transport, topic, ["after oversize"]);
    });
  }
});

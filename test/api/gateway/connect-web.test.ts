// The Connect gateway seen through @connectrpc/connect-web over Node's global fetch (HTTP/1.1):
// the path a browser dashboard takes. Connect (JSON, binary, GET) and gRPC-Web, including
// ConsumeStream server streaming with a record produced after the stream started, and an
// aborted stream that the server releases.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Code, ConnectError } from "@connectrpc/connect";
import { findOffsetOutOfRange } from "../../../src/api/errors/index.js";
import { LogService, StartPosition } from "../../../src/gen/tidelog/v1/log_service_pb.js";
import { TopicService } from "../../../src/gen/tidelog/v1/topic_service_pb.js";
import { connectClient, createWebTransport, webTransportKinds } from "../../harness/clients.js";
import {
  eventually,
  type InProcessNode,
  startInProcessNode,
} from "../../harness/in-process-node.js";

setFlagsFromString("--expose-gc");
const collectGarbage = runInNewContext("gc") as () => void;

const text = (value: Uint8Array) => Buffer.from(value).toString();
const bytes = (value: string) => new Uint8Array(Buffer.from(value));

describe("LogService over @connectrpc/connect-web (fetch, HTTP/1.1)", () => {
  let server: InProcessNode;

  before(async () => {
    server = await startInProcessNode();
  });

  after(async () => {
    await server?.close();
  });

  const streamsActive = () => server.node.app.streams.active;

  for (const kind of webTransportKinds) {
    describe(kind, () => {
      const topic = `web-${kind}`;
      const log = () => connectClient(LogService, createWebTransport(kind, server.baseUrl));

      test("Produce and Consume", async () => {
        const produced = await log().produce({
          topic,
          records: [{ value: bytes("a"), headers: { h: "1" } }, { value: bytes("b") }],
        });
        assert.deepEqual(produced.offsets, [0n, 1n]);
        const consumed = await log().consume({ topic, offset: 0n });
        assert.deepEqual(
          consumed.records.map((record) => text(record.value)),
          ["a", "b"],
        );
        assert.deepEqual(consumed.records[0]!.headers, { h: "1" });
        assert.equal(consumed.nextOffset, 2n);
        assert.equal(consumed.highWatermark, 2n);
      });

      test("Consume past the end: out_of_range with the typed detail", async () => {
        const error = await log()
          .consume({ topic, offset: 10n })
          .then(
            () => assert.fail("succeeded"),
            (reason: unknown) => reason,
          );
        assert.ok(error instanceof ConnectError);
        assert.equal(error.code, Code.OutOfRange);
        assert.equal(findOffsetOutOfRange(error)?.next, 2n);
      });

      test("ConsumeStream sends the backlog, then a record produced after it started", async () => {
        const controller = new AbortController();
        const stream = log().consumeStream(
          { topic, start: StartPosition.EARLIEST },
          { signal: controller.signal },
        );
        const received: string[] = [];
        const reading = (async () => {
          try {
            for await (const response of stream) {
              for (const record of response.records) received.push(text(record.value));
            }
          } catch (error) {
            if (!(error instanceof ConnectError && error.code === Code.Canceled)) throw error;
          }
        })();
        await eventually(() => received.length === 2, "the backlog arrives");
        assert.equal(streamsActive(), 1);
        await log().produce({ topic, records: [{ value: bytes("c") }] });
        await eventually(() => received.length === 3, "the new record arrives");
        assert.deepEqual(received, ["a", "b", "c"]);

        // A collection here once left undici's abort unconnected (see abortable-fetch.ts); force
        // one so that every run takes that path.
        collectGarbage();
        controller.abort();
        await reading;
        await eventually(() => streamsActive() === 0, "the aborted stream is released");
      });
    });
  }

  test("TopicService over connect-web: create, get, list, delete", async () => {
    const topics = connectClient(TopicService, createWebTransport("connect-json", server.baseUrl));
    const created = await topics.createTopic({ name: "web-topic" });
    assert.equal(created.topic?.name, "web-topic");
    assert.equal((await topics.getTopic({ name: "web-topic" })).topic?.nextOffset, 0n);
    const listed = await topics.listTopics({});
    assert.ok(listed.topics.some((topic) => topic.name === "web-topic"));
    await topics.deleteTopic({ name: "web-topic" });
    await assert.rejects(topics.getTopic({ name: "web-topic" }), (error: ConnectError) => {
      assert.equal(error.code, Code.NotFound);
      return true;
    });
  });

  test("CORS: a browser preflight from another origin is allowed", async () => {
    const response = await fetch(`${server.baseUrl}/tidelog.v1.LogService/Produce`, {
      method: "OPTIONS",
      headers: {
        origin: "http://dashboard.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type,connect-protocol-version",
      },
    });
    assert.ok(response.status === 204 || response.status === 200, `${response.status}`);
    assert.equal(response.headers.get("access-control-allow-origin"), "http://dashboard.example");
    assert.match(response.headers.get("access-control-allow-methods") ?? "", /POST/);
  });
});

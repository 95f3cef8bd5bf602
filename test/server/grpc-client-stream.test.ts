// The client-streaming gRPC method served on the bare HTTP/2 stream (src/server/grpc-client-
// stream.ts), first alone behind a OnePortServer and a real node:http2 client, then in a node:
// RaftService.StepStream from a peer takes that path, other protocols reach Connect, and both
// refuse a foreign cluster the same way.
import assert from "node:assert/strict";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import {
  compressionGzip,
  createConnectTransport,
  createGrpcTransport,
} from "@connectrpc/connect-node";
import { TidelogError } from "../../src/errors.js";
import { RaftService, StepRequestSchema } from "../../src/gen/tidelog/raft/v1/raft_pb.js";
import { stepStreamPath } from "../../src/raft/driver/step-stream.js";
import { encodeStepFrame } from "../../src/raft/driver/step-wire.js";
import { type ClientStreamMethod, serveClientStream } from "../../src/server/grpc-client-stream.js";
import { defaultOnePortServerOptions, OnePortServer } from "../../src/server/one-port-server.js";
import { type InProcessNode, startInProcessNode } from "../harness/in-process-node.js";
import { grpcCall, grpcFrame, rawCallThenReset } from "../harness/raw-grpc.js";

describe("a client stream on the bare HTTP/2 stream", () => {
  let server: OnePortServer;
  let port: number;
  const shutdown = new AbortController();
  let received: string[] = [];
  let handling = 0;
  let overlapped = false;

  const method: ClientStreamMethod = {
    messageBytesMax: 1000,
    onMessage(message) {
      const text = message.toString();
      if (text === "refuse") throw new TidelogError("failed_precondition", "refused here");
      if (!text.startsWith("slow")) {
        received.push(text);
        return undefined;
      }
      handling++;
      if (handling > 1) overlapped = true;
      return new Promise<void>((resolve) =>
        setTimeout(() => {
          handling--;
          received.push(text);
          resolve();
        }, 5),
      );
    },
  };

  before(async () => {
    server = new OnePortServer(
      (_request, response) => {
        response.statusCode = 404;
        response.end("not routed");
      },
      {
        ...defaultOnePortServerOptions,
        sniffTimeoutMs: 1_000,
        headersTimeoutMs: 5_000,
        requestTimeoutMs: 5_000,
        keepAliveTimeoutMs: 5_000,
        http2StreamsPerSessionMax: 100,
        streamingRequestPaths: new Set(["/test.Svc/Stream"]),
      },
    );
    server.streamRouter = (stream, headers) => {
      if (headers[":path"] !== "/test.Svc/Stream") return false;
      serveClientStream(stream, headers, method, shutdown.signal, () => undefined);
      return true;
    };
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  test("messages cut anywhere across DATA frames arrive whole and in order", async () => {
    received = [];
    const messages = Array.from({ length: 40 }, (_, i) => `message ${i} ${"x".repeat(i * 7)}`);
    const bytes = Buffer.concat(messages.map((m) => grpcFrame(Buffer.from(m))));
    // Cut into pieces of 1 to 13 bytes: prefixes and payloads split at every kind of boundary.
    const chunks: Buffer[] = [];
    for (let at = 0, size = 1; at < bytes.length; at += size, size = (size % 13) + 1)
      chunks.push(bytes.subarray(at, at + size));
    const answer = await grpcCall(port, "/test.Svc/Stream", chunks);
    assert.equal(answer.grpcStatus, "0");
    assert.deepEqual(answer.body, Buffer.alloc(5), "one empty response message");
    assert.deepEqual(received, messages);
  });

  test("a pending handler holds back the next message", async () => {
    received = [];
    overlapped = false;
    const messages = ["slow 1", "fast 2", "slow 3", "slow 4", "fast 5"];
    const answer = await grpcCall(port, "/test.Svc/Stream", [
      Buffer.concat(messages.map((m) => grpcFrame(Buffer.from(m)))),
    ]);
    assert.equal(answer.grpcStatus, "0");
    assert.deepEqual(received, messages);
    assert.equal(overlapped, false);
  });

  test("bad frames and refusals end the call with their code, while the client still sends", async () => {
    const cases: [string, Buffer[], Code][] = [
      ["oversized", [Buffer.from([0, 0, 0, 0x10, 0])], Code.ResourceExhausted],
      ["compressed", [grpcFrame(Buffer.from("hi"), 1)], Code.Internal],
      ["refused", [grpcFrame(Buffer.from("refuse"))], Code.FailedPrecondition],
    ];
    for (const [name, chunks, code] of cases) {
      // The stream stays open: the server must end it by itself.
      const answer = await grpcCall(port, "/test.Svc/Stream", chunks, { keepOpen: true });
      assert.equal(answer.grpcStatus, String(code), `${name}: ${answer.grpcMessage}`);
    }
    const truncated = await grpcCall(port, "/test.Svc/Stream", [
      grpcFrame(Buffer.from("whole")).subarray(0, 7),
    ]);
    assert.equal(truncated.grpcStatus, String(Code.InvalidArgument));
    assert.match(truncated.grpcMessage, /incomplete envelope/);
  });

  test("a client's RST_STREAM(NO_ERROR) mid-call leaves the server serving", async () => {
    // Raw frames: Node's own client never resets without ending its side first. Such a reset
    // closes the server's stream without destroying it, and Node still emits 'end'.
    for (const data of [
      grpcFrame(Buffer.from("whole")),
      grpcFrame(Buffer.from("partial")).subarray(0, 8),
    ]) {
      await rawCallThenReset(port, "/test.Svc/Stream", data);
    }
    received = [];
    const answer = await grpcCall(port, "/test.Svc/Stream", [grpcFrame(Buffer.from("after"))]);
    assert.equal(answer.grpcStatus, "0");
    assert.deepEqual(received, ["after"]);
  });

  test("other paths reach the request handler", async () => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const status = await new Promise<number | undefined>((resolve) => {
      const stream = session.request({ ":path": "/elsewhere" });
      stream.on("response", (headers) => resolve(headers[":status"]));
      stream.end();
    });
    session.close();
    assert.equal(status, 404);
  });

  test("shutdown ends open streams with unavailable", async () => {
    const pending = grpcCall(port, "/test.Svc/Stream", [grpcFrame(Buffer.from("before"))], {
      keepOpen: true,
    });
    setTimeout(() => shutdown.abort(), 100);
    const answer = await pending;
    assert.equal(answer.grpcStatus, String(Code.Unavailable));
  });
});

describe("RaftService.StepStream in a node", () => {
  let node: InProcessNode;
  before(async () => {
    node = await startInProcessNode();
  });
  after(async () => {
    await node.close();
  });

  const foreign = {
    clusterId: "some-other-cluster",
    senderAddress: "",
    messages: [],
    refusingEntries: false,
  };

  test("a peer's plain gRPC stream is served and refuses a foreign cluster", async () => {
    const port = Number(node.address.split(":")[1]);
    const answer = await grpcCall(port, stepStreamPath, [encodeStepFrame(foreign)]);
    assert.equal(answer.grpcStatus, String(Code.FailedPrecondition));
    assert.match(answer.grpcMessage, /some-other-cluster/);
  });

  test("the Connect protocol and compressed gRPC reach the Connect route, which refuses the same way", async () => {
    const transports = [
      createConnectTransport({ baseUrl: node.baseUrl, httpVersion: "1.1" }),
      createGrpcTransport({
        baseUrl: node.baseUrl,
        sendCompression: compressionGzip,
        compressMinBytes: 0,
      }),
    ];
    for (const transport of transports) {
      const client = createClient(RaftService, transport);
      await assert.rejects(
        client.stepStream(
          (async function* () {
            yield create(StepRequestSchema, { clusterId: foreign.clusterId });
          })(),
        ),
        (error: unknown) =>
          error instanceof ConnectError &&
          error.code === Code.FailedPrecondition &&
          /some-other-cluster/.test(error.rawMessage),
      );
    }
  });
});

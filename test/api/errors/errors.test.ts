// Error details round-trip through real clients over a real h2c server: every Connect transport
// (Connect, gRPC, gRPC-Web), and grpc-js reading the standard grpc-status-details-bin trailer.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import {
  findNotLeader,
  findOffsetOutOfRange,
  notLeader,
  offsetOutOfRange,
} from "../../../src/api/errors/index.js";
import { StatusSchema } from "../../../src/gen/google/rpc/status_pb.js";
import { OffsetOutOfRangeSchema } from "../../../src/gen/tidelog/v1/errors_pb.js";
import {
  ConsumeRequestSchema,
  ConsumeResponseSchema,
  LogService,
} from "../../../src/gen/tidelog/v1/log_service_pb.js";
import { type H2cServer, startH2cServer } from "../reflection/h2c-server.js";

describe("error details through real clients", () => {
  let server: H2cServer;

  before(async () => {
    server = await startH2cServer((router) =>
      router.service(LogService, {
        consume(request) {
          throw offsetOutOfRange({
            topic: request.topic,
            requested: request.offset,
            lowest: 10n,
            next: 20n,
          });
        },
        produce() {
          throw notLeader({ leaderId: "node-2", leaderAddress: "10.0.0.2:7420" });
        },
      }),
    );
  });

  after(() => server.close());

  const transports: [string, () => Transport][] = [
    ["connect", () => createConnectTransport({ baseUrl: server.url, httpVersion: "2" })],
    ["grpc", () => createGrpcTransport({ baseUrl: server.url })],
    ["grpc-web", () => createGrpcWebTransport({ baseUrl: server.url, httpVersion: "2" })],
    [
      "connect (HTTP GET)",
      () => createConnectTransport({ baseUrl: server.url, httpVersion: "2", useHttpGet: true }),
    ],
  ];
  for (const [name, transport] of transports) {
    test(`OffsetOutOfRange and NotLeader decode on the client (${name})`, async () => {
      const client = createClient(LogService, transport());
      const consumeError = await client.consume({ topic: "t", offset: 25n }).then(
        () => assert.fail("consume should fail"),
        (error: unknown) => ConnectError.from(error),
      );
      assert.equal(consumeError.code, Code.OutOfRange);
      assert.match(consumeError.rawMessage, /offset 25 of topic "t" is out of range/);
      const [detail] = consumeError.findDetails(OffsetOutOfRangeSchema);
      assert.deepEqual(
        {
          topic: detail?.topic,
          requested: detail?.requested,
          lowest: detail?.lowest,
          next: detail?.next,
        },
        { topic: "t", requested: 25n, lowest: 10n, next: 20n },
      );
      assert.equal(findOffsetOutOfRange(consumeError)?.lowest, 10n);
      assert.equal(findNotLeader(consumeError), undefined);

      const produceError = await client.produce({ records: [] }).then(
        () => assert.fail("produce should fail"),
        (error: unknown) => ConnectError.from(error),
      );
      assert.equal(produceError.code, Code.Unavailable);
      const leader = findNotLeader(produceError);
      assert.equal(leader?.leaderId, "node-2");
      assert.equal(leader?.leaderAddress, "10.0.0.2:7420");
    });
  }

  test("grpc-js sees the detail in the standard grpc-status-details-bin trailer", async () => {
    const client = new grpc.Client(server.address, grpc.credentials.createInsecure());
    const error = await new Promise<grpc.ServiceError>((resolve) => {
      client.makeUnaryRequest(
        "/tidelog.v1.LogService/Consume",
        (request: { offset: bigint }) =>
          Buffer.from(toBinary(ConsumeRequestSchema, create(ConsumeRequestSchema, request))),
        (bytes: Buffer) => fromBinary(ConsumeResponseSchema, bytes),
        { offset: 3n },
        (serviceError) => resolve(serviceError!),
      );
    });
    client.close();
    assert.equal(error.code, grpc.status.OUT_OF_RANGE);
    const [statusBytes] = error.metadata.get("grpc-status-details-bin");
    assert.ok(statusBytes instanceof Buffer);
    const status = fromBinary(StatusSchema, statusBytes);
    assert.equal(status.code, grpc.status.OUT_OF_RANGE);
    const [any] = status.details;
    assert.equal(any?.typeUrl, "type.googleapis.com/tidelog.v1.OffsetOutOfRange");
    const detail = anyUnpack(any!, OffsetOutOfRangeSchema);
    assert.equal(detail?.requested, 3n);
    assert.equal(detail?.next, 20n);
  });

  test("offsetOutOfRange refuses an offset that is in range (a programmer error)", () => {
    assert.throws(() => offsetOutOfRange({ topic: "t", requested: 10n, lowest: 10n, next: 20n }));
    assert.throws(() => offsetOutOfRange({ topic: "t", requested: 19n, lowest: 10n, next: 20n }));
    assert.match(
      offsetOutOfRange({ topic: "t", requested: 20n, lowest: 10n, next: 20n }).message,
      /at the next offset 20, not written yet/,
    );
    assert.throws(() => offsetOutOfRange({ topic: "t", requested: 0n, lowest: 5n, next: 4n }));
    assert.match(
      offsetOutOfRange({ topic: "t", requested: 9n, lowest: 10n, next: 20n }).message,
      /below the lowest retained offset 10/,
    );
  });

  test("find helpers ignore what is not a ConnectError", () => {
    assert.equal(findOffsetOutOfRange(new Error("x")), undefined);
    assert.equal(findNotLeader("x"), undefined);
    assert.equal(findNotLeader(new ConnectError("x", Code.Unavailable)), undefined);
  });
});

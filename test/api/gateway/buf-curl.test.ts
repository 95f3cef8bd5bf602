// The Connect gateway of a real `tidelog serve` process, spoken to by `buf curl`: the Connect,
// gRPC-Web and gRPC protocols, on HTTP/1.1 and on h2c (prior knowledge). buf curl is given no
// schema: it resolves every method through the server's reflection service.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { bufCurl, type CommandResult } from "../../harness/clients.js";
import { NodeProcess } from "../../harness/node-process.js";

interface Variant {
  name: string;
  flags: string[];
}

const variants: Variant[] = [
  { name: "connect, HTTP/1.1", flags: ["--protocol", "connect"] },
  { name: "connect, h2c", flags: ["--protocol", "connect", "--http2-prior-knowledge"] },
  { name: "grpcweb, HTTP/1.1", flags: ["--protocol", "grpcweb"] },
  { name: "grpcweb, h2c", flags: ["--protocol", "grpcweb", "--http2-prior-knowledge"] },
  { name: "grpc, h2c", flags: ["--protocol", "grpc", "--http2-prior-knowledge"] },
];

function parsed(result: CommandResult): unknown {
  assert.equal(result.code, 0, `buf curl failed (${result.code}): ${result.stderr}`);
  return JSON.parse(result.stdout);
}

describe("buf curl against a tidelog process (schema by reflection)", () => {
  let node: NodeProcess;

  before(async () => {
    node = await NodeProcess.start({ args: ["--bootstrap"] });
  });

  after(async () => {
    await node?.destroy();
  });

  for (const [index, variant] of variants.entries()) {
    test(`Produce then Consume (${variant.name})`, async () => {
      const topic = `buf-curl-${index}`;
      const produced = parsed(
        await bufCurl([
          ...variant.flags,
          "-d",
          JSON.stringify({
            topic,
            records: [
              { value: Buffer.from("hello").toString("base64"), headers: { via: variant.name } },
              { value: Buffer.from("world").toString("base64"), key: "a2V5" },
            ],
          }),
          `${node.baseUrl}/tidelog.v1.LogService/Produce`,
        ]),
      );
      assert.deepEqual(produced, { offsets: ["0", "1"] });

      const consumed = parsed(
        await bufCurl([
          ...variant.flags,
          "-d",
          JSON.stringify({ topic, offset: "0" }),
          `${node.baseUrl}/tidelog.v1.LogService/Consume`,
        ]),
      ) as {
        records: { value: string; key?: string; headers?: object; offset?: string }[];
        nextOffset: string;
        highWatermark: string;
      };
      assert.equal(consumed.records.length, 2);
      assert.equal(Buffer.from(consumed.records[0]!.value, "base64").toString(), "hello");
      assert.deepEqual(consumed.records[0]!.headers, { via: variant.name });
      assert.equal(consumed.records[0]!.offset, undefined, "offset 0 is omitted in proto3 JSON");
      assert.equal(Buffer.from(consumed.records[1]!.value, "base64").toString(), "world");
      assert.equal(consumed.records[1]!.key, "a2V5");
      assert.equal(consumed.records[1]!.offset, "1");
      assert.equal(consumed.nextOffset, "2");
      assert.equal(consumed.highWatermark, "2");
    });

    test(`Consume past the end reports out_of_range with its detail (${variant.name})`, async () => {
      const result = await bufCurl([
        ...variant.flags,
        "-d",
        JSON.stringify({ topic: `buf-curl-${index}`, offset: "50" }),
        `${node.baseUrl}/tidelog.v1.LogService/Consume`,
      ]);
      assert.notEqual(result.code, 0);
      const error = JSON.parse(result.stderr) as {
        code: string;
        details: { type: string }[];
      };
      assert.equal(error.code, "out_of_range");
      assert.deepEqual(
        error.details.map((detail) => detail.type),
        ["tidelog.v1.OffsetOutOfRange"],
      );
    });
  }

  test("--list-methods lists every public method through reflection", async () => {
    for (const variant of [variants[0]!, variants[4]!]) {
      const result = await bufCurl([...variant.flags, "--list-methods", node.baseUrl]);
      assert.equal(result.code, 0, result.stderr);
      const methods = result.stdout.trim().split("\n");
      for (const method of [
        "tidelog.v1.LogService/Produce",
        "tidelog.v1.LogService/ProduceStream",
        "tidelog.v1.LogService/Consume",
        "tidelog.v1.LogService/ConsumeStream",
        "tidelog.v1.TopicService/CreateTopic",
        "tidelog.v1.ClusterService/GetServers",
        "grpc.health.v1.Health/Check",
      ]) {
        assert.ok(methods.includes(method), `${method} in ${variant.name}: ${result.stdout}`);
      }
    }
  });

  test("an unknown method is reported by every protocol, and the node keeps serving", async () => {
    for (const variant of variants) {
      const result = await bufCurl([
        ...variant.flags,
        "-d",
        "{}",
        `${node.baseUrl}/tidelog.v1.LogService/NoSuchMethod`,
      ]);
      assert.notEqual(result.code, 0, variant.name);
      assert.match(result.stderr, /NoSuchMethod/, variant.name);
    }
    assert.ok(node.running, node.describe());
  });
});

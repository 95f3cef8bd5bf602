// A record header is a map entry like any other, whatever its name: "__proto__" (the name of
// JavaScript's prototype accessor, which an assignment to a plain object does not store) is kept
// and served back over every protocol. It used to be acknowledged and silently dropped.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createClient } from "@connectrpc/connect";
import { LogService } from "../../../src/gen/tidelog/v1/log_service_pb.js";
import { createNodeTransport, type NodeTransportKind } from "../../harness/clients.js";
import { type InProcessNode, startInProcessNode } from "../../harness/in-process-node.js";

const kinds: NodeTransportKind[] = ["grpc", "connect-binary-h2", "connect-json-h1"];

describe('a header named "__proto__"', () => {
  let server: InProcessNode;

  before(async () => {
    server = await startInProcessNode();
  });

  after(async () => {
    await server?.close();
  });

  for (const kind of kinds) {
    test(`is stored and served back (${kind})`, async () => {
      const transport = createNodeTransport(kind, server.baseUrl);
      try {
        const client = createClient(LogService, transport.transport);
        // Parsed, not written as a literal: in a literal "__proto__" sets the prototype.
        const headers = JSON.parse('{"__proto__":"p","normal":"y"}') as Record<string, string>;
        const topic = `proto-${kind}`;
        const produced = await client.produce({
          topic,
          records: [{ value: Buffer.from("v"), headers }],
        });
        assert.deepEqual(produced.offsets, [0n]);
        for (const reader of kinds) {
          const other = createNodeTransport(reader, server.baseUrl);
          try {
            const consumed = await createClient(LogService, other.transport).consume({
              topic,
              offset: 0n,
            });
            const served = consumed.records[0]!.headers;
            assert.ok(Object.hasOwn(served, "__proto__"), `${kind} → ${reader}`);
            assert.equal(Object.getOwnPropertyDescriptor(served, "__proto__")?.value, "p");
            assert.deepEqual(Object.keys(served).sort(), ["__proto__", "normal"]);
          } finally {
            other.close();
          }
        }
      } finally {
        transport.close();
      }
    });
  }
});

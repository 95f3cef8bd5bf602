// A node removed with Leave (and still running) learns nothing more: its ConsumeStreams would wait
// for ever and its reads answer a state frozen at its removal; a write through it would be
// forwarded and acknowledged at offsets it never shows. Once it applied its removal, its open
// streams (plain gRPC, Connect binary, Connect JSON: the three stream paths) end with
// failed_precondition "removed", and every client call on it answers that too.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { LogService } from "../../src/gen/tidelog/v1/log_service_pb.js";
import {
  type ClosableTransport,
  createNodeTransport,
  type NodeTransportKind,
} from "../harness/clients.js";
import { Cluster, waitUntil } from "../harness/cluster.js";

const topic = "frozen";
const kinds: NodeTransportKind[] = ["grpc", "connect-binary-h2", "connect-json-h1"];

interface StreamState {
  kind: NodeTransportKind;
  records: number;
  ended: ConnectError | "ended without error" | undefined;
}

test("a removed node ends its ConsumeStreams and refuses client calls with failed_precondition", async () => {
  await Cluster.run({ size: 3 }, async (cluster) => {
    const leader = await cluster.waitForLeader();
    const records = Array.from({ length: 10 }, (_, i) => ({ value: Buffer.from(`before-${i}`) }));
    await cluster.client(leader).log.produce({ topic, records });
    const removed = cluster.ids.find((id) => id !== leader)!;
    await cluster.waitCaughtUp(removed, topic, 10);

    const transports: ClosableTransport[] = [];
    const controller = new AbortController();
    const streams: StreamState[] = kinds.map((kind) => {
      const transport = createNodeTransport(kind, `http://${cluster.member(removed).address}`);
      transports.push(transport);
      const state: StreamState = { kind, records: 0, ended: undefined };
      const client = createClient(LogService, transport.transport);
      (async () => {
        for await (const response of client.consumeStream(
          { topic, offset: 0n },
          { signal: controller.signal },
        ))
          state.records += response.records.length;
        state.ended = "ended without error";
      })().catch((error: unknown) => {
        state.ended = ConnectError.from(error);
      });
      return state;
    });
    try {
      await waitUntil(
        () => streams.every((stream) => stream.records === 10),
        () => `streams did not deliver the 10 records: ${describe(streams)}`,
        20_000,
      );
      await cluster.client(leader).cluster.leave({ id: removed }, { timeoutMs: 10_000 });
      cluster.markRemoved(removed);
      const left = Date.now();
      await cluster.client(leader).log.produce({ topic, records });
      await waitUntil(
        () => streams.every((stream) => stream.ended !== undefined),
        () => `streams on the removed ${removed} still open: ${describe(streams)}`,
        10_000,
      );
      for (const stream of streams) {
        assert.ok(stream.ended instanceof ConnectError, `${stream.kind}: ${describe([stream])}`);
        assert.equal(stream.ended.code, Code.FailedPrecondition, describe([stream]));
        assert.match(stream.ended.rawMessage, /removed from the cluster; use another member/);
      }
      console.log(
        `[removed node] streams ended ${Date.now() - left} ms after Leave: ${describe(streams)}`,
      );

      const { log, topics } = cluster.client(removed);
      const calls: [string, () => Promise<unknown>][] = [
        ["Produce", () => log.produce({ topic, records })],
        ["Consume", () => log.consume({ topic, offset: 0n })],
        ["GetTopic", () => topics.getTopic({ name: topic })],
        ["ListTopics", () => topics.listTopics({})],
        ["CreateTopic", () => topics.createTopic({ name: "another" })],
        ["GetServers", () => cluster.servers(removed)],
        [
          "ConsumeStream",
          async () => {
            for await (const _ of log.consumeStream({ topic }, { timeoutMs: 5_000 })) return;
          },
        ],
      ];
      for (const [name, call] of calls) {
        const error = await call().then(
          () => undefined,
          (thrown: unknown) => ConnectError.from(thrown),
        );
        assert.ok(error !== undefined, `${name} on the removed node succeeded`);
        assert.equal(error.code, Code.FailedPrecondition, `${name}: ${error.message}`);
        assert.match(error.rawMessage, /removed from the cluster/, name);
      }
      const ready = await cluster.readiness(removed);
      assert.equal(ready.status, 503);
      assert.match(ready.reason, /removed/);
    } finally {
      controller.abort();
      for (const transport of transports) transport.close();
    }
  });
});

function describe(streams: StreamState[]): string {
  return streams
    .map(
      (stream) =>
        `${stream.kind}: ${stream.records} records, ${stream.ended instanceof ConnectError ? `${Code[stream.ended.code]} ${stream.ended.rawMessage}` : (stream.ended ?? "open")}`,
    )
    .join("; ");
}

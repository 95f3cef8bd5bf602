// Durability and shutdown of a real `tidelog serve` process:
// - SIGKILL while producers are busy: after a restart on the same data directory, every
//   acknowledged record is there with the offset it was acknowledged at and the same content;
// - garbage appended to the newest .store file while the node is down is dropped on restart,
//   and the next produce lands at exactly the next offset;
// - SIGTERM ends open ConsumeStreams cleanly (gRPC, Connect, gRPC-Web) and exits 0 quickly.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { appendFile, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import {
  type ConsumeResponse,
  LogService,
  StartPosition,
} from "../../src/gen/tidelog/v1/log_service_pb.js";
import { TopicService } from "../../src/gen/tidelog/v1/topic_service_pb.js";
import {
  type ClosableTransport,
  connectClient,
  createGrpcLogClient,
  createNodeTransport,
  createWebTransport,
  type GrpcConsumeResponse,
} from "../harness/clients.js";
import { eventually } from "../harness/in-process-node.js";
import { NodeProcess } from "../harness/node-process.js";

const topic = "durable";
/** Concurrent producers: enough to make batches share commits. */
const producersCount = 8;
/** How long the producers run before the SIGKILL, at most. */
const produceWindowMs = 1_500;
/** Batches one producer sends, at most. */
const batchesPerProducerMax = 400;
/** A graceful stop must finish within this. */
const gracefulExitMs = 4_000;

const text = (value: Uint8Array) => Buffer.from(value).toString();

/** Every record of the topic, read in pages with a Connect client. */
async function readAll(baseUrl: string): Promise<Map<number, string>> {
  const { transport, close } = createNodeTransport("connect-binary-h2", baseUrl);
  try {
    const client = connectClient(LogService, transport);
    const records = new Map<number, string>();
    let offset = 0n;
    for (let page = 0; page < 10_000; page++) {
      const response = await client.consume({ topic, offset }, { timeoutMs: 10_000 });
      for (const record of response.records) records.set(Number(record.offset), text(record.value));
      if (response.records.length === 0 || response.nextOffset >= response.highWatermark) break;
      offset = response.nextOffset;
    }
    return records;
  } finally {
    close();
  }
}

/** The newest (highest base offset) .store file of the topic, wherever the node keeps topics. */
async function newestStoreFile(dataDirectory: string): Promise<string> {
  for (const directory of [join(dataDirectory, "topics", topic), join(dataDirectory, topic)]) {
    const names = await readdir(directory).catch(() => undefined);
    if (names === undefined) continue;
    const stores = names.filter((name) => /^\d{20}\.store$/.test(name)).sort();
    const newest = stores.at(-1);
    if (newest !== undefined) return join(directory, newest);
  }
  throw new Error(`no .store file for topic ${topic} under ${dataDirectory}`);
}

describe("a real node: crash, corruption, graceful stop", () => {
  let node: NodeProcess | undefined;
  /** offset → value of every acknowledged record. */
  const acknowledged = new Map<number, string>();

  after(async () => {
    await node?.destroy();
  });

  /** The node the previous test left running (the tests build on each other). */
  const runningNode = (): NodeProcess => {
    if (node === undefined || !node.running) throw new Error("the previous test left no node");
    return node;
  };

  test("SIGKILL during produces: every acknowledged record survives at its offset", async () => {
    node = await NodeProcess.start({ args: ["--bootstrap"] });
    const transports: ClosableTransport[] = [];
    let stop = false;
    const producer = async (producerIndex: number) => {
      const { transport } =
        transports[transports.push(createNodeTransport("connect-binary-h2", node!.baseUrl)) - 1]!;
      const client = connectClient(LogService, transport);
      for (let batch = 0; batch < batchesPerProducerMax && !stop; batch++) {
        const values = Array.from(
          { length: 1 + ((producerIndex + batch) % 4) },
          (_, i) => `p${producerIndex}-b${batch}-r${i}`,
        );
        try {
          const response = await client.produce(
            { topic, records: values.map((value) => ({ value: Buffer.from(value) })) },
            { timeoutMs: 5_000 },
          );
          assert.equal(response.offsets.length, values.length);
          response.offsets.forEach((offset, i) => {
            acknowledged.set(Number(offset), values[i]!);
          });
        } catch {
          return; // the node is gone: this batch was never acknowledged
        }
      }
    };
    const producing = Array.from({ length: producersCount }, (_, i) => producer(i));
    try {
      await eventually(() => acknowledged.size >= 200, "200 acknowledged records", 10_000);
      await new Promise((resolve) => setTimeout(resolve, produceWindowMs / 3));
      node.kill("SIGKILL"); // while produces are in flight
      const status = await node.waitExit(5_000);
      assert.equal(status.signal, "SIGKILL");
      stop = true;
      await Promise.all(producing);
    } finally {
      stop = true;
      for (const transport of transports) transport.close();
    }
    assert.ok(acknowledged.size >= 200, `${acknowledged.size} acknowledged`);

    await node.restart();
    const stored = await readAll(node.baseUrl);
    for (const [offset, value] of acknowledged) {
      assert.equal(stored.get(offset), value, `acknowledged offset ${offset}`);
    }
    // No gaps, and nothing that no producer sent.
    const offsets = [...stored.keys()].sort((a, b) => a - b);
    assert.deepEqual(
      offsets,
      offsets.map((_, i) => i),
      "offsets are contiguous from 0",
    );
    for (const value of stored.values()) assert.match(value, /^p\d+-b\d+-r\d+$/);
  });

  test("garbage appended to the newest .store while down is dropped; the next produce lands at the next offset", async () => {
    const node = runningNode();
    const before = await readAll(node.baseUrl);
    const nextOffset = before.size;
    node.kill("SIGKILL");
    await node.waitExit(5_000);

    const store = await newestStoreFile(node.dataDirectory);
    const sizeBefore = (await stat(store)).size;
    // A torn frame: a plausible length prefix, a wrong checksum, then noise.
    const garbage = Buffer.concat([Buffer.from([0, 0, 0, 40, 1, 2, 3, 4]), randomBytes(1000)]);
    await appendFile(store, garbage);

    await node.restart();
    const after = await readAll(node.baseUrl);
    assert.equal(after.size, nextOffset, "no record appeared and none vanished");
    assert.deepEqual(after, before);

    const { transport, close } = createNodeTransport("connect-json-h1", node.baseUrl);
    try {
      const produced = await connectClient(LogService, transport).produce(
        { topic, records: [{ value: Buffer.from("after-garbage") }] },
        { timeoutMs: 10_000 },
      );
      assert.deepEqual(produced.offsets, [BigInt(nextOffset)]);
      const info = await connectClient(TopicService, transport).getTopic({ name: topic });
      assert.equal(info.topic?.nextOffset, BigInt(nextOffset + 1));
    } finally {
      close();
    }
    const final = await readAll(node.baseUrl);
    assert.equal(final.get(nextOffset), "after-garbage");
    assert.ok((await stat(store)).size < sizeBefore + garbage.length + 1024, "garbage not kept");
  });

  test("SIGTERM ends open ConsumeStreams cleanly and the process exits 0 within a few seconds", async () => {
    const node = runningNode();
    const baseUrl = node.baseUrl;

    // A gRPC stream (grpc-js over h2c) waiting at the tail.
    const grpcClient = createGrpcLogClient(node.address);
    const grpcCall = grpcClient.ConsumeStream({ topic, start: "START_POSITION_TAIL" });
    let grpcRecords = 0;
    grpcCall.on(
      "data",
      (response: GrpcConsumeResponse) => (grpcRecords += response.records.length),
    );
    const grpcEnded = new Promise<grpc.StatusObject>((resolve) => {
      grpcCall.on("status", resolve);
      grpcCall.on("error", () => undefined); // the status carries the outcome
    });

    // Connect (HTTP/1.1 and h2c) and gRPC-Web (fetch) streams waiting at the tail.
    const transports = [
      createNodeTransport("connect-json-h1", baseUrl),
      createNodeTransport("connect-binary-h2", baseUrl),
    ];
    const connectStreams = [
      ...transports.map(({ transport }) => transport),
      createWebTransport("grpc-web", baseUrl),
    ].map((transport) => {
      const state = { records: 0, ended: undefined as Promise<unknown> | undefined };
      const stream = connectClient(LogService, transport).consumeStream({
        topic,
        start: StartPosition.TAIL,
      });
      state.ended = (async () => {
        try {
          for await (const response of stream as AsyncIterable<ConsumeResponse>) {
            state.records += response.records.length;
          }
          return "ended";
        } catch (error) {
          return error;
        }
      })();
      return state;
    });

    try {
      // Every stream is open and live: each receives records produced now. A stream whose
      // request has not reached the server yet starts after the first records (TAIL), so produce
      // until every stream has seen one (bounded).
      const everyStreamFed = () =>
        grpcRecords > 0 && connectStreams.every((state) => state.records > 0);
      const { transport, close } = createNodeTransport("connect-json-h1", baseUrl);
      try {
        const producer = connectClient(LogService, transport);
        for (let attempt = 0; attempt < 50 && !everyStreamFed(); attempt++) {
          await producer.produce({ topic, records: [{ value: Buffer.from("before-sigterm") }] });
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      } finally {
        close();
      }
      await eventually(everyStreamFed, "every stream got a record");

      const started = Date.now();
      node.kill("SIGTERM");
      const status = await node.waitExit(gracefulExitMs);
      const elapsedMs = Date.now() - started;
      assert.equal(status.code, 0, node.describe());
      assert.ok(elapsedMs < gracefulExitMs, `exited after ${elapsedMs} ms`);
      assert.ok(
        node.stdout.some((line) => line.includes('"stopped"')),
        `the node logged its orderly stop: ${node.stdout.join("\n")}`,
      );

      // Clean ends: OK, or UNAVAILABLE ("shutting down", retry elsewhere); never a reset
      // connection (INTERNAL / UNKNOWN) or a hang.
      const grpcStatus = await grpcEnded;
      assert.ok(
        grpcStatus.code === grpc.status.OK || grpcStatus.code === grpc.status.UNAVAILABLE,
        `grpc-js stream ended with ${grpc.status[grpcStatus.code]}: ${grpcStatus.details}`,
      );
      for (const [index, state] of connectStreams.entries()) {
        const outcome = await state.ended;
        if (outcome === "ended") continue;
        assert.ok(outcome instanceof ConnectError, `stream ${index}: ${String(outcome)}`);
        assert.equal(
          outcome.code,
          Code.Unavailable,
          `stream ${index} ended with ${Code[outcome.code]}: ${outcome.message}`,
        );
      }
    } finally {
      grpcClient.close();
      for (const { close } of transports) close();
    }
  });
});

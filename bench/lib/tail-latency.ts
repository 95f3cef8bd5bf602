// End-to-end latency of tailing consumers: N ConsumeStreams from the tail, spread round-robin
// over the nodes, while one producer sends records at a steady rate to the leader. Each record's
// value carries its send time; a delivery's latency is its arrival time at a consumer minus that.
// The consumers are the lean gRPC client of grpc-consume-stream.ts (raw node:http2, the protobuf
// wire walked by hand, offsets checked contiguous per stream); the producer is Connect gRPC.
import { setMaxListeners } from "node:events";
import type http2 from "node:http2";
import { create } from "@bufbuild/protobuf";
import { type Client, createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { LogService, ProduceRequestSchema } from "../../src/gen/tidelog/v1/log_service_pb.js";
import { RecordSchema } from "../../src/gen/tidelog/v1/record_pb.js";
import { connectConsumeSession, consumeStream, GrpcStatusError } from "./grpc-consume-stream.js";
import { LatencySamples, type LatencySummary } from "./latency-samples.js";
import { callTimeoutMs } from "./load-plan.js";
import type { BenchNode } from "./node-launcher.js";
import { startCpuSpan } from "./node-usage.js";
import { nowEpochMs, timestampedValue } from "./record-values.js";

/** Tailing streams sharing one HTTP/2 connection. */
const streamsPerConnection = 100;
/** How long every stream may take to receive its first record (all streams open). */
const setupMsMax = 60_000;
/** How long the last records may take to reach every stream after producing stops. */
const drainMsMax = 10_000;
/** Produce calls outstanding at most; a send slot is skipped (and counted) beyond it. */
const produceInflightMax = 64;
const markerIntervalMs = 50;
const markersMax = setupMsMax / markerIntervalMs;

export interface TailPlan {
  tails: number;
  ratePerSecond: number;
  /** At the steady rate before the measured phase, not measured. */
  warmupMs: number;
  durationMs: number;
  recordBytes: number;
}

export interface TailResult {
  tails: number;
  ratePerSecond: number;
  recordBytes: number;
  recordsProduced: number;
  /** Send slots skipped because too many produce calls were outstanding. */
  sendsSkipped: number;
  deliveriesExpected: number;
  deliveries: number;
  /** From the send of a record to its arrival at one consumer. */
  delivery: LatencySummary;
  /** The producer's own call latency. */
  produce: LatencySummary;
  setupSeconds: number;
  /** Wall seconds of the measured phase (producing, then draining the last deliveries). */
  measuredSeconds: number;
  /** CPU seconds during the measured phase (producing and draining): all nodes, this process. */
  cpuSeconds: { nodes: number; client: number };
}

type LogClient = Client<typeof LogService>;

export async function runTailLatency(
  cluster: { nodes: readonly BenchNode[]; leader: BenchNode },
  plan: TailPlan,
): Promise<TailResult> {
  const topic = `bench-tail-${plan.tails}`;
  const sessions: Http2SessionManager[] = [];
  const consumeSessions: http2.ClientHttp2Session[] = [];
  const clientFor = (node: BenchNode): LogClient => {
    const manager = new Http2SessionManager(node.baseUrl);
    sessions.push(manager);
    return createClient(
      LogService,
      createGrpcTransport({ baseUrl: node.baseUrl, sessionManager: manager }),
    );
  };
  const producer = clientFor(cluster.leader);
  const produce = (value: Uint8Array) =>
    producer.produce(
      create(ProduceRequestSchema, { topic, records: [create(RecordSchema, { value })] }),
      { timeoutMs: callTimeoutMs },
    );
  const controller = new AbortController();
  // Every stream listens for the one abort that ends the run.
  setMaxListeners(plan.tails + 10, controller.signal);
  const delivery = new LatencySamples();
  let measureFrom = Number.POSITIVE_INFINITY;
  let deliveries = 0;
  let ready = 0;
  const tails: Promise<void>[] = [];
  const failures: unknown[] = [];
  try {
    await produce(timestampedValue(plan.recordBytes)); // creates the topic

    const setupBegan = performance.now();
    const connections = new Map<
      BenchNode,
      { session: http2.ClientHttp2Session; streams: number }
    >();
    for (let i = 0; i < plan.tails; i++) {
      const node = cluster.nodes[i % cluster.nodes.length]!;
      let connection = connections.get(node);
      if (connection === undefined || connection.streams >= streamsPerConnection) {
        connection = { session: connectConsumeSession(node.baseUrl), streams: 0 };
        consumeSessions.push(connection.session);
        connections.set(node, connection);
      }
      connection.streams++;
      const reading = tail(connection.session, topic, controller.signal, (sentAt, first) => {
        if (first) ready++;
        if (sentAt < measureFrom) return;
        deliveries++;
        delivery.add(nowEpochMs() - sentAt);
      });
      tails.push(reading.catch((error: unknown) => void failures.push(error)));
    }
    // Streams start at the tail when the server handles them: mark until every one has seen one.
    const setupDeadline = performance.now() + setupMsMax;
    for (
      let markers = 0;
      markers < markersMax &&
      ready < plan.tails &&
      failures.length === 0 &&
      performance.now() < setupDeadline;
      markers++
    ) {
      await produce(timestampedValue(plan.recordBytes));
      await sleep(markerIntervalMs);
    }
    if (failures.length > 0) throw failures[0];
    if (ready < plan.tails)
      throw new Error(`only ${ready} of ${plan.tails} tailing streams started`);
    const setupSeconds = (performance.now() - setupBegan) / 1000;

    const intervalMs = 1000 / plan.ratePerSecond;
    /** Produces at the steady rate for `durationMs`; counts the records produced and skipped. */
    const produceSteadily = async (durationMs: number, latency?: LatencySamples) => {
      const outstanding = new Set<Promise<void>>();
      let produced = 0;
      let skipped = 0;
      const began = performance.now();
      for (let slot = 0; ; slot++) {
        const due = began + slot * intervalMs;
        if (due >= began + durationMs) break;
        await sleep(due - performance.now());
        if (outstanding.size >= produceInflightMax) {
          skipped++;
          continue;
        }
        const start = performance.now();
        const call = produce(timestampedValue(plan.recordBytes)).then(
          () => {
            produced++;
            latency?.add(performance.now() - start);
            outstanding.delete(call);
          },
          (error: unknown) => {
            failures.push(error);
            outstanding.delete(call);
          },
        );
        outstanding.add(call);
      }
      await Promise.all(outstanding);
      return { produced, skipped };
    };
    // Not measured: every stream at the steady rate for a while first, as the produce cases warm
    // up (the first half second after the set-up's sparse markers runs several times slower).
    await produceSteadily(plan.warmupMs);
    if (failures.length > 0) throw failures[0];
    const produceLatency = new LatencySamples();
    const endSpan = await startCpuSpan(cluster.nodes);
    const began = performance.now();
    measureFrom = nowEpochMs();
    const { produced, skipped: sendsSkipped } = await produceSteadily(
      plan.durationMs,
      produceLatency,
    );
    const expected = produced * plan.tails;
    const drainDeadline = performance.now() + drainMsMax;
    while (deliveries < expected && performance.now() < drainDeadline) await sleep(10);
    const cpu = await endSpan();
    const measuredSeconds = (performance.now() - began) / 1000;
    if (failures.length > 0) throw failures[0];
    return {
      tails: plan.tails,
      ratePerSecond: plan.ratePerSecond,
      recordBytes: plan.recordBytes,
      recordsProduced: produced,
      sendsSkipped,
      deliveriesExpected: expected,
      deliveries,
      delivery: delivery.summary(),
      produce: produceLatency.summary(),
      setupSeconds,
      measuredSeconds,
      cpuSeconds: {
        nodes: Object.values(cpu.nodes).reduce((sum, seconds) => sum + seconds, 0),
        client: cpu.client,
      },
    };
  } finally {
    controller.abort();
    await Promise.all(tails);
    for (const manager of sessions) manager.abort();
    for (const session of consumeSessions) session.destroy();
  }
}

/**
 * Reads a tailing stream until `signal` aborts; calls `onRecord` with each record's send time. A
 * follower may not have applied the topic's creation yet when the stream reaches it: NOT_FOUND
 * before the first record is retried.
 */
async function tail(
  session: http2.ClientHttp2Session,
  topic: string,
  signal: AbortSignal,
  onRecord: (sentAt: number, first: boolean) => void,
): Promise<void> {
  let first = true;
  for (;;) {
    try {
      await consumeStream(
        session,
        { topic, start: { tailBack: 0 } },
        {
          onRecord(_offset, value) {
            onRecord(value.readDoubleLE(0), first);
            first = false;
          },
        },
        signal,
      );
      return;
    } catch (error) {
      if (signal.aborted) return;
      const topicNotYetApplied = error instanceof GrpcStatusError && error.code === 5 && first;
      if (!topicNotYetApplied) throw error;
      await sleep(50);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

// Slow readers: ConsumeStream clients that never read — raw HTTP/2 sessions announcing a 1 KiB
// receive window with their streams paused (gRPC, Connect streaming, gRPC-Web), and an HTTP/1.1
// client whose socket is paused — while a producer writes tens of MB. The server must hold no
// more than a response or so per stalled stream (connect-node waits for 'drain' between writes;
// HTTP/2 flow control stops the writes), so its RSS stays within a stated bound, and it keeps
// serving other clients: produces are acknowledged promptly and a normal reader gets everything.
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, test } from "node:test";
import { NodeProcess } from "../harness/node-process.js";
import { openStalledConsumeStream } from "../harness/raw-grpc.js";
import {
  type Acknowledged,
  type Clients,
  checkLog,
  clientsFor,
  envelope,
  MiB,
  produceValues,
  readTopic,
  rssBytes,
  sleep,
} from "./support.js";

/** MB produced while the readers stall (the soak sets more: RELIABILITY_SLOW_MB). */
const producedMb = Number(process.env.RELIABILITY_SLOW_MB ?? 40);
/**
 * RSS may grow at most this much over the baseline while `producedMb` MB go by the stalled
 * readers. Measured on Node 20: producing with no reader at all grows RSS by about 1.1× the bytes
 * produced (V8 collects the produce path's garbage lazily); the four stalled readers add a constant
 * ~60-70 MiB (one response of up to --consume-bytes-max each, in a few copies) whether 40 or 120 MB
 * go by. A server that buffered for its stalled readers would grow by 4× the bytes produced more.
 */
const rssGrowthMaxBytes = 96 * MiB + 1.5 * producedMb * MiB;
/** A produce must be acknowledged within this long while the readers stall. */
const produceLatencyMaxMs = 3_000;

const topic = "firehose";
const acked: Acknowledged = new Map();
let node: NodeProcess;
let clients: Clients;
const cleanups: (() => void)[] = [];

before(async () => {
  // Small snapshots keep the Raft log (which holds recent entries in memory) from growing with
  // the data: the bound below is about what stalled readers cost.
  node = await NodeProcess.start({
    args: ["--bootstrap", "--disk-reserve-bytes", "0", "--snapshot-entries", "50"],
  });
  clients = clientsFor(node.baseUrl);
});

after(async () => {
  for (const cleanup of cleanups) cleanup();
  clients?.close();
  await node?.destroy();
});

/** A stalled ConsumeStream over raw HTTP/2 from offset 0; returns the bytes it accepted so far. */
function stalledH2Reader(contentType: string): () => number {
  const { session, stream } = openStalledConsumeStream(node.baseUrl, topic, contentType, 1024);
  cleanups.push(() => session.destroy());
  return () => stream.readableLength;
}

/** A stalled Connect ConsumeStream over HTTP/1.1 on a paused socket. */
function stalledH1Reader(): void {
  const [host, port] = node.address.split(":") as [string, string];
  const socket = net.connect(Number(port), host);
  socket.on("error", () => undefined);
  const body = envelope(Buffer.from([0x0a, topic.length, ...Buffer.from(topic)]));
  socket.write(
    `POST /tidelog.v1.LogService/ConsumeStream HTTP/1.1\r\nhost: ${node.address}\r\n` +
      `content-type: application/connect+proto\r\ncontent-length: ${body.length}\r\n\r\n`,
  );
  socket.write(body);
  socket.pause();
  cleanups.push(() => socket.destroy());
}

test(`${producedMb} MB past stalled readers: bounded RSS, other clients served`, async () => {
  // Warm up: a few MB through so the baseline holds the pools and JIT a steady node has.
  const value = "v".repeat(50 * 1024);
  let sequence = 0;
  const produceBatch = async () => {
    const values = Array.from({ length: 10 }, () => `${sequence++}:${value}`);
    const started = Date.now();
    await produceValues(clients, topic, values, acked, 10_000);
    return Date.now() - started;
  };
  for (let i = 0; i < 10; i++) await produceBatch();
  await sleep(500);
  const baseline = await rssBytes(node.pid!);

  const readers = [
    stalledH2Reader("application/grpc"),
    stalledH2Reader("application/connect+proto"),
    stalledH2Reader("application/grpc-web+proto"),
  ];
  stalledH1Reader();
  await sleep(300);

  const batches = Math.ceil((producedMb * MiB) / (10 * value.length));
  const deadline = Date.now() + 90_000;
  let peak = baseline;
  let slowest = 0;
  for (let i = 0; i < batches && Date.now() < deadline; i++) {
    slowest = Math.max(slowest, await produceBatch());
    if (i % 10 === 0) peak = Math.max(peak, await rssBytes(node.pid!));
  }
  peak = Math.max(peak, await rssBytes(node.pid!));
  assert.ok(sequence >= batches * 10, "the producer ran out of time");

  // Another client reads the whole topic meanwhile: the node serves it.
  const readStarted = Date.now();
  const records = await readTopic(clients, topic);
  const readMs = Date.now() - readStarted;
  const checked = checkLog(records, acked, "slow readers");
  const stalledBytes = readers.map((bytes) => bytes());
  console.log(
    `[slow readers] ${(sequence * value.length) / MiB} MiB produced past 4 stalled readers ` +
      `(they took ${stalledBytes.join("/")} bytes); RSS baseline ${(baseline / MiB).toFixed(0)} ` +
      `MiB, peak ${(peak / MiB).toFixed(0)} MiB; slowest produce ${slowest} ms; ${checked} ` +
      `records read back in ${readMs} ms, lost 0`,
  );
  assert.ok(
    peak - baseline < rssGrowthMaxBytes,
    `RSS grew ${((peak - baseline) / MiB).toFixed(0)} MiB (bound ${rssGrowthMaxBytes / MiB} MiB)`,
  );
  assert.ok(slowest < produceLatencyMaxMs, `a produce took ${slowest} ms`);
  assert.ok(node.running, node.describe());
});

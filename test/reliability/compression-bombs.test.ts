// Compression bombs against one real node process (`bin/tidelog serve`): a flood of concurrent
// gzip messages that inflate far past the read limit, over gRPC and Connect streaming on HTTP/2 and
// Connect unary on HTTP/1.1. Every one is refused with resource_exhausted and a clear message, the
// node keeps producing during and after the flood, its resident set stays within a stated bound
// while the flood lasts, and returns near its baseline after.
//
// Before the decompression gate (src/server/decompression-gate.ts) each bomb held up to the read
// limit (~9.7 MiB) at once: this flood took the node from 107 MiB to 1,115 MiB (with it: 220).
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, test } from "node:test";
import { gzipSync } from "node:zlib";
import { create, toBinary } from "@bufbuild/protobuf";
import { ProduceRequestSchema } from "../../src/gen/tidelog/v1/log_service_pb.js";
import { eventually } from "../harness/in-process-node.js";
import { NodeProcess } from "../harness/node-process.js";
import {
  type Acknowledged,
  type Clients,
  clientsFor,
  envelope,
  grpcStatus,
  MiB,
  produceValues,
  rawH2,
  rssBytes,
  sleep,
} from "./support.js";

/** Bombs per protocol in the flood. */
const grpcBombs = 64;
const connectStreamBombs = 16;
const connectUnaryBombs = 32;
/**
 * The resident set may grow this much over its baseline while the flood lasts: the gate's 4
 * decompressions of up to ~9.7 MiB each, the output V8 has not collected yet, the connections.
 * Without the gate the same flood took over 1 GiB.
 */
const floodRssBoundBytes = 256 * MiB;
/** Once the flood is over, RSS returns below baseline + this (V8 and malloc keep some). */
const rssSlackBytes = 64 * MiB;

const topic = "compressed";
const acked: Acknowledged = new Map();
/** 32 MiB of zeros, ~32 KiB gzipped: far past the read limit, as a 1 GiB bomb would be. */
const bomb = gzipSync(Buffer.alloc(32 * MiB), { level: 9 });
let node: NodeProcess;
let clients: Clients;

before(async () => {
  node = await NodeProcess.start({ args: ["--bootstrap", "--disk-reserve-bytes", "0"] });
  clients = clientsFor(node.baseUrl);
  await produceValues(clients, topic, ["before"], acked);
});

after(async () => {
  clients?.close();
  await node?.destroy();
});

/** A Connect unary call over HTTP/1.1: status and body, or the error, within `timeoutMs`. */
function connectUnaryH1(
  path: string,
  headers: http.OutgoingHttpHeaders,
  body: Buffer,
  timeoutMs = 60_000,
): Promise<{ status: number; body: string }> {
  const [host, port] = node.address.split(":") as [string, string];
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host, port: Number(port), method: "POST", path, headers, agent: false, timeout: timeoutMs },
      (response) => {
        const parts: Buffer[] = [];
        response.on("data", (chunk: Buffer) => parts.push(chunk));
        response.on("end", () =>
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(parts).toString() }),
        );
        response.on("error", reject);
      },
    );
    request.on("timeout", () => request.destroy(new Error("client timeout")));
    request.on("error", reject);
    request.end(body);
  });
}

/** A refusal's message must say why: over the limit after decompression, or too many at once. */
const bombRefusal = /after decompression|too many compressed requests at once/;

test("a flood of gzip bombs: each is resource_exhausted, the node serves, memory stays bounded", async () => {
  const pid = node.pid!;
  // Warm up: one bomb of each kind, so the baseline includes what a served call costs once.
  await rawH2(node.address, grpcHeaders(), [envelope(bomb, bomb.length, 1)]);
  await sleep(500);
  const baseline = await rssBytes(pid);
  let peak = baseline;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, await rssBytes(pid));
      await sleep(20);
    }
  })();
  const grpc = Array.from({ length: grpcBombs }, () =>
    rawH2(node.address, grpcHeaders(), [envelope(bomb, bomb.length, 1)], { timeoutMs: 60_000 }),
  );
  const connectStream = Array.from({ length: connectStreamBombs }, () =>
    rawH2(
      node.address,
      {
        ":path": "/tidelog.v1.LogService/ProduceStream",
        "content-type": "application/connect+proto",
        "connect-content-encoding": "gzip",
      },
      [envelope(bomb, bomb.length, 1)],
      { timeoutMs: 60_000 },
    ),
  );
  const connectUnary = Array.from({ length: connectUnaryBombs }, () =>
    connectUnaryH1(
      "/tidelog.v1.LogService/Produce",
      { "content-type": "application/proto", "content-encoding": "gzip" },
      bomb,
    ),
  );
  // An honest produce while the bombs are being refused.
  await produceValues(clients, topic, ["during"], acked, 60_000);
  const [grpcAnswers, streamAnswers, unaryAnswers] = await Promise.all([
    Promise.all(grpc),
    Promise.all(connectStream),
    Promise.all(connectUnary),
  ]);
  sampling = false;
  await sampler;

  for (const answer of grpcAnswers) {
    assert.equal(grpcStatus(answer), 8, `gRPC: ${JSON.stringify(answer.trailers)}`);
    const message = decodeURIComponent(String(answer.trailers["grpc-message"] ?? ""));
    assert.match(message, bombRefusal);
  }
  for (const answer of streamAnswers) {
    // A Connect stream ends with an end-of-stream envelope (flag 2) carrying the error as JSON.
    const end = JSON.parse(answer.body.subarray(5).toString()) as {
      error?: { code?: string; message?: string };
    };
    assert.equal(end.error?.code, "resource_exhausted", answer.body.toString());
    assert.match(end.error?.message ?? "", bombRefusal);
  }
  for (const answer of unaryAnswers) {
    const error = JSON.parse(answer.body) as { code?: string; message?: string };
    assert.equal(error.code, "resource_exhausted", answer.body);
    assert.match(error.message ?? "", bombRefusal);
  }
  assert.ok(
    peak - baseline < floodRssBoundBytes,
    `RSS peaked at ${(peak / MiB).toFixed(0)} MiB (baseline ${(baseline / MiB).toFixed(0)} MiB)`,
  );

  await produceValues(clients, topic, ["after"], acked);
  let current = peak;
  await eventually(
    async () => (current = await rssBytes(pid)) < baseline + rssSlackBytes,
    `RSS did not return below ${((baseline + rssSlackBytes) / MiB).toFixed(0)} MiB`,
    60_000,
    250,
  );
  console.log(
    `[bombs] ${grpcBombs + connectStreamBombs + connectUnaryBombs} gzip bombs of ` +
      `${bomb.length} B; RSS baseline ${(baseline / MiB).toFixed(0)} MiB, peak ` +
      `${(peak / MiB).toFixed(0)} MiB, after ${(current / MiB).toFixed(0)} MiB`,
  );
});

test("brotli is not accepted: unimplemented, naming gzip", async () => {
  const grpc = await rawH2(node.address, { ...grpcHeaders(), "grpc-encoding": "br" }, [
    envelope(Buffer.from([0x0b, 0x02, 0x80, 0x03]), 4, 1),
  ]);
  assert.equal(grpcStatus(grpc), 12, JSON.stringify(grpc.trailers));
  assert.equal(grpc.trailers["grpc-accept-encoding"], "gzip");
  const unary = await connectUnaryH1(
    "/tidelog.v1.LogService/Produce",
    { "content-type": "application/proto", "content-encoding": "br" },
    Buffer.from([0x0b, 0x02, 0x80, 0x03]),
  );
  const error = JSON.parse(unary.body) as { code?: string; message?: string };
  assert.equal(error.code, "unimplemented", unary.body);
  assert.match(error.message ?? "", /gzip/);
  await produceValues(clients, topic, ["after brotli"], acked);
});

test("content codings are case-insensitive, and an empty one is none", async () => {
  const request = Buffer.from(
    toBinary(
      ProduceRequestSchema,
      create(ProduceRequestSchema, { topic, records: [{ value: Buffer.from("cased") }] }),
    ),
  );
  const gzipped = gzipSync(request);
  for (const [headers, body] of [
    [{ "content-encoding": "GZIP" }, gzipped],
    [{ "content-encoding": " Gzip " }, gzipped],
    [{ "content-encoding": "" }, request],
    [{ "content-encoding": "Identity" }, request],
  ] as const) {
    const answer = await connectUnaryH1(
      "/tidelog.v1.LogService/Produce",
      { "content-type": "application/proto", ...headers },
      body,
    );
    assert.equal(answer.status, 200, `${JSON.stringify(headers)}: ${answer.body}`);
  }
  const grpc = await rawH2(node.address, { ...grpcHeaders(), "grpc-encoding": "GZIP" }, [
    envelope(gzipped, gzipped.length, 1),
  ]);
  assert.equal(grpcStatus(grpc), 0, JSON.stringify(grpc.trailers));
});

function grpcHeaders() {
  return {
    ":path": "/tidelog.v1.LogService/Produce",
    "content-type": "application/grpc",
    "grpc-encoding": "gzip",
    te: "trailers",
  };
}

// The machine's floor for a unary call between two Node processes: a bare node:http2 request
// with a small body, answered by a bare server (h2-echo-server.ts) with headers, one small
// message and trailers — what a gRPC unary exchange costs here before any work is done. A
// 1-in-flight produce cannot be faster than this plus a durable write.
import { fork } from "node:child_process";
import http2 from "node:http2";
import { fileURLToPath } from "node:url";
import type { Bounds } from "./disk-limits.js";
import { LatencySamples, type LatencySummary } from "./latency-samples.js";

export interface RoundTripResult {
  requests: number;
  requestsPerSecond: number;
  latency: LatencySummary;
}

const warmUpRequests = 200;

export async function measureH2RoundTrip(bounds: Bounds): Promise<RoundTripResult> {
  const child = fork(fileURLToPath(new URL("./h2-echo-server.js", import.meta.url)), [], {
    stdio: ["ignore", "ignore", "inherit", "ipc"],
    execArgv: [],
  });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.once("message", (message) => resolve(Number(message)));
      child.once("exit", (code) => reject(new Error(`echo server exited with ${code}`)));
    });
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", () => undefined);
    const body = Buffer.alloc(105);
    const call = () =>
      new Promise<void>((resolve, reject) => {
        const stream = session.request({
          ":method": "POST",
          ":path": "/echo",
          "content-type": "application/grpc",
          te: "trailers",
        });
        stream.on("data", () => undefined);
        stream.once("error", reject);
        stream.once("close", () => resolve());
        stream.end(body);
      });
    try {
      for (let i = 0; i < warmUpRequests; i++) await call();
      const latency = new LatencySamples();
      const began = performance.now();
      const deadline = began + bounds.durationMs;
      while (latency.count < bounds.countMax && performance.now() < deadline) {
        const start = performance.now();
        await call();
        latency.add(performance.now() - start);
      }
      const seconds = (performance.now() - began) / 1000;
      return {
        requests: latency.count,
        requestsPerSecond: latency.count / seconds,
        latency: latency.summary(),
      };
    } finally {
      session.destroy();
    }
  } finally {
    child.kill();
  }
}

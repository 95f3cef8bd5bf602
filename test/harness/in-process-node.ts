// Test harness: a tidelog node in the test's own process (`startNode`), on 127.0.0.1 and a port
// picked by the OS, with a fresh data directory. Unlike a child process it exposes its internals,
// e.g. `node.app.streams.active` to prove that a cancelled stream was released.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ApiLimits, defaultApiLimits } from "../../src/api/limits.js";
import {
  defaultRaftTimings,
  type NodeConfig,
  type RunningNode,
  startNode,
} from "../../src/server/node.js";
import {
  defaultOnePortServerOptions,
  type OnePortServerOptions,
} from "../../src/server/one-port-server.js";

export interface InProcessNode {
  readonly node: RunningNode;
  /** host:port */
  readonly address: string;
  /** http://host:port */
  readonly baseUrl: string;
  readonly dataDirectory: string;
  /** Stops the node and removes its data directory. */
  close(): Promise<void>;
}

export interface InProcessNodeOptions {
  autoCreateTopics?: boolean;
  limits?: Partial<ApiLimits>;
  shutdownGraceMs?: number;
  /** Over defaultOnePortServerOptions. */
  serverOptions?: Partial<OnePortServerOptions>;
}

export async function startInProcessNode(
  options: InProcessNodeOptions = {},
): Promise<InProcessNode> {
  const dataDirectory = await mkdtemp(join(tmpdir(), "tidelog-inproc-"));
  const config: NodeConfig = {
    id: "node-1",
    host: "127.0.0.1",
    port: 0,
    dataDirectory,
    autoCreateTopics: options.autoCreateTopics ?? true,
    limits: { ...defaultApiLimits, ...options.limits },
    segmentBytesMax: 64 * 1024 * 1024,
    retentionIntervalMs: 30_000,
    shutdownGraceMs: options.shutdownGraceMs ?? 1_000,
    bootstrap: true,
    diskReserveBytes: 0,
    raft: { ...defaultRaftTimings, tickMs: 20 },
    serverOptions: { ...defaultOnePortServerOptions, ...options.serverOptions },
  };
  let node: RunningNode;
  try {
    node = await startNode(config);
  } catch (error) {
    await rm(dataDirectory, { recursive: true, force: true });
    throw error;
  }
  return {
    node,
    address: node.address,
    baseUrl: `http://${node.address}`,
    dataDirectory,
    async close() {
      await node.stop();
      await rm(dataDirectory, { recursive: true, force: true, maxRetries: 3 });
    },
  };
}

/**
 * Waits until `condition()` holds, checking every `intervalMs`, for at most `timeoutMs`; then
 * fails with `message`. Every wait in these tests is bounded by this.
 */
export async function eventually(
  condition: () => boolean | Promise<boolean>,
  message: string,
  timeoutMs = 5_000,
  intervalMs = 20,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms: ${message}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Produces `count` records of `value` (base64) to `topic` over Connect JSON; asserts a 200. */
export async function produceJsonRecords(
  node: InProcessNode,
  topic: string,
  count: number,
  value: string,
): Promise<void> {
  const response = await fetch(`${node.baseUrl}/tidelog.v1.LogService/Produce`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ topic, records: Array.from({ length: count }, () => ({ value })) }),
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(response.status, 200, await response.text());
}

// A running tidelog node: the broker, the app on one port, and an orderly stop.
import type { ApiLimits } from "../api/limits.js";
import type { Broker } from "../cluster/broker.js";
import { LocalBroker } from "../cluster/local-broker.js";
import { type App, buildApp } from "./app.js";

export interface NodeConfig {
  id: string;
  host: string;
  port: number;
  dataDirectory: string;
  autoCreateTopics: boolean;
  limits: ApiLimits;
  segmentBytesMax: number;
  retentionIntervalMs: number;
  shutdownGraceMs: number;
}

export interface RunningNode {
  readonly app: App;
  readonly broker: Broker;
  /** host:port actually bound (port 0 picks a free one). */
  readonly address: string;
  stop(): Promise<void>;
}

export function logError(message: string, error: unknown): void {
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(
    `${JSON.stringify({ level: "error", time: new Date().toISOString(), message, error: detail })}\n`,
  );
}

export async function startNode(config: NodeConfig): Promise<RunningNode> {
  const broker = await LocalBroker.open({
    id: config.id,
    address: `${config.host}:${config.port}`,
    dataDirectory: config.dataDirectory,
    autoCreateTopics: config.autoCreateTopics,
    retentionIntervalMs: config.retentionIntervalMs,
    segmentBytesMax: config.segmentBytesMax,
  });
  let app: App;
  try {
    app = await buildApp({
      broker,
      limits: config.limits,
      logError,
      shutdownGraceMs: config.shutdownGraceMs,
    });
    await app.fastify.listen({ host: config.host, port: config.port });
  } catch (error) {
    await broker.close();
    throw error;
  }
  const bound = app.server.address();
  const address =
    typeof bound === "object" && bound !== null
      ? `${config.host}:${bound.port}`
      : `${config.host}:${config.port}`;
  let stopping: Promise<void> | undefined;
  return {
    app,
    broker,
    address,
    stop() {
      stopping ??= (async () => {
        await app.fastify.close();
        await broker.close();
      })();
      return stopping;
    },
  };
}

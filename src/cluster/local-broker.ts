// A single-node broker: topics live in a local registry and a produce is acknowledged once its
// records are fsynced. Concurrent produces share writes and fsyncs (the log coalesces both), which
// is group commit on one node. Readers see records below the synced offset only, so nothing a
// consumer saw can vanish in a crash.
import { type Topic, TopicRegistry } from "../log/topic-registry.js";
import type { Broker, ConsumeLimits, ServerInfo, TopicConfig, TopicInfo } from "./broker.js";
import {
  type DecodedRecord,
  decodeRecord,
  encodeRecord,
  type RecordInput,
} from "./record-codec.js";

export interface LocalBrokerOptions {
  id: string;
  address: string;
  dataDirectory: string;
  /** Produce to a missing topic creates it; otherwise not_found. */
  autoCreateTopics: boolean;
  /** How often retention runs. */
  retentionIntervalMs: number;
  segmentBytesMax?: number;
}

export class LocalBroker implements Broker {
  private readonly retentionTimer: NodeJS.Timeout;

  private constructor(
    private readonly options: LocalBrokerOptions,
    private readonly registry: TopicRegistry,
  ) {
    this.retentionTimer = setInterval(() => {
      registry.applyRetention().catch(() => undefined);
    }, options.retentionIntervalMs);
    this.retentionTimer.unref();
  }

  static async open(options: LocalBrokerOptions): Promise<LocalBroker> {
    const logOptions =
      options.segmentBytesMax === undefined ? {} : { segmentBytesMax: options.segmentBytesMax };
    const registry = await TopicRegistry.open(options.dataDirectory, { logOptions });
    return new LocalBroker(options, registry);
  }

  async produce(name: string, records: readonly RecordInput[]): Promise<number[]> {
    if (records.length === 0) return [];
    const topic = this.options.autoCreateTopics
      ? await this.registry.ensure(name)
      : this.registry.require(name);
    const timeMs = Date.now();
    const base = await topic.log.append(records.map((record) => encodeRecord(record, timeMs)));
    await topic.log.sync();
    return records.map((_, i) => base + i);
  }

  async consume(name: string, offset: number, limits: ConsumeLimits): Promise<DecodedRecord[]> {
    const topic = this.registry.require(name);
    const stored = await topic.log.readRange(offset, {
      ...limits,
      endOffset: topic.log.syncedOffset,
    });
    return stored.map((record) => decodeRecord(record.offset, record.payload));
  }

  waitForRecords(name: string, offset: number, signal: AbortSignal): Promise<void> {
    const topic = this.registry.require(name);
    const ready = () =>
      this.registry.get(name) !== topic || topic.log.syncedOffset > offset || signal.aborted;
    if (ready()) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const finish = () => {
        unsubscribe();
        signal.removeEventListener("abort", finish);
        resolve();
      };
      const unsubscribe = topic.log.subscribe(() => {
        if (ready()) finish();
      });
      signal.addEventListener("abort", finish, { once: true });
    });
  }

  topic(name: string): TopicInfo {
    return describe(this.registry.require(name));
  }

  topics(): TopicInfo[] {
    return this.registry.list().map(describe);
  }

  async createTopic(name: string, config: TopicConfig): Promise<TopicInfo> {
    return describe(await this.registry.create(name, config));
  }

  async updateTopic(name: string, config: TopicConfig): Promise<TopicInfo> {
    return describe(await this.registry.update(name, config));
  }

  async deleteTopic(name: string): Promise<void> {
    await this.registry.delete(name);
  }

  servers(): ServerInfo[] {
    return [
      {
        id: this.options.id,
        address: this.options.address,
        isLeader: true,
        voter: true,
        term: 0,
        matchIndex: 0,
        lag: 0,
      },
    ];
  }

  async close(): Promise<void> {
    clearInterval(this.retentionTimer);
    await this.registry.close();
  }
}

function describe(topic: Topic): TopicInfo {
  const log = topic.log;
  return {
    name: topic.name,
    config: { ...topic.config },
    lowestOffset: log.lowestOffset,
    nextOffset: log.syncedOffset,
    sizeBytes: log.sizeBytes,
    segmentCount: log.segmentCount,
  };
}

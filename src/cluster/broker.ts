// What the API layer needs from a node: produce, consume, wait for new records, manage topics,
// describe the cluster. A single-node broker (local-broker.ts) and the Raft-replicated one
// implement it; the API layer does not know which it talks to.
import type { TopicConfig, TopicConfigField } from "../log/topic-registry.js";
import type { DecodedRecord, RecordInput } from "./record-codec.js";
import type { TailReader, WireSlice } from "./topic-tail.js";

export type { TopicConfig, TopicConfigField } from "../log/topic-registry.js";
export type { DecodedRecord, RecordInput } from "./record-codec.js";
export type { AnswerEncoder, TailReader, WireSlice } from "./topic-tail.js";

export interface TopicInfo {
  name: string;
  config: TopicConfig;
  /** Oldest retained offset. */
  lowestOffset: number;
  /** The offset the next committed record will get: readers see records below it. */
  nextOffset: number;
  sizeBytes: number;
  segmentCount: number;
}

export interface ConsumeLimits {
  maxRecords: number;
  maxBytes: number;
}

export interface ServerInfo {
  id: string;
  address: string;
  isLeader: boolean;
  voter: boolean;
  term: number;
  matchIndex: number;
  lag: number;
}

export interface Broker {
  /**
   * Appends `records` to `topic` atomically and contiguously; resolves with their offsets once
   * committed (durable on a majority). Creates the topic when missing if auto-creation is on.
   */
  produce(topic: string, records: readonly RecordInput[]): Promise<number[]>;
  /** Committed records from `offset`; out_of_range outside [lowest, next). */
  consume(topic: string, offset: number, limits: ConsumeLimits): Promise<DecodedRecord[]>;
  /**
   * The same records as `consume`, as the protobuf wire of `repeated tidelog.v1.Record` (from
   * the topic's shared tail cache when it has readers; see topic-tail.ts).
   */
  consumeWire(topic: string, offset: number, limits: ConsumeLimits): Promise<WireSlice>;
  /**
   * A long-lived reader of `topic` (not_found when missing) that waits for commits and reads them
   * as wire bytes, sharing one wake-up and one encoding per commit with the topic's other
   * readers. Its waits end when `signal` aborts; close it when done.
   */
  openTail(topic: string, signal: AbortSignal): TailReader;
  topic(name: string): TopicInfo;
  topics(): TopicInfo[];
  createTopic(name: string, config: TopicConfig): Promise<TopicInfo>;
  /**
   * Sets `fields` of the topic's configuration to those of `config` (all of them when absent),
   * as the configuration is when the change commits.
   */
  updateTopic(
    name: string,
    config: TopicConfig,
    fields?: readonly TopicConfigField[],
  ): Promise<TopicInfo>;
  deleteTopic(name: string): Promise<void>;
  servers(): ServerInfo[];
  /** Whether this node leads: writes are only accepted by the leader (others forward them). */
  isLeader(): boolean;
  /**
   * While this node leads, a number for this period of leadership (each period's writes commit
   * as a prefix of what it proposed); undefined otherwise.
   */
  leadership(): number | undefined;
  /**
   * Throws why this node answers no client call now (it was removed, lost acknowledged entries,
   * is replaying its log or joining); the broker's own client methods check it too.
   */
  requireServing(): void;
  /** Why this node should take no client traffic now (e.g. starting), or undefined. */
  notReadyReason(): string | undefined;
  /** The leader as far as this node knows; undefined while no leader is known. */
  leader(): { id: string; address: string | undefined } | undefined;
  close(): Promise<void>;
}

// The replicated state machine: topics (each a log) and the address of every server. Offsets are
// assigned here, at apply, so every replica holds byte-identical topic logs.
//
// Topic logs are not fsynced per write: the Raft log is the durable record. A checkpoint (the
// Raft snapshot) syncs every topic log and records each topic's next offset; on restart the
// topics are cut back to the checkpoint and the Raft log replays what follows.
//
// A snapshot from the leader is installed whole: its topics are fetched into
// `<dir>/topics.staging` (marked complete last), then swapped in by rename.
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { TidelogError } from "../errors.js";
import { fsyncDirectory } from "../log/fsync-directory.js";
import { Log, type StoredRecord } from "../log/log.js";
import type { LogOptions } from "../log/log-options.js";
import { type TopicConfig, TopicRegistry, writeConfig } from "../log/topic-registry.js";
import type { ApplyOutcome, StateMachine } from "../raft/driver/raft-node.js";
import type { Entry, Snapshot } from "../raft/index.js";
import { type Command, decodeCommand } from "./commands.js";

/** Refusals every replica makes alike, from the command and the state alone (no I/O involved). */
const deterministicRefusals = new Set(["not_found", "already_exists", "invalid_argument"]);

export interface SnapshotTopic {
  name: string;
  config: TopicConfig;
  /** The topic's next offset as of the snapshot's index. */
  nextOffset: number;
}

export interface SnapshotState {
  topics: SnapshotTopic[];
  servers: { id: string; address: string }[];
}

/** Streams one topic's records [fromOffset, endOffset) from the node that sent a snapshot. */
export type SnapshotFetcher = (request: {
  from: string;
  address: string;
  snapshotIndex: number;
  topic: string;
  endOffset: number;
}) => AsyncIterable<StoredRecord[]>;

export function encodeSnapshotState(state: SnapshotState): Uint8Array {
  return Buffer.from(JSON.stringify(state), "utf8");
}

export function decodeSnapshotState(data: Uint8Array): SnapshotState {
  if (data.length === 0) return { topics: [], servers: [] };
  return JSON.parse(Buffer.from(data).toString("utf8")) as SnapshotState;
}

const completeMarker = "COMPLETE";

export class TopicStateMachine implements StateMachine {
  private registryValue: TopicRegistry;
  readonly servers = new Map<string, string>();
  private readonly changeListeners = new Set<() => void>();

  private constructor(
    private readonly directory: string,
    registry: TopicRegistry,
    private readonly logOptions: Partial<LogOptions>,
  ) {
    this.registryValue = registry;
  }

  /**
   * Opens the topics in `directory` and brings them back to `snapshot`'s state: the Raft log
   * replays whatever the node applied after it.
   */
  static async open(
    directory: string,
    snapshot: Snapshot,
    logOptions: Partial<LogOptions> = {},
  ): Promise<TopicStateMachine> {
    await mkdir(directory, { recursive: true });
    await finishInterruptedSwap(directory, snapshot.metadata.index);
    const registry = await TopicRegistry.open(join(directory, "topics"), { logOptions });
    const machine = new TopicStateMachine(directory, registry, logOptions);
    const state = decodeSnapshotState(snapshot.data);
    const wanted = new Map(state.topics.map((topic) => [topic.name, topic]));
    for (const topic of registry.list()) {
      const target = wanted.get(topic.name);
      if (target === undefined) {
        await registry.delete(topic.name);
        continue;
      }
      if (topic.log.nextOffset < target.nextOffset) {
        throw new TidelogError(
          "data_loss",
          `topic ${topic.name} ends at ${topic.log.nextOffset} but the checkpoint says ${target.nextOffset}; the data directory is damaged`,
        );
      }
      await topic.log.truncateSuffix(target.nextOffset);
    }
    for (const target of state.topics) {
      if (registry.get(target.name) === undefined) {
        throw new TidelogError(
          "data_loss",
          `topic ${target.name} of the checkpoint is missing; the data directory is damaged`,
        );
      }
    }
    for (const server of state.servers) machine.servers.set(server.id, server.address);
    return machine;
  }

  get registry(): TopicRegistry {
    return this.registryValue;
  }

  /** Called after every applied command and restore (for readers waiting on topics). */
  onChange(listener: () => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /**
   * Applies entries in order. Consecutive appends to existing topics are issued without waiting
   * for each other (each log keeps them in order and coalesces their writes); anything else waits
   * for them first, so the outcome is the same as one-by-one application.
   */
  async applyBatch(entries: readonly Entry[]): Promise<ApplyOutcome[]> {
    const outcomes: ApplyOutcome[] = new Array(entries.length);
    const inFlight: { index: number; write: Promise<number> }[] = [];
    const settleInFlight = async () => {
      for (const { index, write } of inFlight.splice(0))
        outcomes[index] = { ok: true, result: await write };
    };
    try {
      for (const [index, entry] of entries.entries()) {
        if (entry.data.length === 0) {
          outcomes[index] = { ok: true, result: undefined };
          continue;
        }
        const command = decodeCommand(entry.data);
        if (command.kind === "append") {
          const topic = this.registry.get(command.append.topic);
          if (topic !== undefined) {
            inFlight.push({ index, write: topic.log.append(command.append.records) });
            continue;
          }
        }
        await settleInFlight();
        outcomes[index] = await this.applyOne(command);
      }
      await settleInFlight();
    } finally {
      // A failed write still leaves the others in flight: never leave a rejection unobserved.
      for (const { write } of inFlight) write.catch(() => undefined);
      this.notify();
    }
    return outcomes;
  }

  /** One command whose refusal (not I/O failure) is deterministic. */
  private async applyOne(command: Command): Promise<ApplyOutcome> {
    const refuse = (error: unknown): ApplyOutcome => {
      if (
        error instanceof TidelogError &&
        (deterministicRefusals.has(error.code) || error.details.deterministic === true)
      ) {
        return { ok: false, error };
      }
      throw error;
    };
    try {
      if (command.kind === "append") {
        const { topic: name, createIfMissing, records } = command.append;
        const topic = createIfMissing
          ? await this.registry.ensure(name)
          : this.registry.require(name);
        return { ok: true, result: await topic.log.append(records) };
      }
      const admin = command.admin;
      switch (admin.op) {
        case "createTopic":
          return { ok: true, result: await this.registry.create(admin.name, admin.config) };
        case "updateTopic":
          return { ok: true, result: await this.registry.update(admin.name, admin.config) };
        case "deleteTopic":
          return { ok: true, result: await this.registry.delete(admin.name) };
        case "registerServer":
          this.servers.set(admin.id, admin.address);
          return { ok: true, result: undefined };
        case "unregisterServer":
          this.servers.delete(admin.id);
          return { ok: true, result: undefined };
      }
    } catch (error) {
      return refuse(error);
    }
  }

  async checkpoint(): Promise<Uint8Array> {
    const topics: SnapshotTopic[] = [];
    for (const topic of this.registry.list()) {
      await topic.log.sync();
      topics.push({
        name: topic.name,
        config: { ...topic.config },
        nextOffset: topic.log.nextOffset,
      });
    }
    const servers = [...this.servers].map(([id, address]) => ({ id, address }));
    return encodeSnapshotState({ topics, servers });
  }

  /**
   * Fetches a snapshot's topics from the node that sent it into the staging directory, durably,
   * before the Raft core sees the snapshot.
   */
  async prepareSnapshot(snapshot: Snapshot, from: string, fetch: SnapshotFetcher): Promise<void> {
    const state = decodeSnapshotState(snapshot.data);
    const address = state.servers.find((server) => server.id === from)?.address;
    if (address === undefined)
      throw new TidelogError(
        "failed_precondition",
        `snapshot from ${from}, whose address it does not list`,
      );
    const staging = join(this.directory, "topics.staging");
    await rm(staging, { recursive: true, force: true });
    await mkdir(staging, { recursive: true });
    for (const topic of state.topics) {
      const directory = join(staging, topic.name);
      const records = fetch({
        from,
        address,
        snapshotIndex: snapshot.metadata.index,
        topic: topic.name,
        endOffset: topic.nextOffset,
      });
      const options = { ...this.logOptions, initialOffset: topic.nextOffset };
      if (topic.config.segmentBytes > 0) options.segmentBytesMax = topic.config.segmentBytes;
      const log = await Log.restore(directory, records, options);
      const next = log.nextOffset;
      await log.close();
      if (next !== topic.nextOffset) {
        throw new TidelogError(
          "unavailable",
          `snapshot fetch of ${topic.name} ended at ${next}, expected ${topic.nextOffset}`,
        );
      }
      await writeConfig(directory, topic.config);
    }
    await writeFile(join(staging, completeMarker), String(snapshot.metadata.index), {
      flush: true,
    });
    await fsyncDirectory(staging);
  }

  /** Swaps in the topics prepareSnapshot fetched for `snapshot`. */
  async restore(snapshot: Snapshot): Promise<void> {
    const staging = join(this.directory, "topics.staging");
    const marker = await readFile(join(staging, completeMarker), "utf8").catch(() => "");
    if (marker !== String(snapshot.metadata.index)) {
      throw new Error(
        `snapshot ${snapshot.metadata.index} was not prepared (staging holds ${marker || "nothing"})`,
      );
    }
    await this.registry.close();
    await swapIn(this.directory);
    this.registryValue = await TopicRegistry.open(join(this.directory, "topics"), {
      logOptions: this.logOptions,
    });
    const state = decodeSnapshotState(snapshot.data);
    this.servers.clear();
    for (const server of state.servers) this.servers.set(server.id, server.address);
    this.notify();
  }

  async close(): Promise<void> {
    await this.registry.close();
  }

  private notify(): void {
    for (const listener of this.changeListeners) listener();
  }
}

/**
 * Finishes a snapshot install that a crash interrupted: when the staging directory holds the
 * complete content of the snapshot Raft has persisted, it becomes the topics directory.
 */
async function finishInterruptedSwap(directory: string, snapshotIndex: number): Promise<void> {
  const staging = join(directory, "topics.staging");
  const current = join(directory, "topics");
  const old = join(directory, "topics.old");
  const marker = await readFile(join(staging, completeMarker), "utf8").catch(() => "");
  if (marker === String(snapshotIndex)) await swapIn(directory);
  await rm(staging, { recursive: true, force: true });
  await rm(old, { recursive: true, force: true });
  await rm(join(current, completeMarker), { force: true });
}

/** topics.staging becomes topics (the old one is removed). */
async function swapIn(directory: string): Promise<void> {
  const staging = join(directory, "topics.staging");
  const current = join(directory, "topics");
  const old = join(directory, "topics.old");
  await rm(old, { recursive: true, force: true });
  if ((await stat(current).catch(() => undefined)) !== undefined) await rename(current, old);
  await rename(staging, current);
  await fsyncDirectory(directory);
  await rm(old, { recursive: true, force: true });
  await rm(join(current, completeMarker), { force: true });
}

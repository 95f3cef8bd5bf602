// The replicated state machine: topics (each a log) and the address of every server. Offsets are
// assigned here, at apply, so every replica holds byte-identical topic logs.
//
// Topic logs are not fsynced per write: the Raft log is the durable record. A checkpoint (the
// Raft snapshot) syncs every topic log and records each topic's next offset; on restart the
// topics are cut back to the checkpoint and the Raft log replays what follows.
//
// A snapshot from the leader is installed whole: its topics are built in
// `<dir>/topics.staging-<index>` (marked complete last), then swapped in by rename. Each snapshot
// has its own staging directory: one prepared and handed to Raft stays as it is until Raft
// installs it, whatever other snapshots arrive meanwhile (with one shared directory, the next
// one's preparation emptied it under the install, and the node never started again). A topic
// this node already holds (the same one: created by the same Raft entry) is built from its own
// records up to where it ends here (or up to a damaged record), and only the rest is fetched: from
// the leader, or where it cannot serve, from another member.
import { lstat, mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isTidelogError, TidelogError } from "../errors.js";
import { eachAtOnce } from "../log/each-at-once.js";
import { fsyncDirectory } from "../log/fsync-directory.js";
import { Log, type StoredRecord } from "../log/log.js";
import type { LogOptions } from "../log/log-options.js";
import { TopicRegistry, withFields, writeConfig } from "../log/topic-registry.js";
import { logError } from "../obs/logger.js";
import { RateLimitedLog } from "../obs/rate-limited-log.js";
import type { ApplyOutcome, StateMachine } from "../raft/driver/raft-node.js";
import type { ConfChange, Entry, Snapshot } from "../raft/index.js";
import { type Command, decodeCommand } from "./commands.js";
import { MemberRemovals } from "./member-removals.js";
import { fetchFromAny, snapshotSources } from "./snapshot-sources.js";
import {
  decodeSnapshotState,
  encodeSnapshotState,
  type SnapshotState,
  type SnapshotTopic,
} from "./snapshot-state.js";

/** Refusals every replica makes alike, from the command and the state alone (no I/O involved). */
const deterministicRefusals = new Set(["not_found", "already_exists", "invalid_argument"]);
/** Topic creations and deletions after which a checkpoint is due (wantsCheckpoint). */
const topicChangesPerCheckpoint = 1_000;
/** Topic logs synced at once by a checkpoint. */
const checkpointSyncsAtOnce = 16;
/** Topics a snapshot install builds at once. */
const snapshotTopicsAtOnce = 8;
/** A warning repeated on every snapshot attempt is written at most this often (per kind). */
const repeatedWarningIntervalMs = 10_000;

/** Streams one topic's records [fromOffset, endOffset) from one member (`from`, at `address`). */
export type SnapshotFetcher = (request: {
  from: string;
  address: string;
  snapshotIndex: number;
  topic: string;
  /** The topic's createdIndex in the snapshot (0: unknown): the sender refuses another topic. */
  createdIndex: number;
  fromOffset: number;
  endOffset: number;
}) => AsyncIterable<StoredRecord[]>;

/** How a snapshot's topic was built: records copied from this node's own log, and fetched. */
export interface InstalledTopic {
  name: string;
  reused: number;
  fetched: number;
}

/**
 * The file that says a staged snapshot is complete. Its name is no topic name ('#' is outside
 * their alphabet): as "COMPLETE" it clashed with a topic of that name, which stopped every
 * replica at its next start and every snapshot install.
 */
const completeMarker = "#complete";
/** The marker's name before: a file of it may be left in a topics directory by an older node. */
const legacyCompleteMarker = "COMPLETE";
/** Where a snapshot's topics are built ("topics.staging" alone by older nodes). */
const stagingPrefix = "topics.staging";

function stagingName(index: number): string {
  return `${stagingPrefix}-${index}`;
}

/**
 * The entry's command, or undefined when its bytes are not one. Peers refuse such entries
 * (raft-service.ts), but one committed anyway (by an older version, or a faulty leader) is the
 * same bytes on every replica, so every replica refuses it alike, as a no-op: stopping instead
 * would stop every replica for good, at every restart.
 */
function decodeOrRefuse(entry: Entry): Command | undefined {
  try {
    return decodeCommand(entry.data);
  } catch (error) {
    logError(`committed entry ${entry.index} is not a command; applied as a no-op`, String(error));
    return undefined;
  }
}

function malformed(entry: Entry): TidelogError {
  return new TidelogError("data_loss", `entry ${entry.index} is not a command`);
}

export class TopicStateMachine implements StateMachine {
  private registryValue: TopicRegistry;
  readonly servers = new Map<string, string>();
  /** Members removed and not added again (told so when they reach this node). */
  readonly removals = new MemberRemovals();
  /** Each topic's createdIndex (see SnapshotTopic), where known. */
  private readonly createdAt = new Map<string, number>();
  /** Topics created or deleted since the last checkpoint (see wantsCheckpoint). */
  private topicChangesSinceCheckpoint = 0;
  /** A topic was deleted since the last checkpoint (see wantsCheckpoint). */
  private deletedSinceCheckpoint = false;
  private readonly changeListeners = new Set<() => void>();
  /** Damaged local topics and peers that could not serve a snapshot (it is retried each tick). */
  private readonly warnings = new RateLimitedLog(repeatedWarningIntervalMs);
  /**
   * Snapshots prepared or being prepared, by index, until a later one is installed. A leader
   * sends a snapshot again every tick until it is acknowledged, also while Raft installs it: the
   * same one sent again gets the same preparation, never a second one into the directory an
   * install may be renaming. A failed preparation is forgotten (the next try starts over).
   */
  private readonly prepared = new Map<number, Promise<InstalledTopic[]>>();
  /** Indexes of the preparations still running (their staging directories are being written). */
  private readonly building = new Set<number>();

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
    deletedAfterSnapshot: ReadonlySet<string> = new Set(),
    registryOptions: { topicsMax?: number } = {},
  ): Promise<TopicStateMachine> {
    await mkdir(directory, { recursive: true });
    await finishInterruptedSwap(directory, snapshot.metadata.index);
    let state: SnapshotState;
    try {
      state = decodeSnapshotState(snapshot.data);
    } catch (error) {
      // Read from this node's disk: say which file (a damaged checksum line lands here).
      throw new TidelogError(
        "data_loss",
        `this node's checkpoint (the Raft snapshot file, ${join(directory, "raft", "snapshot")}) is damaged: ${(error as Error).message}`,
      );
    }
    const wanted = new Map(state.topics.map((topic) => [topic.name, topic]));
    // Not in the checkpoint (created after it), or deleted by a committed entry after it (what
    // is on disk may be a later topic of that name): dropped unopened, the Raft log replays what
    // follows.
    const registry = await TopicRegistry.open(
      join(directory, "topics"),
      { logOptions, ...registryOptions },
      (name) => !wanted.has(name) || deletedAfterSnapshot.has(name),
    );
    const machine = new TopicStateMachine(directory, registry, logOptions);
    for (const topic of registry.list()) {
      const target = wanted.get(topic.name)!;
      if (topic.log.nextOffset < target.nextOffset) {
        throw new TidelogError(
          "data_loss",
          `topic ${topic.name} ends at ${topic.log.nextOffset} but the checkpoint says ${target.nextOffset}; the data directory is damaged`,
        );
      }
      await topic.log.truncateSuffix(target.nextOffset);
    }
    for (const target of state.topics) {
      if (registry.get(target.name) !== undefined) continue;
      if (!deletedAfterSnapshot.has(target.name)) {
        throw new TidelogError(
          "data_loss",
          `topic ${target.name} of the checkpoint is missing; the data directory is damaged`,
        );
      }
      // Deleted by a committed entry after the checkpoint, which the Raft log replays: until then
      // the topic is back as of the checkpoint, without the records it held then (as if retention
      // had removed them), so that what the log replays into it takes the offsets it took before.
      await registry.create(target.name, target.config, target.nextOffset);
    }
    for (const server of state.servers) machine.servers.set(server.id, server.address);
    machine.removals.replace(state.removed ?? []);
    machine.rememberCreated(state);
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
        const command = decodeOrRefuse(entry);
        if (command === undefined) {
          await settleInFlight();
          outcomes[index] = { ok: false, error: malformed(entry) };
          continue;
        }
        if (command.kind === "append") {
          const topic = this.registry.get(command.append.topic);
          if (topic !== undefined) {
            const { frames, count } = command.append;
            inFlight.push({ index, write: topic.log.appendFrames(frames, count) });
            continue;
          }
        }
        await settleInFlight();
        outcomes[index] = await this.applyOne(command, entry.index);
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
  private async applyOne(command: Command, entryIndex: number): Promise<ApplyOutcome> {
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
        const { topic: name, createIfMissing, frames, count } = command.append;
        let topic = this.registry.get(name);
        if (topic === undefined && createIfMissing) {
          topic = await this.registry.ensure(name);
          this.createdAt.set(name, entryIndex);
          this.topicChangesSinceCheckpoint++;
        }
        topic ??= this.registry.require(name);
        return { ok: true, result: await topic.log.appendFrames(frames, count) };
      }
      const admin = command.admin;
      switch (admin.op) {
        case "createTopic": {
          const created = await this.registry.create(admin.name, admin.config);
          this.createdAt.set(admin.name, entryIndex);
          this.topicChangesSinceCheckpoint++;
          return { ok: true, result: created };
        }
        case "updateTopic": {
          const config =
            admin.fields === undefined
              ? admin.config
              : withFields(this.registry.require(admin.name).config, admin.config, admin.fields);
          return { ok: true, result: await this.registry.update(admin.name, config) };
        }
        case "deleteTopic": {
          const deleted = await this.registry.delete(admin.name);
          this.createdAt.delete(admin.name);
          this.topicChangesSinceCheckpoint++;
          this.deletedSinceCheckpoint = true;
          return { ok: true, result: deleted };
        }
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

  /**
   * A restart drops the topics created after the last checkpoint and replays their creation
   * (node.ts): thousands of them made a restart take a minute. After this many topic changes,
   * a checkpoint is due whatever the Raft log's size. So is one after a topic deletion: a
   * snapshot that lists a deleted topic can be installed by no node (no member serves the topic's
   * records any more), so joiners and lagging followers waited, in a quiet cluster for good,
   * until the leader took a later one.
   */
  wantsCheckpoint(): boolean {
    return (
      this.deletedSinceCheckpoint || this.topicChangesSinceCheckpoint >= topicChangesPerCheckpoint
    );
  }

  applyConfChange(change: ConfChange, index: number): void {
    this.removals.apply(change, index);
  }

  async checkpoint(): Promise<Uint8Array> {
    this.topicChangesSinceCheckpoint = 0;
    this.deletedSinceCheckpoint = false;
    const listed = this.registry.list();
    const topics: SnapshotTopic[] = new Array(listed.length);
    // Many topics synced at once: one at a time, each a thread-pool round trip (and an fsync
    // for those written since the last checkpoint), this held the Raft loop for seconds.
    await eachAtOnce(listed, checkpointSyncsAtOnce, async (topic, i) => {
      await topic.log.sync();
      const createdIndex = this.createdAt.get(topic.name);
      topics[i] = {
        name: topic.name,
        config: { ...topic.config },
        nextOffset: topic.log.nextOffset,
        ...(createdIndex === undefined ? {} : { createdIndex }),
      };
    });
    const servers = [...this.servers].map(([id, address]) => ({ id, address }));
    return encodeSnapshotState({ topics, servers, removed: this.removals.list() });
  }

  /**
   * Builds a snapshot's topics in the staging directory, durably, before the Raft core sees the
   * snapshot: from this node's own records where it holds the same topic, the rest fetched from
   * the node that sent the snapshot, at the address it gave with the snapshot (`senderAddress`,
   * checked host:port), else the one the snapshot lists for it. A snapshot need not list its
   * sender: a cluster's first snapshot lists the bootstrap node alone, and a leader elected later
   * sends it as it is until it takes one of its own (every 50,000 entries): every Join through
   * such a leader failed. Where the sender cannot serve a topic (a damaged record there, or it is
   * gone), the other members are asked in turn (snapshot-sources.ts).
   *
   * This node's own records are read through their CRCs: where one is damaged, the records
   * before the batch that holds it are kept and everything from there on is fetched, so the
   * damaged record is not carried into the new topic log (it is replaced by the peer's copy).
   */
  prepareSnapshot(
    snapshot: Snapshot,
    message: { from: string; to: string; senderAddress: string },
    fetch: SnapshotFetcher,
  ): Promise<InstalledTopic[]> {
    const index = snapshot.metadata.index;
    const known = this.prepared.get(index);
    if (known !== undefined) return known;
    this.building.add(index);
    const work = this.prepareInto(snapshot, message, fetch).finally(() =>
      this.building.delete(index),
    );
    this.prepared.set(index, work);
    work.catch(() => {
      if (this.prepared.get(index) === work) this.prepared.delete(index);
    });
    return work;
  }

  private async prepareInto(
    snapshot: Snapshot,
    message: { from: string; to: string; senderAddress: string },
    fetch: SnapshotFetcher,
  ): Promise<InstalledTopic[]> {
    const state = decodeSnapshotState(snapshot.data);
    const { from, to, senderAddress } = message;
    const address =
      senderAddress !== ""
        ? senderAddress
        : state.servers.find((server) => server.id === from)?.address;
    if (address === undefined)
      throw new TidelogError(
        "failed_precondition",
        `snapshot from ${from}, which gave no address, and the snapshot lists none for it`,
      );
    const sources = snapshotSources({ id: from, address }, to, [
      state.servers.map((server) => [server.id, server.address] as const),
      this.servers,
    ]);
    const staging = join(this.directory, stagingName(snapshot.metadata.index));
    await rm(staging, { recursive: true, force: true });
    await mkdir(staging, { recursive: true });
    const installed: InstalledTopic[] = new Array(state.topics.length);
    // Several topics at once: each waits on its fetch's round trips and its fsyncs, so a snapshot
    // of thousands of small topics took ~10 ms per topic one at a time.
    await eachAtOnce(state.topics, snapshotTopicsAtOnce, async (topic, i) => {
      const directory = join(staging, topic.name);
      const options = { ...this.logOptions, initialOffset: topic.nextOffset };
      if (topic.config.segmentBytes > 0) options.segmentBytesMax = topic.config.segmentBytes;
      const fetchFrom = (fromOffset: number) =>
        fetchFromAny(
          fetch,
          sources,
          {
            snapshotIndex: snapshot.metadata.index,
            topic: topic.name,
            createdIndex: topic.createdIndex ?? 0,
            fromOffset,
            endOffset: topic.nextOffset,
          },
          this.warnings,
        );
      const counts = { name: topic.name, reused: 0, fetched: 0 };
      const local = this.reusableLocalLog(topic);
      let log: Log | undefined;
      if (local !== undefined) {
        const localEnd = local.nextOffset;
        try {
          log = await Log.restore(
            directory,
            this.intactThenFetched(topic.name, local, localEnd, fetchFrom, counts),
            options,
          );
        } catch (error) {
          // The sender no longer holds the records that follow ours (its retention dropped them):
          // build the topic from the sender's records alone.
          if (!(error instanceof TidelogError) || error.code !== "invalid_argument") throw error;
          counts.reused = 0;
          counts.fetched = 0;
        }
      }
      log ??= await Log.restore(directory, countRecords(fetchFrom(0), counts, "fetched"), options);
      const next = log.nextOffset;
      await log.close();
      if (next !== topic.nextOffset) {
        throw new TidelogError(
          "unavailable",
          `snapshot fetch of ${topic.name} ended at ${next}, expected ${topic.nextOffset}`,
        );
      }
      await writeConfig(directory, topic.config);
      installed[i] = counts;
    });
    await writeFile(join(staging, completeMarker), String(snapshot.metadata.index), {
      flush: true,
    });
    await fsyncDirectory(staging);
    // Raft persists the snapshot once it sees it: its staging directory must outlive a crash.
    await fsyncDirectory(this.directory);
    return installed;
  }

  /**
   * This node's records of a topic from its lowest offset up to `localEnd`, as long as they read
   * intact (every frame's CRC is checked on read), then the rest fetched from peers: from
   * `localEnd`, or from the first damaged record. The records before that one are kept (they
   * passed their CRCs); it and everything after it come from a peer.
   */
  private async *intactThenFetched(
    name: string,
    local: Log,
    localEnd: number,
    fetchFrom: (fromOffset: number) => AsyncIterable<StoredRecord[]>,
    counts: InstalledTopic,
  ): AsyncIterable<StoredRecord[]> {
    let next = local.lowestOffset;
    let end = localEnd;
    let warned = false;
    // A read fails as a whole at a damaged record: read again up to it. `end` only decreases.
    while (next < end) {
      try {
        for await (const batch of local.stream({ fromOffset: next, endOffset: end })) {
          next = batch.at(-1)!.offset + 1;
          counts.reused += batch.length;
          yield batch;
        }
        break;
      } catch (error) {
        if (!isTidelogError(error, "data_loss")) throw error;
        const damaged = error.details.offset;
        if (!warned) {
          warned = true;
          this.warnings.warn(
            "local-topic-damaged",
            `topic ${name} is damaged here: ${error.message}; the records before it are kept, the rest up to the snapshot's end is fetched from a peer, and the damaged copy is discarded`,
            { topic: name, damagedOffset: damaged },
          );
        }
        if (typeof damaged !== "number" || damaged <= next || damaged >= end) break;
        end = damaged;
      }
    }
    yield* countRecords(fetchFrom(next), counts, "fetched");
  }

  /**
   * This node's log of `topic` when it is the same topic (created by the same Raft entry) and
   * ends at or before the snapshot's end: its records are the snapshot's records at those offsets
   * (offsets are assigned at apply, identically on every replica).
   */
  private reusableLocalLog(topic: SnapshotTopic): Log | undefined {
    if (topic.createdIndex === undefined) return undefined;
    if (this.createdAt.get(topic.name) !== topic.createdIndex) return undefined;
    const local = this.registry.get(topic.name)?.log;
    if (local === undefined || local.nextOffset > topic.nextOffset) return undefined;
    if (local.nextOffset === local.lowestOffset) return undefined;
    return local;
  }

  /** The createdIndex a topic of this name has here, if known. */
  createdIndex(name: string): number | undefined {
    return this.createdAt.get(name);
  }

  private rememberCreated(state: SnapshotState): void {
    this.createdAt.clear();
    for (const topic of state.topics)
      if (topic.createdIndex !== undefined) this.createdAt.set(topic.name, topic.createdIndex);
  }

  /** Swaps in the topics prepareSnapshot fetched for `snapshot`. */
  async restore(snapshot: Snapshot): Promise<void> {
    const index = snapshot.metadata.index;
    const staging = stagingName(index);
    const marker = await readFile(join(this.directory, staging, completeMarker), "utf8").catch(
      () => "",
    );
    if (marker !== String(index)) {
      throw new Error(
        `snapshot ${index} was not prepared (its staging directory holds ${marker || "nothing"})`,
      );
    }
    await this.registry.close();
    await swapIn(this.directory, staging);
    // Snapshots older than this one can no longer be installed; newer ones may still be. This
    // one stays known as prepared: sent again, it is not fetched again.
    for (const other of this.prepared.keys()) if (other < index) this.prepared.delete(other);
    await removeStagings(this.directory, (other) => other < index && !this.building.has(other));
    this.registryValue = await TopicRegistry.open(join(this.directory, "topics"), {
      logOptions: this.logOptions,
    });
    const state = decodeSnapshotState(snapshot.data);
    this.servers.clear();
    for (const server of state.servers) this.servers.set(server.id, server.address);
    this.removals.replace(state.removed ?? []);
    this.rememberCreated(state);
    this.topicChangesSinceCheckpoint = 0;
    this.deletedSinceCheckpoint = false;
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
 * Finishes a snapshot install that a crash interrupted: when a staging directory holds the
 * complete content of the snapshot Raft has persisted, it becomes the topics directory. Every
 * other staging directory is removed: no snapshot is being prepared at start.
 */
async function finishInterruptedSwap(directory: string, snapshotIndex: number): Promise<void> {
  const current = join(directory, "topics");
  for (const name of [stagingName(snapshotIndex), stagingPrefix]) {
    const marker = await readFile(join(directory, name, completeMarker), "utf8").catch(() => "");
    if (marker === String(snapshotIndex)) {
      await swapIn(directory, name);
      break;
    }
  }
  await removeStagings(directory, () => true);
  await rm(join(directory, "topics.old"), { recursive: true, force: true });
  await rm(join(current, completeMarker), { force: true });
  // A directory of that name is a topic's.
  const legacy = join(current, legacyCompleteMarker);
  if ((await lstat(legacy).catch(() => undefined))?.isFile()) await rm(legacy);
}

/**
 * Removes the staging directories of the snapshots `stale` says (by index; the unnumbered one of
 * older nodes counts as index -1).
 */
async function removeStagings(directory: string, stale: (index: number) => boolean) {
  for (const name of await readdir(directory)) {
    let index: number;
    if (name === stagingPrefix) index = -1;
    else if (name.startsWith(`${stagingPrefix}-`))
      index = Number(name.slice(stagingPrefix.length + 1));
    else continue;
    if (Number.isSafeInteger(index) && stale(index))
      await rm(join(directory, name), { recursive: true, force: true });
  }
}

/** The staging directory `staging` becomes topics (the old one is removed). */
async function swapIn(directory: string, staging: string): Promise<void> {
  const current = join(directory, "topics");
  const old = join(directory, "topics.old");
  await rm(old, { recursive: true, force: true });
  if ((await stat(current).catch(() => undefined)) !== undefined) await rename(current, old);
  await rename(join(directory, staging), current);
  await fsyncDirectory(directory);
  await rm(old, { recursive: true, force: true });
  await rm(join(current, completeMarker), { force: true });
}

/** Passes batches through, counting their records as `kind`. */
async function* countRecords(
  source: AsyncIterable<StoredRecord[]>,
  counts: InstalledTopic,
  kind: "reused" | "fetched",
): AsyncIterable<StoredRecord[]> {
  for await (const batch of source) {
    counts[kind] += batch.length;
    yield batch;
  }
}

// Topics: each a log in its own directory `<dataDir>/<name>/` with its configuration in
// `topic.json`. Creation and deletion are crash-safe: a topic is created in a `.creating-*`
// directory and renamed into place, and deleted by renaming it to `.deleted-*` before removal;
// leftovers of either are cleaned on open.
import { randomBytes } from "node:crypto";
import { mkdir, readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { TidelogError } from "../errors.js";
import { readChecksummedFile, writeChecksummedFile } from "./checksummed-file.js";
import { eachAtOnce } from "./each-at-once.js";
import { fsyncDirectory } from "./fsync-directory.js";
import { Log } from "./log.js";
import { type LogOptions, resolveLogOptions } from "./log-options.js";
import { SerialExecutor } from "./serial-executor.js";
import { checkTopicName, creatingPrefix, deletingPrefix } from "./topic-name.js";

export interface TopicConfig {
  /** 0 = unlimited. */
  retentionBytes: number;
  /** 0 = unlimited. */
  retentionMs: number;
  /** 0 = the registry's default segment size. */
  segmentBytes: number;
}

/** The fields of a topic's configuration, each changeable alone (UpdateTopic's mask). */
export type TopicConfigField = keyof TopicConfig;
export const topicConfigFields: readonly TopicConfigField[] = [
  "retentionBytes",
  "retentionMs",
  "segmentBytes",
];

/** `current` with the `fields` of `wanted`. */
export function withFields(
  current: TopicConfig,
  wanted: TopicConfig,
  fields: readonly TopicConfigField[],
): TopicConfig {
  const config = { ...current };
  for (const field of fields) config[field] = wanted[field];
  return config;
}

export const defaultTopicConfig: TopicConfig = {
  retentionBytes: 0,
  retentionMs: 0,
  segmentBytes: 0,
};

export interface Topic {
  readonly name: string;
  config: TopicConfig;
  readonly log: Log;
}

export interface TopicRegistryOptions {
  /** Options for every topic's log; a topic's segmentBytes overrides segmentBytesMax. */
  logOptions: Partial<LogOptions>;
  /** The most topics the registry holds; creating more fails with resource_exhausted. */
  topicsMax: number;
}

const configFileName = "topic.json";

/**
 * A staging directory name. Not derived from the topic name: a prefix plus a 249-character name
 * exceeds the 255-byte file-name limit (ENAMETOOLONG).
 */
function stagingName(prefix: string): string {
  return `${prefix}${randomBytes(8).toString("hex")}`;
}

export class TopicRegistry {
  private readonly topics = new Map<string, Topic>();
  private readonly serial = new SerialExecutor();
  private closed = false;

  private constructor(
    readonly directory: string,
    private readonly options: TopicRegistryOptions,
  ) {}

  /**
   * Opens the topics under `directory`. Those `discard` names are removed unopened (a state
   * machine drops the topics its checkpoint lacks: opening each first, and deleting it with a
   * directory sync of its own, took seconds for thousands), with the leftovers of an interrupted
   * create or delete.
   */
  static async open(
    directory: string,
    options: Partial<TopicRegistryOptions> = {},
    discard: (name: string) => boolean = () => false,
  ): Promise<TopicRegistry> {
    const registry = new TopicRegistry(directory, {
      logOptions: {},
      topicsMax: 10_000,
      ...options,
    });
    await mkdir(directory, { recursive: true });
    const names = (await readdir(directory, { withFileTypes: true }))
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name);
    const isStaging = (name: string) =>
      name.startsWith(creatingPrefix) || name.startsWith(deletingPrefix);
    const kept = names.filter((name) => !isStaging(name) && !discard(name));
    const discarded = names.filter((name) => !isStaging(name) && discard(name));
    const doomed = names.filter(isStaging);
    for (const name of discarded) {
      const staged = stagingName(deletingPrefix);
      await rename(join(directory, name), join(directory, staged));
      doomed.push(staged);
    }
    if (discarded.length > 0) await fsyncDirectory(directory);
    await eachAtOnce(doomed, openConcurrency, (name) =>
      rm(join(directory, name), { recursive: true, force: true }),
    );
    // Several topics open at once: each open is a chain of small file operations, each a round
    // trip to the thread pool; one at a time, 2,000 topics took 9 s, mostly waiting.
    try {
      await eachAtOnce(kept, openConcurrency, async (name) => {
        const config = await readConfig(join(directory, name));
        if (config === undefined) return;
        const log = await Log.open(join(directory, name), registry.logOptionsFor(config));
        registry.topics.set(name, { name, config, log });
      });
    } catch (error) {
      await Promise.all([...registry.topics.values()].map((topic) => topic.log.close()));
      throw error;
    }
    return registry;
  }

  get(name: string): Topic | undefined {
    return this.topics.get(name);
  }

  /** The topic, or not_found. */
  require(name: string): Topic {
    const topic = this.topics.get(name);
    if (topic === undefined) {
      checkTopicName(name); // a name no topic can have is the caller's error, not a missing topic
      throw new TidelogError("not_found", `topic ${JSON.stringify(name)} does not exist`, {
        topic: name,
      });
    }
    return topic;
  }

  list(): Topic[] {
    return [...this.topics.values()].sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
  }

  /**
   * Creates a topic; already_exists when it does (use `ensure` for create-if-missing). Its first
   * record takes `initialOffset`, as if retention had removed those before.
   */
  create(
    name: string,
    config: TopicConfig = defaultTopicConfig,
    initialOffset = 0,
  ): Promise<Topic> {
    return this.exclusive(async () => {
      if (this.topics.has(name))
        throw new TidelogError("already_exists", `topic ${JSON.stringify(name)} already exists`, {
          topic: name,
        });
      return this.createLocked(name, config, initialOffset);
    });
  }

  /** The topic, created with the default configuration when missing. */
  async ensure(name: string): Promise<Topic> {
    const existing = this.topics.get(name);
    if (existing !== undefined) return existing;
    return this.exclusive(
      async () => this.topics.get(name) ?? this.createLocked(name, defaultTopicConfig),
    );
  }

  /** Changes retention (applies at the next retention pass); segment size applies to new segments after reopen. */
  update(name: string, config: TopicConfig): Promise<Topic> {
    return this.exclusive(async () => {
      const topic = this.require(name);
      checkConfig(config);
      await writeConfig(join(this.directory, name), config);
      topic.config = config;
      topic.log.setSegmentBytesMax(resolveLogOptions(this.logOptionsFor(config)).segmentBytesMax);
      return topic;
    });
  }

  delete(name: string): Promise<void> {
    return this.exclusive(async () => {
      const topic = this.require(name);
      this.topics.delete(name);
      await topic.log.close();
      const doomed = join(this.directory, stagingName(deletingPrefix));
      await rename(join(this.directory, name), doomed);
      await fsyncDirectory(this.directory);
      await rm(doomed, { recursive: true, force: true });
    });
  }

  /** Applies every topic's retention; returns the number of segments removed. */
  async applyRetention(nowMs: number = Date.now()): Promise<number> {
    let removed = 0;
    for (const topic of this.list()) {
      if (topic.config.retentionBytes === 0 && topic.config.retentionMs === 0) continue;
      removed += await topic.log.applyRetention(
        { retentionBytes: topic.config.retentionBytes, retentionMs: topic.config.retentionMs },
        nowMs,
      );
    }
    return removed;
  }

  async close(): Promise<void> {
    await this.exclusive(async () => {
      this.closed = true;
      await Promise.all([...this.topics.values()].map((topic) => topic.log.close()));
    });
  }

  /**
   * Throws resource_exhausted when `name` is not a topic and no other fits. The count is
   * replicated state, so every replica refuses a create alike (details.deterministic): once a
   * committed create over the limit stopped every replica that applied it, at every restart.
   */
  checkRoomFor(name: string): void {
    if (this.topics.has(name) || this.topics.size < this.options.topicsMax) return;
    throw new TidelogError(
      "resource_exhausted",
      `cannot create more than ${this.options.topicsMax} topics; delete one first`,
      { deterministic: true },
    );
  }

  private async createLocked(name: string, config: TopicConfig, initialOffset = 0): Promise<Topic> {
    if (this.closed) throw new TidelogError("unavailable", "the topic registry is closed");
    checkTopicName(name);
    checkConfig(config);
    this.checkRoomFor(name);
    const staging = join(this.directory, stagingName(creatingPrefix));
    await mkdir(staging);
    await writeConfig(staging, config);
    const final = join(this.directory, name);
    await rename(staging, final);
    await fsyncDirectory(this.directory);
    const log = await Log.open(final, { ...this.logOptionsFor(config), initialOffset });
    const topic: Topic = { name, config, log };
    this.topics.set(name, topic);
    return topic;
  }

  private logOptionsFor(config: TopicConfig): Partial<LogOptions> {
    return config.segmentBytes > 0
      ? { ...this.options.logOptions, segmentBytesMax: config.segmentBytes }
      : this.options.logOptions;
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    return this.serial.run(work);
  }
}

/**
 * The smallest segment a client may ask for (as Redpanda's). Every segment holds a file
 * descriptor and a memory mapping while the topic is open: 1 KiB segments let one client exhaust
 * the process's descriptors with a few MB of records, and the node then stopped (on every
 * replica alike, as they apply the same records).
 */
export const topicSegmentBytesMin = 1024 * 1024;

/** Topics opened, closed or removed at once. */
const openConcurrency = 16;

/** Refuses (invalid_argument) a config a topic cannot have. */
export function checkConfig(config: TopicConfig): void {
  for (const [key, value] of Object.entries(config)) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new TidelogError(
        "invalid_argument",
        `topic config ${key} must be a non-negative integer`,
      );
    }
  }
  if (config.segmentBytes !== 0 && config.segmentBytes < topicSegmentBytesMin) {
    throw new TidelogError(
      "invalid_argument",
      `topic config segment_bytes must be 0 (the server's default) or at least ${topicSegmentBytesMin} (1 MiB), got ${config.segmentBytes}`,
    );
  }
}

export async function writeConfig(directory: string, config: TopicConfig): Promise<void> {
  await writeChecksummedFile(
    join(directory, configFileName),
    Buffer.from(`${JSON.stringify(config)}\n`),
  );
}

/** A topic's configuration; undefined when it has none, data_loss when its file is damaged. */
async function readConfig(directory: string): Promise<TopicConfig | undefined> {
  const path = join(directory, configFileName);
  const contents = await readChecksummedFile(path);
  if (contents === undefined) return undefined;
  let parsed: Partial<TopicConfig>;
  try {
    parsed = JSON.parse(contents.toString("utf8")) as Partial<TopicConfig>;
  } catch {
    throw new TidelogError("data_loss", `${path} is damaged: not JSON`);
  }
  const config = { ...defaultTopicConfig, ...parsed };
  try {
    checkConfig(config);
  } catch (error) {
    throw new TidelogError("data_loss", `${path} is damaged: ${(error as Error).message}`);
  }
  return config;
}

// The state machine's part of a Raft snapshot: each topic's name, configuration and next offset,
// every server's address, and the members removed (member-removals.ts), as JSON. It arrives from peers (an InstallSnapshot) as well as from
// this node's disk, so it is checked whole before anything acts on it: a topic name from it
// names a directory that is emptied and rebuilt, and an address is dialled.
import { TidelogError } from "../errors.js";
import { isPeerAddress } from "../host-port.js";
import { checkTopicName } from "../log/topic-name.js";
import { checkConfig, type TopicConfig } from "../log/topic-registry.js";
import { isNodeId } from "../node-id.js";
import { type Removal, removalsKept } from "./member-removals.js";

export interface SnapshotTopic {
  name: string;
  config: TopicConfig;
  /** The topic's next offset as of the snapshot's index. */
  nextOffset: number;
  /**
   * The Raft index of the entry that created the topic: which topic of that name this is (one
   * deleted and created again is another). Absent in snapshots taken before it was recorded.
   */
  createdIndex?: number;
}

export interface SnapshotState {
  topics: SnapshotTopic[];
  servers: { id: string; address: string }[];
  /** Members removed and not added again, the oldest first. Absent in older snapshots. */
  removed?: Removal[];
}

export function encodeSnapshotState(state: SnapshotState): Uint8Array {
  return Buffer.from(JSON.stringify(state), "utf8");
}

/**
 * Decodes and checks snapshot data; a malformed one fails with invalid_argument, saying what is
 * wrong, and nothing of it is used.
 */
export function decodeSnapshotState(data: Uint8Array): SnapshotState {
  if (data.length === 0) return { topics: [], servers: [], removed: [] };
  const fail = (why: string) => new TidelogError("invalid_argument", `snapshot data: ${why}`);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(data));
  } catch {
    throw fail("not JSON");
  }
  if (!isObject(value) || !Array.isArray(value.topics) || !Array.isArray(value.servers))
    throw fail("expected an object with topics and servers");
  const names = new Set<string>();
  const topics = value.topics.map((topic, i): SnapshotTopic => {
    if (!isObject(topic) || typeof topic.name !== "string") throw fail(`topic ${i} has no name`);
    try {
      checkTopicName(topic.name);
    } catch (error) {
      throw fail(`topic ${i}: ${(error as Error).message}`);
    }
    if (names.has(topic.name)) throw fail(`topic ${topic.name} is listed twice`);
    names.add(topic.name);
    if (!isCount(topic.nextOffset)) throw fail(`topic ${topic.name} has a bad nextOffset`);
    if (topic.createdIndex !== undefined && !isCount(topic.createdIndex))
      throw fail(`topic ${topic.name} has a bad createdIndex`);
    if (!isObject(topic.config)) throw fail(`topic ${topic.name} has no config`);
    const config: TopicConfig = {
      retentionBytes: topic.config.retentionBytes as number,
      retentionMs: topic.config.retentionMs as number,
      segmentBytes: topic.config.segmentBytes as number,
    };
    try {
      checkConfig(config);
    } catch (error) {
      throw fail(`topic ${topic.name}: ${(error as Error).message}`);
    }
    return {
      name: topic.name,
      config,
      nextOffset: topic.nextOffset,
      ...(topic.createdIndex === undefined ? {} : { createdIndex: topic.createdIndex }),
    };
  });
  const servers: SnapshotState["servers"] = [];
  for (const [i, server] of value.servers.entries()) {
    if (!isObject(server) || typeof server.id !== "string" || typeof server.address !== "string")
      throw fail(`server ${i} needs an id and an address`);
    // An address that is not host:port is never dialled, as a committed registerServer with one
    // is a no-op (commands.ts): left out, not a reason to refuse the snapshot, since a state
    // written before addresses were checked may hold one.
    if (server.id.length > 0 && isPeerAddress(server.address))
      servers.push({ id: server.id, address: server.address });
  }
  return { topics, servers, removed: decodeRemovals(value.removed) };
}

/**
 * Removals only let peers tell a removed node so sooner: one that is not well formed is left
 * out, not a reason to refuse the snapshot.
 */
function decodeRemovals(value: unknown): Removal[] {
  if (!Array.isArray(value)) return [];
  const removed: Removal[] = [];
  // The newest are at the end; a longer list than this node keeps is cut from the front.
  for (const removal of value.slice(-removalsKept)) {
    if (!isObject(removal) || typeof removal.id !== "string" || !isNodeId(removal.id)) continue;
    if (!isCount(removal.index) || removal.index === 0) continue;
    removed.push({ id: removal.id, index: removal.index });
  }
  return removed;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

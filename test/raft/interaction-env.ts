// InteractionEnv: a handful of RawNodes over a hand-cranked network, driven step by step. The
// datadriven golden tests script it through commands; the paper tests call it directly. Each
// node's MemoryStorage is its disk: process-ready persists a Ready there before anything else.

import {
  type ConfChange,
  type ConfState,
  createRandom,
  decodeConfChange,
  describeEntries,
  describeHardState,
  describeMessage,
  describeReady,
  type Entry,
  MemoryStorage,
  type Message,
  type NodeId,
  type RaftOptions,
  RawNode,
  type Ready,
} from "../../src/raft/index.js";

export interface NodeOptions {
  voters?: NodeId[];
  learners?: NodeId[];
  preVote?: boolean;
  checkQuorum?: boolean;
  electionTicks?: number;
  heartbeatTicks?: number;
  maxInflightMessages?: number;
  maxInflightBytes?: number;
  maxSizePerMessageBytes?: number;
}

export interface EnvNode {
  id: NodeId;
  raw: RawNode;
  storage: MemoryStorage;
  options: RaftOptions;
  /** The state machine: data of applied normal entries, in order, and the membership. */
  applied: Entry[];
  appliedIndex: number;
  confState: ConfState;
  /** Snapshot the state machine was restored from (its index), if any. */
  restoredFrom: number;
}

const encoder = new TextEncoder();
const STABILIZE_ROUNDS_MAX = 200;

export class InteractionEnv {
  readonly nodes = new Map<NodeId, EnvNode>();
  /** Messages sent and not yet delivered, in sending order. */
  messages: Message[] = [];
  /** Pairs "from->to" whose messages the network drops. */
  readonly cut = new Set<string>();
  output: string[] = [];

  log(line: string): void {
    this.output.push(line);
  }

  takeOutput(): string {
    const text = this.output.join("\n");
    this.output = [];
    return text;
  }

  node(id: NodeId): EnvNode {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  ids(): NodeId[] {
    return [...this.nodes.keys()].sort(compareIds);
  }

  addNodes(count: number, options: NodeOptions): void {
    for (let i = 0; i < count; i++) {
      const id = String(this.nodes.size + 1);
      const storage =
        options.voters !== undefined
          ? MemoryStorage.bootstrap({
              voters: [...options.voters].sort(),
              learners: [...(options.learners ?? [])].sort(),
            })
          : new MemoryStorage();
      const raftOptions: RaftOptions = {
        id,
        storage,
        random: createRandom(Number(id) * 7919),
        preVote: options.preVote ?? true,
        checkQuorum: options.checkQuorum ?? true,
        electionTicks: options.electionTicks ?? 10,
        heartbeatTicks: options.heartbeatTicks ?? 1,
        maxInflightMessages: options.maxInflightMessages ?? 256,
        maxInflightBytes: options.maxInflightBytes ?? 0,
        maxSizePerMessageBytes: options.maxSizePerMessageBytes ?? 1024 * 1024,
      };
      const confState = storage.initialState().confState;
      this.nodes.set(id, {
        id,
        raw: new RawNode(raftOptions),
        storage,
        options: raftOptions,
        applied: [],
        appliedIndex: storage.snapshot().metadata.index,
        confState,
        restoredFrom: storage.snapshot().metadata.index,
      });
    }
  }

  /** Crash and restart: everything not in the node's storage is lost. */
  restart(id: NodeId): void {
    const node = this.node(id);
    const snapshot = node.storage.snapshot();
    node.raw = new RawNode({ ...node.options, storage: node.storage });
    node.applied = [];
    node.appliedIndex = snapshot.metadata.index;
    node.confState = node.storage.initialState().confState;
    node.restoredFrom = snapshot.metadata.index;
    this.log(`restarted ${id} from ${describeHardState(node.storage.hardStateSnapshot())}`);
  }

  /** Takes node `id`'s Ready, then crashes before writing it: the Ready is lost entirely. */
  crashBeforeSync(id: NodeId): void {
    const node = this.node(id);
    if (node.raw.hasReady()) {
      this.log(`> ${id} lost Ready`);
      const text = describeReady(node.raw.ready(), "  ");
      if (text !== "") this.log(text);
    }
    this.restart(id);
  }

  /** Handles one Ready of node `id` per the RawNode contract. Returns false if there was none. */
  processReady(id: NodeId): boolean {
    const node = this.node(id);
    if (!node.raw.hasReady()) return false;
    const ready = node.raw.ready();
    this.log(`> ${id} handling Ready`);
    const text = describeReady(ready, "  ");
    if (text !== "") this.log(text);
    this.persist(node, ready);
    this.messages.push(...ready.messages);
    this.apply(node, ready);
    node.raw.advance();
    return true;
  }

  persist(node: EnvNode, ready: Ready): void {
    if (ready.snapshot) node.storage.applySnapshot(ready.snapshot);
    node.storage.append(ready.entries);
    if (ready.hardState) node.storage.setHardState(ready.hardState);
  }

  apply(node: EnvNode, ready: Ready): void {
    if (ready.snapshot) {
      node.applied = [];
      node.appliedIndex = ready.snapshot.metadata.index;
      node.confState = ready.snapshot.metadata.confState;
      node.restoredFrom = ready.snapshot.metadata.index;
    }
    for (const entry of ready.committedEntries) {
      if (entry.index !== node.appliedIndex + 1) {
        throw new Error(`node ${node.id} applies ${entry.index} after ${node.appliedIndex}`);
      }
      node.appliedIndex = entry.index;
      node.applied.push(entry);
      if (entry.type === "confChange") {
        node.confState = node.raw.applyConfChange(decodeConfChange(entry.data));
      }
    }
  }

  /** Delivers queued messages addressed to `to` (all if empty); drops those to `drop`. */
  deliver(to: readonly NodeId[], drop: readonly NodeId[]): number {
    const remaining: Message[] = [];
    let delivered = 0;
    const batch = this.messages;
    this.messages = [];
    for (const message of batch) {
      if (drop.includes(message.to)) {
        this.log(`dropped: ${describeMessage(message)}`);
        continue;
      }
      if (to.length > 0 && !to.includes(message.to)) {
        remaining.push(message);
        continue;
      }
      if (this.cut.has(`${message.from}->${message.to}`)) {
        this.log(`dropped (partition): ${describeMessage(message)}`);
        continue;
      }
      const target = this.nodes.get(message.to);
      if (target === undefined) {
        this.log(`dropped (no such node): ${describeMessage(message)}`);
        continue;
      }
      this.log(describeMessage(message));
      target.raw.step(message);
      delivered += 1;
    }
    this.messages = remaining.concat(this.messages);
    return delivered;
  }

  /** Processes Readies and delivers messages until nothing moves (bounded). */
  stabilize(ids: readonly NodeId[]): void {
    const targets = ids.length > 0 ? ids : this.ids();
    for (let round = 0; round < STABILIZE_ROUNDS_MAX; round++) {
      let progressed = false;
      for (const id of targets) {
        if (this.processReady(id)) progressed = true;
      }
      const pending = this.messages.filter((message) => targets.includes(message.to));
      if (pending.length > 0) {
        this.deliver(targets, []);
        progressed = true;
      }
      if (!progressed) return;
    }
    throw new Error(`stabilize did not settle in ${STABILIZE_ROUNDS_MAX} rounds`);
  }

  /** Isolates `ids` from every other node, both ways. */
  partition(ids: readonly NodeId[]): void {
    for (const inside of ids) {
      for (const other of this.ids()) {
        if (ids.includes(other)) continue;
        this.cut.add(`${inside}->${other}`);
        this.cut.add(`${other}->${inside}`);
      }
    }
  }

  heal(): void {
    this.cut.clear();
  }

  tick(id: NodeId, count: number): void {
    for (let i = 0; i < count; i++) this.node(id).raw.tick();
  }

  /** Ticks a follower until it campaigns (≤ 2 × electionTicks - 1), a leader electionTicks times. */
  tickElection(id: NodeId): void {
    const node = this.node(id);
    const electionTicks = node.options.electionTicks ?? 10;
    if (node.raw.status().softState.state === "leader") {
      this.tick(id, electionTicks);
      return;
    }
    const before = node.raw.status();
    for (let i = 0; i < 2 * electionTicks - 1; i++) {
      node.raw.tick();
      const after = node.raw.status();
      if (
        after.softState.state !== before.softState.state ||
        after.hardState.term !== before.hardState.term
      ) {
        return;
      }
    }
  }

  propose(id: NodeId, data: string): string {
    const result = this.node(id).raw.propose(encoder.encode(data));
    return result.accepted
      ? `accepted index=${result.firstIndex} term=${result.term}`
      : `rejected: ${result.reason}`;
  }

  proposeConfChange(id: NodeId, change: ConfChange): string {
    const result = this.node(id).raw.proposeConfChange(change);
    return result.accepted
      ? `accepted index=${result.firstIndex} term=${result.term}`
      : `rejected: ${result.reason}`;
  }

  /** Takes a snapshot of node `id`'s state machine at its applied index. */
  snapshot(id: NodeId): string {
    const node = this.node(id);
    const data = encoder.encode(`applied=${node.appliedIndex}`);
    const snapshot = node.storage.createSnapshot(node.appliedIndex, node.confState, data);
    return `snapshot at ${snapshot.metadata.index}@${snapshot.metadata.term}`;
  }

  compact(id: NodeId, index: number): string {
    const node = this.node(id);
    node.storage.compact(index);
    return `first index ${node.storage.firstIndex()}, last index ${node.storage.lastIndex()}`;
  }

  statusText(id: NodeId): string {
    const status = this.node(id).raw.status();
    const lines = [
      `${id}: ${status.softState.state} lead=${status.softState.lead ?? "-"} ${describeHardState(status.hardState)} applied=${status.applied} log=[${status.firstIndex},${status.lastIndex}]`,
      `  conf voters=(${status.confState.voters.join(",")}) learners=(${status.confState.learners.join(",")})`,
    ];
    if (status.leadTransferee !== null) lines.push(`  transferring to ${status.leadTransferee}`);
    for (const [peer, progress] of status.progress) {
      const extra = [
        progress.isLearner ? " learner" : "",
        progress.paused ? " paused" : "",
        progress.state === "snapshot" ? ` pendingSnapshot=${progress.pendingSnapshot}` : "",
        progress.inflightMessages > 0 ? ` inflight=${progress.inflightMessages}` : "",
        progress.recentActive ? "" : " inactive",
      ].join("");
      lines.push(
        `  ${peer}: ${progress.state} match=${progress.match} next=${progress.next}${extra}`,
      );
    }
    return lines.join("\n");
  }

  raftLogText(id: NodeId): string {
    const storage = this.node(id).storage;
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    if (last < first) return `log empty (snapshot ${storage.snapshot().metadata.index})`;
    return describeEntries(storage.entries(first, last + 1, Number.POSITIVE_INFINITY));
  }
}

export function compareIds(a: string, b: string): number {
  const numeric = Number(a) - Number(b);
  if (!Number.isNaN(numeric) && numeric !== 0) return numeric;
  return a < b ? -1 : a > b ? 1 : 0;
}

// A simulated server: a RawNode driven the way the real driver will drive it, over a
// MemoryStorage that stands for the disk. A Ready is written after a random disk latency; until
// then it is unsynced, and a crash loses it (its messages were never sent). After the write, the
// node sends the Ready's messages, applies its committed entries to a small state machine, and
// advances. Ticks and messages keep flowing into the RawNode while a write is in flight.

import {
  type ConfState,
  createRandom,
  decodeConfChange,
  type Entry,
  MemoryStorage,
  type NodeId,
  type RaftOptions,
  RawNode,
  type Ready,
  type Snapshot,
} from "../../../src/raft/index.js";

const RETIRE_DELAY_STEPS = 100;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The replicated state machine: the proposal ids applied, in order, each at most once. */
export interface StateMachine {
  appliedIndex: number;
  ids: string[];
  idSet: Set<string>;
  confState: ConfState;
}

export function encodeStateMachine(machine: StateMachine): Uint8Array {
  return encoder.encode(JSON.stringify(machine.ids));
}

export function decodeStateMachine(snapshot: Snapshot): StateMachine {
  const ids =
    snapshot.data.byteLength === 0 ? [] : (JSON.parse(decoder.decode(snapshot.data)) as string[]);
  return {
    appliedIndex: snapshot.metadata.index,
    ids,
    idSet: new Set(ids),
    confState: snapshot.metadata.confState,
  };
}

export interface PendingProposal {
  id: string;
  term: number;
}

/** What the node reports to the cluster while it processes a Ready. */
export interface NodeObserver {
  persisted(node: SimNode, ready: Ready): void;
  send(node: SimNode, ready: Ready): void;
  applying(node: SimNode, entry: Entry): void;
  acknowledged(node: SimNode, id: string, entry: Entry): void;
}

export class SimNode {
  raw: RawNode | undefined;
  machine: StateMachine;
  /** The Ready being written, and the step at which the write completes. */
  writing: { ready: Ready; doneAt: number } | undefined = undefined;
  /** Proposals this node accepted as leader, by index, waiting for their fate. */
  proposals = new Map<number, PendingProposal>();
  incarnation = 0;
  /** Once it applied its own removal, the node shuts down for good, a little later. */
  retired = false;
  retireAt: number | undefined = undefined;

  constructor(
    readonly id: NodeId,
    readonly storage: MemoryStorage,
    private readonly options: Omit<RaftOptions, "id" | "storage" | "random">,
    private readonly seed: number,
  ) {
    this.machine = decodeStateMachine(storage.snapshot());
    this.start();
  }

  static joining(
    id: NodeId,
    options: Omit<RaftOptions, "id" | "storage" | "random">,
    seed: number,
  ): SimNode {
    return new SimNode(id, new MemoryStorage(), options, seed);
  }

  get up(): boolean {
    return this.raw !== undefined;
  }

  private start(): void {
    this.incarnation += 1;
    this.raw = new RawNode({
      ...this.options,
      id: this.id,
      storage: this.storage,
      random: createRandom(this.seed * 1_000 + this.incarnation),
    });
    // The state machine is volatile: it restarts from the last snapshot and replays the log.
    this.machine = decodeStateMachine(this.storage.snapshot());
    this.machine.confState = this.storage.initialState().confState;
  }

  /** Power loss: the unsynced write and everything in memory are gone. */
  crash(): void {
    this.raw = undefined;
    this.writing = undefined;
    this.proposals.clear();
  }

  restart(): void {
    if (!this.up && !this.retired) this.start();
  }

  retire(): void {
    this.crash();
    this.retired = true;
  }

  /** Starts or completes disk writes; called once per simulation step. */
  step(now: number, diskLatency: () => number, observer: NodeObserver): void {
    if (this.retireAt !== undefined && now >= this.retireAt) this.retire();
    const raw = this.raw;
    if (raw === undefined) return;
    if (this.writing === undefined && raw.hasReady()) {
      const ready = raw.ready();
      this.writing = { ready, doneAt: now + (ready.mustSync ? diskLatency() : 0) };
    }
    if (this.writing !== undefined && this.writing.doneAt <= now) {
      const { ready } = this.writing;
      this.writing = undefined;
      this.complete(ready, now, observer);
    }
  }

  private complete(ready: Ready, now: number, observer: NodeObserver): void {
    const raw = this.raw!;
    // 1. The write is durable.
    if (ready.snapshot) this.storage.applySnapshot(ready.snapshot);
    this.storage.append(ready.entries);
    if (ready.hardState) this.storage.setHardState(ready.hardState);
    observer.persisted(this, ready);
    // 2. Only now do its messages leave.
    observer.send(this, ready);
    // 3. Apply.
    if (ready.snapshot) {
      this.machine = decodeStateMachine(ready.snapshot);
      for (const index of [...this.proposals.keys()]) {
        if (index <= ready.snapshot.metadata.index) this.proposals.delete(index);
      }
    }
    for (const entry of ready.committedEntries) {
      observer.applying(this, entry);
      this.machine.appliedIndex = entry.index;
      if (entry.type === "confChange") {
        const change = decodeConfChange(entry.data);
        this.machine.confState = raw.applyConfChange(change);
        if (change.type === "removeNode" && change.nodeId === this.id) {
          // Keep running a while: its last messages (say, TimeoutNow to a successor) must leave.
          this.retireAt ??= now + RETIRE_DELAY_STEPS;
        }
      } else if (entry.data.byteLength > 0) {
        const id = decoder.decode(entry.data);
        this.machine.ids.push(id);
        this.machine.idSet.add(id);
      }
      const proposal = this.proposals.get(entry.index);
      if (proposal !== undefined) {
        this.proposals.delete(entry.index);
        if (entry.term === proposal.term) observer.acknowledged(this, proposal.id, entry);
      }
    }
    // 4. Done.
    raw.advance();
  }

  /** Takes a snapshot at the applied index and compacts the log behind it. */
  snapshotAndCompact(keepEntries: number): void {
    const index = this.machine.appliedIndex;
    if (index <= this.storage.snapshot().metadata.index) return;
    this.storage.createSnapshot(index, this.machine.confState, encodeStateMachine(this.machine));
    const compactTo = Math.max(this.storage.firstIndex(), index - keepEntries);
    this.storage.compact(compactTo);
  }
}

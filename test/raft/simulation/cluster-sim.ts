// One seeded simulation run: a 3- or 5-node cluster over SimNetwork with drops, duplicates,
// delays (hence reordering), symmetric partitions, one-way cuts, crashes that lose unsynced
// writes, restarts, membership changes, leadership transfers, snapshots and compaction. After
// every step the invariants are checked; then the faults stop and the cluster must converge.
//
// Every run is a pure function of its seed. Every loop is bounded in steps.

import {
  createRandom,
  describeMessage,
  type Entry,
  MemoryStorage,
  type NodeId,
  type RaftOptions,
  type Random,
  type Ready,
} from "../../../src/raft/index.js";
import { type NetworkFaults, SimNetwork } from "./sim-network.js";
import { type NodeObserver, SimNode } from "./sim-node.js";

export interface SimulationOptions {
  seed: number;
  /** Founding voters: 3 or 5. */
  clusterSize: number;
  /** Steps with faults. A node ticks every TICK_STEPS steps. */
  faultySteps: number;
  /** Most steps of the fault-free phase in which the cluster must converge. */
  quietStepsMax: number;
  trace?: (line: string) => void;
}

export interface SimulationResult {
  seed: number;
  converged: boolean;
  steps: number;
  acknowledged: number;
  maxCommit: number;
  leaderTerms: number;
  snapshotsSent: number;
  confChanges: number;
}

export class InvariantViolation extends Error {
  override readonly name = "InvariantViolation";
}

const TICK_STEPS = 10;
const ELECTION_TICKS = 10;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function fail(message: string): never {
  throw new InvariantViolation(message);
}

export function runSimulation(options: SimulationOptions): SimulationResult {
  return new ClusterSimulation(options).run();
}

class ClusterSimulation implements NodeObserver {
  private readonly random: Random;
  private readonly network: SimNetwork;
  private readonly nodes = new Map<NodeId, SimNode>();
  private readonly tickPhase = new Map<NodeId, number>();
  private readonly raftOptions: Omit<RaftOptions, "id" | "storage" | "random">;
  private now = 0;
  private nextNodeNumber: number;
  private nextProposal = 1;
  private readonly crashRate: number;
  private readonly leaderCrashRate: number;
  private readonly earlyLeaderCrashRate: number;
  private readonly crashAt = new Map<NodeId, number>();
  /** Slow disks keep a Ready in flight longer, while messages and ticks keep coming. */
  private readonly maxDiskLatencySteps: number;

  // Invariant state.
  private readonly leaderOfTerm = new Map<number, NodeId>();
  /** The one committed entry per index, as "term:type:data", ever seen by anyone. */
  private readonly committed = new Map<number, string>();
  /** Acknowledged proposals: index → proposal id. */
  private readonly acknowledgedAt = new Map<number, string>();
  private readonly acknowledgedIds = new Set<string>();
  private snapshotsSent = 0;
  private confChanges = 0;

  constructor(private readonly options: SimulationOptions) {
    this.random = createRandom(options.seed);
    const random = this.random;
    const faults: NetworkFaults = {
      dropRate: random.nextFloat() * 0.15,
      duplicateRate: random.nextFloat() * 0.05,
      maxDelaySteps: 1 + random.nextInt(3 * TICK_STEPS),
    };
    this.network = new SimNetwork(createRandom(options.seed ^ 0x5eed), faults);
    this.crashRate = random.nextFloat() * 0.002;
    this.leaderCrashRate = random.nextFloat() * 0.01;
    this.earlyLeaderCrashRate = random.nextFloat() * 0.5;
    this.maxDiskLatencySteps = random.nextInt(2) === 0 ? 3 : 3 + random.nextInt(3 * TICK_STEPS);
    this.raftOptions = {
      electionTicks: ELECTION_TICKS,
      heartbeatTicks: 1 + random.nextInt(3),
      preVote: random.nextInt(4) !== 0,
      checkQuorum: random.nextInt(4) !== 0,
      maxInflightMessages: 1 + random.nextInt(8),
      maxInflightBytes: random.nextInt(2) === 0 ? 0 : 64 + random.nextInt(256),
      // One entry per append a third of the time: the histories of figure 8 need it.
      maxSizePerMessageBytes: random.nextInt(3) === 0 ? 1 : 20 + random.nextInt(200),
      maxCommittedSizePerReadyBytes: 50 + random.nextInt(500),
    };
    const voters = Array.from({ length: options.clusterSize }, (_, i) => `n${i + 1}`);
    this.nextNodeNumber = options.clusterSize + 1;
    for (const id of voters) {
      const storage = MemoryStorage.bootstrap({ voters, learners: [] });
      this.addNode(new SimNode(id, storage, this.raftOptions, options.seed * 31 + this.nodes.size));
    }
    this.trace(
      `seed ${options.seed}: ${JSON.stringify({ ...faults, crashRate: this.crashRate, leaderCrashRate: this.leaderCrashRate, earlyLeaderCrashRate: this.earlyLeaderCrashRate, maxDiskLatencySteps: this.maxDiskLatencySteps, ...this.raftOptions })}`,
    );
  }

  private addNode(node: SimNode): void {
    this.nodes.set(node.id, node);
    this.tickPhase.set(node.id, this.random.nextInt(TICK_STEPS));
  }

  private trace(line: string): void {
    this.options.trace?.(`[${this.now}] ${line}`);
  }

  run(): SimulationResult {
    for (let step = 0; step < this.options.faultySteps; step++) {
      this.injectFaults();
      this.driveWorkload();
      this.advanceTime();
    }
    this.trace("quiet phase");
    this.network.healAll();
    for (const node of this.nodes.values()) node.restart();
    let converged = false;
    const quietEnd = this.now + this.options.quietStepsMax;
    while (this.now < quietEnd) {
      if (this.now % 50 === 0 && this.random.nextInt(3) === 0) this.propose();
      this.advanceTime();
      if (this.now % 100 === 0 && this.converged()) {
        converged = true;
        break;
      }
    }
    // Without pre-vote, a lagging voter that keeps raising its term can starve elections for a
    // long while (the disruption pre-vote exists to prevent): liveness is only required with it.
    if (!converged && this.raftOptions.preVote) {
      fail(`no convergence in the quiet phase: ${this.describeCluster()}`);
    }
    this.finalChecks(converged);
    let maxCommit = 0;
    for (const node of this.nodes.values()) {
      if (node.raw) maxCommit = Math.max(maxCommit, node.raw.basicStatus().hardState.commit);
    }
    return {
      seed: this.options.seed,
      converged,
      steps: this.now,
      acknowledged: this.acknowledgedAt.size,
      maxCommit,
      leaderTerms: this.leaderOfTerm.size,
      snapshotsSent: this.snapshotsSent,
      confChanges: this.confChanges,
    };
  }

  // ---- time ----

  private advanceTime(): void {
    this.now += 1;
    for (const message of this.network.due(this.now)) {
      const target = this.nodes.get(message.to);
      if (target?.raw === undefined) {
        // The transport learns the peer is down; a snapshot send must be reported as failed.
        if (message.type === "snapshot") {
          this.nodes.get(message.from)?.raw?.snapshotStatus(message.to, "failed");
        }
        continue;
      }
      this.trace(`deliver ${describeMessage(message)}`);
      target.raw.step(message);
      if (message.type === "snapshot") {
        // The transport reports a snapshot it managed to deliver.
        this.nodes.get(message.from)?.raw?.snapshotStatus(message.to, "ok");
      }
    }
    for (const node of this.nodes.values()) {
      if (node.raw === undefined) continue;
      if ((this.now + this.tickPhase.get(node.id)!) % TICK_STEPS === 0) node.raw.tick();
    }
    for (const node of this.nodes.values()) {
      node.step(this.now, () => this.random.nextInt(this.maxDiskLatencySteps + 1), this);
    }
    this.checkStep();
  }

  // ---- faults and workload ----

  private injectFaults(): void {
    const random = this.random;
    const ids = [...this.nodes.keys()];
    // Crashes and restarts.
    for (const node of this.nodes.values()) {
      if (node.up && random.nextFloat() < this.crashRate) {
        this.trace(`crash ${node.id}${node.writing ? " (losing an unsynced write)" : ""}`);
        node.crash();
      } else if (!node.up && !node.retired && random.nextFloat() < 0.01) {
        this.trace(`restart ${node.id}`);
        node.restart();
      }
    }
    for (const [id, at] of this.crashAt) {
      if (at > this.now) continue;
      this.crashAt.delete(id);
      const node = this.nodes.get(id);
      if (node?.up) {
        this.trace(`crash young leader ${id}${node.writing ? " (losing an unsynced write)" : ""}`);
        node.crash();
      }
    }
    // Leaders crash more often than others: it is where the interesting histories start
    // (figure 8 needs a few leaders crashing in quick succession).
    if (random.nextFloat() < this.leaderCrashRate) {
      const leader = this.leader();
      if (leader !== undefined) {
        this.trace(
          `crash leader ${leader.id}${leader.writing ? " (losing an unsynced write)" : ""}`,
        );
        leader.crash();
      }
    }
    // Partitions: occasionally split, occasionally heal.
    const roll = random.nextInt(1000);
    if (roll < 2) {
      const shuffled = shuffle(random, ids);
      const cut = 1 + random.nextInt(shuffled.length - 1);
      this.network.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
      this.trace(`partition ${shuffled.slice(0, cut)} | ${shuffled.slice(cut)}`);
    } else if (roll < 6) {
      this.network.healPartition();
    } else if (roll < 8) {
      const from = ids[random.nextInt(ids.length)]!;
      const to = ids[random.nextInt(ids.length)]!;
      if (from !== to) {
        this.network.cuts.add(`${from}->${to}`);
        this.trace(`cut ${from}->${to}`);
      }
    } else if (roll < 12) {
      this.network.cuts.clear();
    }
  }

  private driveWorkload(): void {
    const random = this.random;
    const roll = random.nextInt(1000);
    if (roll < 40) {
      this.propose();
    } else if (roll < 43) {
      this.changeMembership();
    } else if (roll < 45) {
      const leader = this.leader();
      const voters = leader?.raw?.status().confState.voters ?? [];
      const target = voters[random.nextInt(Math.max(1, voters.length))];
      if (leader?.raw && target !== undefined) {
        this.trace(`transfer ${leader.id} -> ${target}`);
        leader.raw.transferLeadership(target);
      }
    } else if (roll < 55) {
      const nodes = [...this.nodes.values()].filter((node) => node.up);
      const node = nodes[random.nextInt(Math.max(1, nodes.length))];
      if (node !== undefined && node.machine.appliedIndex - node.storage.firstIndex() > 8) {
        node.snapshotAndCompact(random.nextInt(4));
        this.trace(`snapshot+compact ${node.id} at ${node.machine.appliedIndex}`);
      }
    } else if (roll < 57) {
      // The transport gives up on a peer now and then.
      const leader = this.leader();
      const ids = [...this.nodes.keys()];
      leader?.raw?.reportUnreachable(ids[random.nextInt(ids.length)]!);
    }
  }

  private propose(): void {
    const candidates = [...this.nodes.values()].filter((node) => node.up);
    const node = candidates[this.random.nextInt(Math.max(1, candidates.length))];
    if (node?.raw === undefined) return;
    const count = this.random.nextInt(4) === 0 ? 1 + this.random.nextInt(4) : 1;
    const ids = Array.from({ length: count }, () => `p${this.nextProposal++}`);
    const result = node.raw.proposeBatch(ids.map((id) => encoder.encode(id)));
    if (!result.accepted) return;
    ids.forEach((id, i) => {
      node.proposals.set(result.firstIndex + i, { id, term: result.term });
    });
    this.trace(`propose ${ids} at ${node.id}: ${result.firstIndex}@${result.term}`);
  }

  private changeMembership(): void {
    const leader = this.leader();
    if (leader?.raw === undefined) return;
    const status = leader.raw.status();
    const { voters, learners } = status.confState;
    const random = this.random;
    const maxVoters = this.options.clusterSize + 1;
    let change: { type: "addVoter" | "addLearner" | "removeNode"; nodeId: NodeId } | undefined;
    const caughtUp = learners.find(
      (id) => (status.progress.get(id)?.match ?? 0) >= status.hardState.commit,
    );
    if (caughtUp !== undefined) {
      change = { type: "addVoter", nodeId: caughtUp };
    } else if (learners.length === 0 && voters.length < maxVoters && random.nextInt(2) === 0) {
      const id = `n${this.nextNodeNumber++}`;
      this.addNode(SimNode.joining(id, this.raftOptions, this.options.seed * 31 + this.nodes.size));
      change = { type: "addLearner", nodeId: id };
    } else if (voters.length > 3) {
      change = { type: "removeNode", nodeId: voters[random.nextInt(voters.length)]! };
    }
    if (change === undefined) return;
    const result = leader.raw.proposeConfChange(change);
    this.trace(
      `conf change ${change.type} ${change.nodeId} at ${leader.id}: ${JSON.stringify(result)}`,
    );
    if (result.accepted) this.confChanges += 1;
  }

  private leader(): SimNode | undefined {
    let best: SimNode | undefined;
    let bestTerm = -1;
    for (const node of this.nodes.values()) {
      const status = node.raw?.basicStatus();
      if (status?.softState.state === "leader" && status.hardState.term > bestTerm) {
        best = node;
        bestTerm = status.hardState.term;
      }
    }
    return best;
  }

  // ---- NodeObserver: the driver's callbacks ----

  persisted(node: SimNode, ready: Ready): void {
    // Committed entries on disk must be the committed ones.
    const commit = node.storage.hardStateSnapshot().commit;
    for (const entry of ready.entries) {
      if (entry.index <= commit) this.checkCommitted(node, entry, "persisted");
    }
  }

  send(node: SimNode, ready: Ready): void {
    for (const message of ready.messages) {
      const sent = this.network.send(message, this.now);
      if (message.type === "snapshot") {
        this.snapshotsSent += 1;
        if (!sent) node.raw?.snapshotStatus(message.to, "failed");
      }
    }
  }

  applying(node: SimNode, entry: Entry): void {
    const machine = node.machine;
    if (entry.index !== machine.appliedIndex + 1) {
      fail(`${node.id} applies ${entry.index} after ${machine.appliedIndex}: not in order`);
    }
    const durableCommit = node.storage.hardStateSnapshot().commit;
    if (entry.index > durableCommit) {
      fail(`${node.id} applies ${entry.index} beyond its persisted commit ${durableCommit}`);
    }
    this.checkCommitted(node, entry, "applied");
    if (entry.type === "normal" && entry.data.byteLength > 0) {
      const id = decoder.decode(entry.data);
      if (machine.idSet.has(id)) fail(`${node.id} applies ${id} twice (again at ${entry.index})`);
    }
  }

  acknowledged(node: SimNode, id: string, entry: Entry): void {
    this.trace(`ack ${id} at ${entry.index}@${entry.term} by ${node.id}`);
    const previous = this.acknowledgedAt.get(entry.index);
    if (previous !== undefined && previous !== id) {
      fail(`index ${entry.index} acknowledged as ${previous} and as ${id}`);
    }
    if (this.acknowledgedIds.has(id) && previous !== id) fail(`${id} acknowledged twice`);
    this.acknowledgedAt.set(entry.index, id);
    this.acknowledgedIds.add(id);
  }

  // ---- invariants ----

  private checkCommitted(node: SimNode, entry: Entry, how: string): void {
    const key = `${entry.term}:${entry.type}:${decoder.decode(entry.data)}`;
    const known = this.committed.get(entry.index);
    if (known === undefined) this.committed.set(entry.index, key);
    else if (known !== key) {
      fail(`${node.id} ${how} ${entry.index} as ${key}, but ${known} was committed there`);
    }
  }

  private checkStep(): void {
    for (const node of this.nodes.values()) {
      const raw = node.raw;
      if (raw === undefined) continue;
      const status = raw.basicStatus();
      const { term, commit } = status.hardState;
      if (status.softState.state === "leader") {
        const known = this.leaderOfTerm.get(term);
        if (known === undefined) {
          this.leaderOfTerm.set(term, node.id);
          this.trace(`${node.id} leads term ${term}`);
          // Short-lived leaders make the histories of figure 8: crash some soon after election.
          if (this.random.nextFloat() < this.earlyLeaderCrashRate) {
            this.crashAt.set(node.id, this.now + this.random.nextInt(4 * TICK_STEPS));
          }
        } else if (known !== node.id) {
          fail(`two leaders in term ${term}: ${known} and ${node.id}`);
        }
      }
      if (status.applied > commit) fail(`${node.id} applied ${status.applied} > commit ${commit}`);
      if (node.machine.appliedIndex > commit) {
        fail(`${node.id} state machine at ${node.machine.appliedIndex} > commit ${commit}`);
      }
    }
  }

  private converged(): boolean {
    const leader = this.leader();
    if (leader?.raw === undefined) return false;
    const status = leader.raw.status();
    if (status.softState.state !== "leader") return false;
    const members = [...status.confState.voters, ...status.confState.learners];
    for (const id of members) {
      const node = this.nodes.get(id);
      if (node?.raw === undefined) return false;
      const other = node.raw.basicStatus();
      if (other.hardState.commit !== status.lastIndex) return false;
      if (node.machine.appliedIndex !== status.lastIndex) return false;
      if (other.softState.lead !== leader.id) return false;
    }
    return true;
  }

  private finalChecks(converged: boolean): void {
    // Every acknowledged proposal is applied exactly once on every node that applied that far.
    for (const node of this.nodes.values()) {
      if (node.raw === undefined) continue;
      const counts = new Map<string, number>();
      for (const id of node.machine.ids) counts.set(id, (counts.get(id) ?? 0) + 1);
      for (const [index, id] of this.acknowledgedAt) {
        if (node.machine.appliedIndex < index) continue;
        const count = counts.get(id) ?? 0;
        if (count !== 1)
          fail(`${node.id} applied acknowledged ${id} (index ${index}) ${count} times`);
      }
    }
    // Members agree on the whole committed log they still hold.
    for (const node of this.nodes.values()) {
      if (node.raw === undefined) continue;
      const storage = node.storage;
      const commit = storage.hardStateSnapshot().commit;
      for (
        let index = storage.firstIndex();
        index <= Math.min(commit, storage.lastIndex());
        index++
      ) {
        const [entry] = storage.entries(index, index + 1, Number.POSITIVE_INFINITY);
        this.checkCommitted(node, entry!, "holds");
      }
    }
    if (converged && this.leader() === undefined) fail("leader vanished");
  }

  private describeCluster(): string {
    return [...this.nodes.values()]
      .map((node) => {
        if (node.raw === undefined) return `${node.id}:${node.retired ? "retired" : "down"}`;
        const status = node.raw.status();
        const progress = [...status.progress]
          .map(
            ([id, p]) =>
              `${id}:${p.state},m=${p.match},n=${p.next}${p.paused ? ",paused" : ""}${p.recentActive ? "" : ",inactive"},inflight=${p.inflightMessages}`,
          )
          .join(" ");
        return `${node.id}:${status.softState.state}@${status.hardState.term} lead=${status.softState.lead} commit=${status.hardState.commit} last=${status.lastIndex} first=${status.firstIndex} applied=${node.machine.appliedIndex} conf=${status.confState.voters}/${status.confState.learners}${progress ? ` [${progress}]` : ""}`;
      })
      .join(" ");
  }
}

function shuffle<T>(random: Random, items: readonly T[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = random.nextInt(i + 1);
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

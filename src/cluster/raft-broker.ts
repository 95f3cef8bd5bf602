// The replicated broker: writes are Raft proposals on the leader (a follower's API layer forwards
// them there); reads come from this node's applied state, which holds committed records only.
import { randomUUID } from "node:crypto";
import { TidelogError } from "../errors.js";
import { isPeerAddress } from "../host-port.js";
import { checkTopicName } from "../log/topic-name.js";
import { type Topic, withFields } from "../log/topic-registry.js";
import { isNodeId, nodeIdRule } from "../node-id.js";
import type { RaftNode } from "../raft/driver/raft-node.js";
import type { ConfChange } from "../raft/index.js";
import type {
  Broker,
  ConsumeLimits,
  ServerInfo,
  TopicConfig,
  TopicConfigField,
  TopicInfo,
} from "./broker.js";
import { ClientGate, refusalKind } from "./client-gate.js";
import { type AdminCommand, encodeAdmin, encodeAppendRecords } from "./commands.js";
import type { DiskSpaceGuard } from "./disk-space-guard.js";
import type { OpenFilesGuard } from "./open-files-guard.js";
import { roomQuorumShortfall } from "./peer-entry-refusals.js";
import { type CoalescerLimits, ProduceCoalescer } from "./produce-coalescer.js";
import {
  type DecodedRecord,
  decodedHeadersMax,
  decodeRecord,
  type RecordInput,
  storedHeaderCount,
} from "./record-codec.js";
import type { TopicStateMachine } from "./topic-state-machine.js";
import { type TailReader, TopicTails, type WireSlice } from "./topic-tail.js";

/**
 * A merged entry holds at most this much: well under a segment and the Raft message size, so
 * that one entry never dominates a replication round; a larger request goes alone.
 */
const coalescerLimits: CoalescerLimits = { recordsMax: 10_000, bytesMax: 1024 * 1024 };

export interface RaftBrokerOptions {
  id: string;
  autoCreateTopics: boolean;
  /** How long a learner may take to catch up before Join gives up promoting it. */
  catchUpTimeoutMs: number;
  /** How long a leadership transfer may take. */
  transferTimeoutMs: number;
  /** Where a peer said it is in its Raft messages (before the membership lists it here). */
  announcedAddress: (id: string) => string | undefined;
  /**
   * The commit index this node's log held when it started: its topics are rebuilt by applying
   * the entries up to it again, and until they are, reads and writes answer unavailable (a
   * topic not yet re-created would otherwise be "not found", its records "out of range").
   */
  replayThrough: number;
  /**
   * It was started to join a cluster (or restarted while its join was pending): until it has
   * applied its promotion to voter, client calls answer unavailable (client-gate.ts).
   */
  joining?: boolean;
  /** Why this node takes no new Raft entries now (disk or open files short), if it does not. */
  entryRefusal?: () => string | undefined;
  /** Those of these peers that say they refuse Raft entries now (disk or open files short). */
  refusingPeers?: (ids: readonly string[]) => string[];
  /** Why this node cannot install the snapshot its leader sends it, while that lasts. */
  snapshotInstallFailure?: () => string | undefined;
  /** Refuses writes while few file descriptors are free (none: never refused for that). */
  openFiles?: OpenFilesGuard;
}

export class RaftBroker implements Broker {
  private nodeValue: RaftNode | undefined;
  /** Consumers' shared reads and wake-ups, per topic. */
  private readonly tails: TopicTails;
  /** Concurrent produce requests of a topic, merged into one entry. */
  private readonly coalescer: ProduceCoalescer;
  /** Whether client calls are served now (removed, lost entries, replaying, joining). */
  private readonly gate: ClientGate;
  /** Open tails were told of the last refusal that ends them (removed, lost entries). */
  private tailsRefused = false;

  constructor(
    private readonly options: RaftBrokerOptions,
    readonly stateMachine: TopicStateMachine,
    private clusterIdValue: string,
    private readonly diskSpace: DiskSpaceGuard,
  ) {
    this.gate = new ClientGate({
      id: options.id,
      replayThrough: options.replayThrough,
      joining: options.joining ?? false,
    });
    this.tails = new TopicTails(stateMachine, undefined, () => this.gate.refusal(this.nodeValue));
    this.coalescer = new ProduceCoalescer(
      (name, records, sizes) => this.proposeAppend(name, records, sizes),
      coalescerLimits,
      // Merge until the Raft loop takes proposals again. Only a leader gets here (produce()),
      // so the node is attached.
      (flush) => this.node.beforeNextProposals(flush),
    );
  }

  /** Binds the Raft node (created once the server listens and its address is known). */
  attach(node: RaftNode): void {
    this.nodeValue = node;
    // Open ConsumeStreams end at once when this node is removed or found to have lost entries:
    // they would otherwise wait for commits that never come here.
    node.onApplied(() => this.refuseTailsIfEnded());
    node.onStranded(() => this.refuseTailsIfEnded());
  }

  private refuseTailsIfEnded(): void {
    const ended = this.gate.ended(this.nodeValue!);
    if (ended && !this.tailsRefused) this.tails.refuseAll();
    this.tailsRefused = ended;
  }

  /**
   * Throws why this node answers no client call now: it was removed (failed_precondition), lost
   * entries it had acknowledged (failed_precondition), is replaying its log or is joining
   * (unavailable). Every client-facing method checks it, and so does forwarding.
   */
  requireServing(): void {
    const refusal = this.gate.refusal(this.nodeValue);
    if (refusal !== undefined) throw refusal;
  }

  get clusterId(): string {
    return this.clusterIdValue;
  }

  set clusterId(value: string) {
    this.clusterIdValue = value;
  }

  get node(): RaftNode {
    if (this.nodeValue === undefined) throw new TidelogError("unavailable", "the node is starting");
    return this.nodeValue;
  }

  isLeader(): boolean {
    return this.nodeValue?.isLeader ?? false;
  }

  leadership(): number | undefined {
    return this.nodeValue?.leadership;
  }

  leader(): { id: string; address: string | undefined } | undefined {
    const lead = this.nodeValue?.softState.lead;
    if (lead === null || lead === undefined) return undefined;
    return {
      id: lead,
      address: this.stateMachine.servers.get(lead) ?? this.options.announcedAddress(lead),
    };
  }

  /** Why this node should take no client traffic now, or undefined when it may. */
  notReadyReason(): string | undefined {
    return (
      this.gate.refusal(this.nodeValue)?.message ??
      this.membershipReason() ??
      this.options.entryRefusal?.() ??
      this.options.snapshotInstallFailure?.() ??
      (this.isLeader() ? this.roomQuorumReason() : undefined)
    );
  }

  /** The voters now (none before the Raft node is attached). */
  voters(): readonly string[] {
    return this.nodeValue?.confState.voters ?? [];
  }

  /**
   * Why entries proposed now could not commit for want of disk space: the voters that say they
   * refuse entries (peer-entry-refusals.ts) leave no majority with room. Only a leader hears
   * every voter.
   */
  private roomQuorumReason(): string | undefined {
    const voters = this.voters();
    const refusing = this.options.refusingPeers?.(voters) ?? [];
    return refusing.length === 0
      ? undefined
      : roomQuorumShortfall(voters, this.options.id, refusing);
  }

  /**
   * Refuses a write at once (resource_exhausted) when too few voters have disk room to commit
   * it: proposed, it would wait out the proposal timeout and answer "outcome unknown".
   */
  private requireRoomQuorum(): void {
    const reason = this.roomQuorumReason();
    if (reason !== undefined) throw new TidelogError("resource_exhausted", reason);
  }

  /**
   * Not ready while it knows no leader (as etcd's /health): an election is under way, or this
   * node is cut off, or it was removed without learning it (the leader stops sending to a removed
   * node, which then campaigns in vain). Once it applied its own removal the gate says so.
   */
  private membershipReason(): string | undefined {
    if (this.leader() === undefined)
      return "no leader is known: an election is under way, or this node is cut off from its cluster or was removed from it";
    return undefined;
  }

  async produce(name: string, records: readonly RecordInput[]): Promise<number[]> {
    this.requireServing();
    if (records.length === 0) return [];
    this.requireLeader();
    checkTopicName(name);
    if (!this.options.autoCreateTopics) this.stateMachine.registry.require(name);
    else this.stateMachine.registry.checkRoomFor(name);
    const openFiles = this.options.openFiles;
    if (openFiles !== undefined) {
      if (this.stateMachine.registry.get(name) === undefined) openFiles.acceptTopic();
      else openFiles.check();
    }
    const base = await this.coalescer.add(name, records);
    return records.map((_, i) => base + i);
  }

  /** One append entry for the records of one or more produce requests (produce-coalescer.ts). */
  private proposeAppend(
    name: string,
    records: readonly RecordInput[],
    sizes: readonly number[],
  ): Promise<number> {
    const data = encodeAppendRecords(
      name,
      this.options.autoCreateTopics,
      records,
      Date.now(),
      sizes,
    );
    // Written twice: to the Raft log and to the topic log, both done once it is applied here
    // (or it failed); the guard counts the bytes until then.
    const node = this.node;
    const bytes = 2 * data.length;
    this.requireRoomQuorum();
    this.diskSpace.check(bytes);
    const proposed = node.propose(data) as Promise<number>;
    const release = () => this.diskSpace.release(bytes);
    proposed.then(release, release);
    return proposed;
  }

  async consume(name: string, offset: number, limits: ConsumeLimits): Promise<DecodedRecord[]> {
    this.requireServing();
    const topic = this.stateMachine.registry.require(name);
    const stored = await topic.log.readRange(offset, limits);
    // Decoded answers (JSON) stop before the record that passes decodedHeadersMax headers (one
    // record at least): each header costs microseconds to build and encode, where bytes bound
    // them loosely (60 records of 10,000 empty headers each fit in 4 MiB: 500 ms per answer).
    const records: DecodedRecord[] = [];
    let headers = 0;
    for (const record of stored) {
      headers += storedHeaderCount(record.payload);
      if (headers > decodedHeadersMax && records.length > 0) break;
      records.push(decodeRecord(record.offset, record.payload));
    }
    return records;
  }

  consumeWire(name: string, offset: number, limits: ConsumeLimits): Promise<WireSlice> {
    try {
      this.requireServing();
    } catch (error) {
      return Promise.reject(error);
    }
    return this.tails.read(name, offset, limits);
  }

  openTail(name: string, signal: AbortSignal): TailReader {
    this.requireServing();
    return this.tails.open(name, signal);
  }

  /** Topics whose shared tail is held open by readers (tests check that streams release it). */
  get tailsOpen(): number {
    return this.tails.size;
  }

  topic(name: string): TopicInfo {
    this.requireServing();
    return describe(this.stateMachine.registry.require(name));
  }

  topics(): TopicInfo[] {
    this.requireServing();
    return this.stateMachine.registry.list().map(describe);
  }

  async createTopic(name: string, config: TopicConfig): Promise<TopicInfo> {
    this.requireServing();
    checkTopicName(name);
    this.stateMachine.registry.checkRoomFor(name);
    this.options.openFiles?.acceptTopic();
    await this.proposeAdmin({ op: "createTopic", name, config });
    return this.topic(name);
  }

  async updateTopic(
    name: string,
    config: TopicConfig,
    fields?: readonly TopicConfigField[],
  ): Promise<TopicInfo> {
    this.requireServing();
    const current = this.stateMachine.registry.require(name).config;
    // The fields are applied again to the configuration as it is when the entry applies; the
    // whole configuration as this node sees it now goes too, for a node that knows no fields.
    await this.proposeAdmin({
      op: "updateTopic",
      name,
      ...(fields === undefined
        ? { config }
        : { config: withFields(current, config, fields), fields: [...fields] }),
    });
    return this.topic(name);
  }

  async deleteTopic(name: string): Promise<void> {
    this.requireServing();
    this.stateMachine.registry.require(name);
    await this.proposeAdmin({ op: "deleteTopic", name });
  }

  /**
   * The membership as this node knows it. Refused by a joining node (it knows none yet) and a
   * removed one (it is no member; its list stopped at its removal); a replaying node or one that
   * lost entries answers (a member; what it shows helps its operator).
   */
  servers(): ServerInfo[] {
    const refusal = this.gate.refusal(this.nodeValue);
    const kind = refusal === undefined ? undefined : refusalKind(refusal);
    if (kind === "joining" || kind === "removed") throw refusal;
    const node = this.nodeValue;
    if (node === undefined) return [];
    const status = node.status();
    const conf = node.confState;
    const lastIndex = status.lastIndex;
    const describeServer = (id: string, voter: boolean): ServerInfo => {
      const progress = status.progress.get(id);
      const matchIndex = progress?.match ?? (id === node.id ? node.applied : 0);
      return {
        id,
        address: this.stateMachine.servers.get(id) ?? "",
        isLeader: status.softState.lead === id,
        voter,
        term: status.hardState.term,
        matchIndex,
        lag: progress === undefined && id !== node.id ? 0 : Math.max(0, lastIndex - matchIndex),
      };
    };
    return [
      ...conf.voters.map((id) => describeServer(id, true)),
      ...conf.learners.map((id) => describeServer(id, false)),
    ];
  }

  /** Adds a server as a learner, and promotes it to voter once it has caught up (leader only). */
  async join(id: string, address: string, voter: boolean): Promise<string> {
    if (!isNodeId(id)) {
      throw new TidelogError(
        "invalid_argument",
        `a joining server's id must be ${nodeIdRule}, got ${JSON.stringify(id.slice(0, 200))}`,
      );
    }
    if (!isPeerAddress(address)) {
      throw new TidelogError(
        "invalid_argument",
        `a joining server's address must be host:port, got ${JSON.stringify(address)}`,
      );
    }
    this.requireLeader();
    const node = this.node;
    const conf = node.confState;
    const isVoter = conf.voters.includes(id);
    const isLearner = conf.learners.includes(id);
    const sameLearner = isLearner && this.stateMachine.servers.get(id) === address;
    if (isVoter || (isLearner && !sameLearner)) {
      // A member that joins again may have lost its state (a wiped data directory): letting it
      // vote could lose committed entries. It must be removed (Leave) first, explicitly. A learner
      // at the same address may retry: it has no vote, and a promotion waits for it to catch up.
      throw new TidelogError(
        "already_exists",
        `server ${id} is already a member (at ${this.stateMachine.servers.get(id) ?? "an unknown address"}); remove it with Leave before it joins again`,
      );
    }
    // Two members at one address: the node there answers to one id only, so the other would
    // stay a learner that never catches up (and, with voter, the Join would wait for it).
    const holder = [...conf.voters, ...conf.learners].find(
      (member) => member !== id && this.stateMachine.servers.get(member) === address,
    );
    if (holder !== undefined) {
      throw new TidelogError(
        "already_exists",
        `${address} is the address of member ${holder}; each member needs its own address`,
      );
    }
    if (this.stateMachine.servers.get(id) !== address)
      await this.proposeAdmin({ op: "registerServer", id, address });
    if (!sameLearner) await this.proposeConfChange({ type: "addLearner", nodeId: id });
    if (voter) {
      await this.waitCaughtUp(id);
      await this.proposeConfChange({ type: "addVoter", nodeId: id });
    }
    return this.clusterId;
  }

  /** Removes a server (leader only); a leader removing itself steps down once that commits. */
  async leave(id: string): Promise<void> {
    this.requireLeader();
    const conf = this.node.confState;
    if (!conf.voters.includes(id) && !conf.learners.includes(id)) {
      throw new TidelogError("not_found", `server ${id} is not a member`);
    }
    await this.proposeConfChange({ type: "removeNode", nodeId: id });
    if (this.isLeader())
      await this.proposeAdmin({ op: "unregisterServer", id }).catch(() => undefined);
  }

  /** Hands leadership to `targetId` (or the most caught-up voter when empty) and waits for it. */
  async transferLeadership(
    targetId: string,
    timeoutMs = this.options.transferTimeoutMs,
  ): Promise<void> {
    this.requireLeader();
    const node = this.node;
    const target = targetId === "" ? this.mostCaughtUpVoter() : targetId;
    if (target === undefined)
      throw new TidelogError("failed_precondition", "no other voter to hand leadership to");
    if (!node.confState.voters.includes(target))
      throw new TidelogError("not_found", `${target} is not a voter`);
    if (target === node.id) return;
    if (!node.transferLeadership(target))
      throw new TidelogError("failed_precondition", `cannot transfer leadership to ${target} now`);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const lead = node.softState.lead;
      if (lead === target) return;
      if (lead !== node.id && lead !== null && !node.isLeader) return;
      await delay(20);
    }
    throw new TidelogError(
      "unavailable",
      `leadership transfer to ${target} did not finish in ${timeoutMs} ms`,
    );
  }

  mostCaughtUpVoter(): string | undefined {
    const node = this.node;
    const status = node.status();
    let best: { id: string; match: number } | undefined;
    for (const id of node.confState.voters) {
      if (id === node.id) continue;
      const match = status.progress.get(id)?.match ?? 0;
      if (best === undefined || match > best.match) best = { id, match };
    }
    return best?.id;
  }

  async close(): Promise<void> {
    this.diskSpace.stop();
    this.options.openFiles?.stop();
    await this.nodeValue?.stop();
    await this.stateMachine.close();
  }

  private requireLeader(): void {
    if (this.isLeader()) return;
    const leader = this.leader();
    throw new TidelogError(
      "unavailable",
      leader === undefined
        ? "no leader is elected yet; retry"
        : `not the leader; ${leader.id} leads`,
      {
        notLeader: true,
        leaderId: leader?.id ?? "",
        leaderAddress: leader?.address ?? "",
      },
    );
  }

  private async proposeAdmin(command: AdminCommand): Promise<unknown> {
    this.requireLeader();
    // Only a creation takes room; voters short of it still take the others (commandTakesRoom),
    // and a delete is how room is made.
    if (command.op === "createTopic") this.requireRoomQuorum();
    else this.requireNothingStuck();
    return this.node.propose(encodeAdmin(command));
  }

  /**
   * For an entry that takes no room: refused at once only while entries wait uncommitted before
   * it, which voters short of room may be dropping (a log is taken in order, so it would wait on
   * them and answer "outcome unknown" after the proposal timeout).
   */
  private requireNothingStuck(): void {
    const status = this.node.status();
    if (status.lastIndex > status.hardState.commit) this.requireRoomQuorum();
  }

  private async proposeConfChange(change: ConfChange): Promise<void> {
    this.requireLeader();
    const deadline = Date.now() + this.options.catchUpTimeoutMs;
    for (;;) {
      this.requireNothingStuck();
      try {
        await this.node.proposeConfChange(change);
        return;
      } catch (error) {
        // One change at a time: wait for the pending one to apply, then retry.
        const pending =
          error instanceof TidelogError && error.details.reason === "confChangePending";
        if (!pending || Date.now() > deadline) throw error;
        await delay(20);
      }
    }
  }

  private async waitCaughtUp(id: string): Promise<void> {
    const node = this.node;
    const deadline = Date.now() + this.options.catchUpTimeoutMs;
    while (Date.now() < deadline) {
      this.requireLeader();
      if (!node.confState.learners.includes(id)) {
        // Removed (Leave) or promoted by another Join while this one waited.
        if (node.confState.voters.includes(id)) return;
        throw new TidelogError(
          "failed_precondition",
          `server ${id} was removed from the cluster while it was catching up; it was not made a voter`,
        );
      }
      const status = node.status();
      const match = status.progress.get(id)?.match ?? 0;
      if (match >= node.applied) return;
      await delay(20);
    }
    throw new TidelogError(
      "unavailable",
      `server ${id} did not catch up within ${this.options.catchUpTimeoutMs} ms; it stays a learner`,
    );
  }
}

export function newClusterId(): string {
  return randomUUID();
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function describe(topic: Topic): TopicInfo {
  const log = topic.log;
  return {
    name: topic.name,
    config: { ...topic.config },
    lowestOffset: log.lowestOffset,
    nextOffset: log.nextOffset,
    sizeBytes: log.sizeBytes,
    segmentCount: log.segmentCount,
  };
}

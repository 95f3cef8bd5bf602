// A running tidelog node: Raft storage and state machine, the app on one port (public API and
// Raft transport), the Raft driver, and an orderly stop.

import { mkdir, readFile, rm } from "node:fs/promises";
import { isIPv6 } from "node:net";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { clusterIdHeader } from "../api/cluster-credential.js";
import { type ApiLimits, readMaxBytes } from "../api/limits.js";
import { topicsDeletedBy } from "../cluster/commands.js";
import { DiskSpaceGuard } from "../cluster/disk-space-guard.js";
import { EntryAdmission } from "../cluster/entry-admission.js";
import { OpenFilesGuard } from "../cluster/open-files-guard.js";
import { PeerEntryRefusals } from "../cluster/peer-entry-refusals.js";
import { newClusterId, RaftBroker } from "../cluster/raft-broker.js";
import {
  checkClusterOnWire,
  createRaftService,
  createStepStreamMethod,
  type RaftServiceDeps,
} from "../cluster/raft-service.js";
import { createSnapshotFetcher } from "../cluster/snapshot-fetcher.js";
import { SnapshotInstallStatus } from "../cluster/snapshot-install-status.js";
import { encodeSnapshotState } from "../cluster/snapshot-state.js";
import { TopicStateMachine } from "../cluster/topic-state-machine.js";
import { TidelogError } from "../errors.js";
import { RaftService } from "../gen/tidelog/raft/v1/raft_pb.js";
import {
  ClusterService,
  GetServersRequestSchema,
  JoinRequestSchema,
} from "../gen/tidelog/v1/cluster_service_pb.js";
import { fsyncDirectory, writeFileDurably } from "../log/fsync-directory.js";
import { logError } from "../obs/logger.js";
import { DiskStorage } from "../raft/driver/disk-storage.js";
import { PeerTransport } from "../raft/driver/peer-transport.js";
import { RaftNode } from "../raft/driver/raft-node.js";
import { stepStreamPath } from "../raft/driver/step-stream.js";
import { RecentMap } from "../recent-map.js";
import { type App, buildApp } from "./app.js";
import type { OnePortServerOptions } from "./one-port-server.js";

export interface RaftTimings {
  /** Wall-clock length of a Raft tick. */
  tickMs: number;
  /** Election timeout in ticks (randomised up to twice that). */
  electionTicks: number;
  heartbeatTicks: number;
  /** Entries applied between snapshots (which let the Raft log be compacted). */
  snapshotEntries: number;
  /** Data bytes applied between snapshots, whichever of the two comes first. */
  snapshotBytes: number;
  /** Entries kept behind a snapshot for slightly lagging followers. */
  compactionKeepEntries: number;
  /** At most this many data bytes of them (entries behind the applied index stay in memory). */
  compactionKeepBytes: number;
}

export const defaultRaftTimings: RaftTimings = {
  tickMs: 100,
  electionTicks: 10,
  heartbeatTicks: 1,
  snapshotEntries: 50_000,
  snapshotBytes: 64 * 1024 * 1024,
  compactionKeepEntries: 10_000,
  compactionKeepBytes: 128 * 1024 * 1024,
};

export interface NodeConfig {
  id: string;
  host: string;
  port: number;
  /** The address peers and forwarded requests use; defaults to host:boundPort. */
  advertise?: string;
  dataDirectory: string;
  /** Form a new one-node cluster when the data directory holds no state. */
  bootstrap: boolean;
  /** Join the cluster of this member (host:port) when the data directory holds no state. */
  join?: string;
  /** The cluster's id, which a joining node must be given (cluster-credential.ts). */
  clusterId?: string;
  autoCreateTopics: boolean;
  limits: ApiLimits;
  segmentBytesMax: number;
  retentionIntervalMs: number;
  shutdownGraceMs: number;
  /** Writes are refused (resource_exhausted) while the data disk has less free space. */
  diskReserveBytes: number;
  raft: RaftTimings;
  /** Connection timeouts and limits of the listener; defaultOnePortServerOptions if absent. */
  serverOptions?: OnePortServerOptions;
  /** A storage failure the node cannot survive; by default the process exits. */
  onFatal?: (error: unknown) => void;
}

export interface RunningNode {
  readonly app: App;
  readonly broker: RaftBroker;
  /** host:port actually bound (port 0 picks a free one). */
  readonly address: string;
  stop(): Promise<void>;
}

/**
 * A peer's word that it refuses entries for want of disk space lapses after this long without a
 * batch repeating it (its heartbeat responses alone come every heartbeat).
 */
const refusalReportStaleMs = 3_000;
/** Ids whose announced address a node keeps (the newest; peers may claim any id). */
const announcedAddressesMax = 1_024;

function crash(error: unknown): void {
  logError("fatal: storage failed; stopping so that nothing acknowledged is put at risk", error);
  process.exit(70);
}

export async function startNode(config: NodeConfig): Promise<RunningNode> {
  // The guard comes first: the Raft log's zeros written ahead ask it for room too.
  await mkdir(config.dataDirectory, { recursive: true });
  const diskSpace = await DiskSpaceGuard.start({
    directory: config.dataDirectory,
    reserveBytes: config.diskReserveBytes,
    sampleIntervalMs: 1000,
  });
  const storage = await DiskStorage.open(join(config.dataDirectory, raftDirectoryName), {
    // Charged as any write until written: unaccounted zeros let the guard's estimate run up
    // to a fill (8 MiB) ahead of the disk until its next sample.
    zeroFillRoom: (bytes) => (diskSpace.tryAccept(bytes) ? () => diskSpace.release(bytes) : false),
  });
  const clusterFile = join(config.dataDirectory, "cluster-id");
  const idFile = join(config.dataDirectory, nodeIdFileName);
  const storedId = await readStoredNodeId(config.dataDirectory);
  if (storedId !== undefined && storedId !== config.id) {
    diskSpace.stop();
    await storage.close();
    throw new TidelogError(
      "failed_precondition",
      `${config.dataDirectory} belongs to node ${storedId}, not ${config.id}: start it with --id ${storedId} (or without --id)`,
    );
  }
  const empty = storage.isEmpty;
  if (empty && !config.bootstrap && config.join === undefined) {
    diskSpace.stop();
    await storage.close();
    throw new TidelogError(
      "failed_precondition",
      `${config.dataDirectory} holds no cluster state: pass --bootstrap to form a new cluster or --join HOST:PORT to join one`,
    );
  }
  // Written before the first Raft state (at bootstrap, and before a join's request): a node that
  // holds state without it lost it, and peers would refuse every message it sends.
  const clusterId = (await readFile(clusterFile, "utf8").catch(() => "")).trim();
  if (!empty && clusterId === "") {
    diskSpace.stop();
    await storage.close();
    throw new TidelogError(
      "data_loss",
      `${clusterFile} is missing or empty while this node holds Raft state: peers refuse a node of no cluster. Restore the file (any member's cluster-id), or remove the member (Leave), wipe its data directory and join it again`,
    );
  }
  if (storedId === undefined) await writeFileDurably(idFile, config.id);
  const logOptions = { segmentBytesMax: config.segmentBytesMax };
  const snapshotIndex = storage.snapshot().metadata.index;
  // A topic of the checkpoint may be gone because a committed entry after it deletes the topic.
  // Only committed ones: an uncommitted delete may never happen, and a topic missing without
  // one is damage. Applied implies committed, and the commit index is written before the apply
  // (without fsync: after a power loss such a topic is reported damaged, never silently rebuilt).
  const committed = Math.min(storage.initialState().hardState.commit, storage.lastIndex());
  const stateMachine = await TopicStateMachine.open(
    config.dataDirectory,
    storage.snapshot(),
    logOptions,
    committed > snapshotIndex
      ? topicsDeletedBy(storage.entries(snapshotIndex + 1, committed + 1, Number.MAX_SAFE_INTEGER))
      : new Set(),
  );
  const joinPendingFile = join(config.dataDirectory, joinPendingFileName);
  // A join that did not finish (the process died, or gave up, between being added as a learner
  // and being made a voter) left its marker (see resumeJoin below).
  const unfinishedJoin = empty
    ? undefined
    : (await readFile(joinPendingFile, "utf8").catch(() => "")).trim();
  // Addresses peers announced in their messages: a new member answers its leader with them
  // before its first snapshot tells it the membership.
  const announcedAddresses = new RecentMap<string, string>(announcedAddressesMax);
  // Topic segments hold files open: writes are refused before the process runs out of them.
  const openFiles = await OpenFilesGuard.start({ sampleIntervalMs: 1000 });
  const admission = new EntryAdmission(diskSpace, config.dataDirectory, openFiles);
  // Snapshots this node fails to install: logged once per 10 s, and /readyz says so meanwhile.
  const snapshotInstall = new SnapshotInstallStatus({
    warnIntervalMs: 10_000,
    staleAfterMs: 10_000,
  });
  const broker = new RaftBroker(
    {
      id: config.id,
      autoCreateTopics: config.autoCreateTopics,
      catchUpTimeoutMs: 60_000,
      transferTimeoutMs: 10 * config.raft.tickMs * config.raft.electionTicks,
      announcedAddress: (id) => announcedAddresses.get(id),
      replayThrough: committed,
      joining: (empty && config.join !== undefined) || Boolean(unfinishedJoin),
      entryRefusal: () => admission.refusalReason(),
      refusingPeers: (ids): string[] => peerRefusals.refusing(ids),
      snapshotInstallFailure: () => snapshotInstall.notReadyReason(),
      openFiles,
    },
    stateMachine,
    clusterId,
    diskSpace,
  );
  // What peers say of their disks (StepRequest.refusing_entries). Made after the broker, which
  // reads it only later: when it proposes, and when asked whether it is ready.
  const peerRefusals = new PeerEntryRefusals({
    voters: (): readonly string[] => broker.voters(),
    staleAfterMs: refusalReportStaleMs,
  });
  const fetcher = createSnapshotFetcher(() => broker.clusterId, 300_000);
  const raftDeps: RaftServiceDeps = {
    clusterId: () => broker.clusterId,
    node: () => broker.node,
    stateMachine: () => stateMachine,
    fetcher,
    learnAddress: (id, peerAddress) => announcedAddresses.set(id, peerAddress),
    fetchBatchBytes: 1024 * 1024,
    admits: (message) => admission.admits(message),
    heard: (from, refusing) => peerRefusals.heard(from, refusing),
    snapshotInstall,
  };
  let app: App;
  try {
    app = await buildApp({
      broker,
      membership: broker,
      limits: config.limits,
      logError,
      shutdownGraceMs: config.shutdownGraceMs,
      serverOptions: config.serverOptions,
      forwardTimeoutMs: 30_000,
      extraRoutes: (router) => router.service(RaftService, createRaftService(raftDeps)),
      clientStreamMethods: {
        [stepStreamPath]: createStepStreamMethod(raftDeps, readMaxBytes(config.limits)),
      },
      checkPeerRequest: (bytes) => checkClusterOnWire(raftDeps, bytes),
    });
    await app.fastify.listen({ host: config.host, port: config.port });
  } catch (error) {
    await stateMachine.close();
    await storage.close();
    throw error;
  }
  const bound = app.server.address();
  const port = typeof bound === "object" && bound !== null ? bound.port : config.port;
  const address =
    config.advertise ?? `${isIPv6(config.host) ? `[${config.host}]` : config.host}:${port}`;

  if (empty && config.bootstrap) {
    broker.clusterId = newClusterId();
    await writeFileDurably(clusterFile, broker.clusterId);
    await storage.applySnapshot({
      metadata: { index: 1, term: 1, confState: { voters: [config.id], learners: [] } },
      data: encodeSnapshotState({ topics: [], servers: [{ id: config.id, address }] }),
    });
    await storage.setHardState({ term: 1, vote: null, commit: 1 });
    stateMachine.servers.set(config.id, address);
  }

  let node: RaftNode | undefined;
  const transport = new PeerTransport({
    clusterId: () => broker.clusterId,
    selfId: config.id,
    selfAddress: address,
    heardRemoved: (index) => node?.heardRemoved(index),
    refusingEntries: () => admission.refusing,
    addressOf: (id) => stateMachine.servers.get(id) ?? announcedAddresses.get(id),
    reportUnreachable: (id) => node?.reportUnreachable(id),
    reportSnapshot: (id, status) => node?.snapshotStatus(id, status),
    queueMessagesMax: 10_000,
    streamBatchesMax: 1_000,
    stepTimeoutMs: 10_000,
    snapshotTimeoutMs: 600_000,
    retryDelayMs: config.raft.tickMs,
  });
  node = new RaftNode({
    id: config.id,
    storage,
    stateMachine,
    transport,
    tickMs: config.raft.tickMs,
    electionTicks: config.raft.electionTicks,
    heartbeatTicks: config.raft.heartbeatTicks,
    seed: hashSeed(config.id),
    snapshotEntries: config.raft.snapshotEntries,
    snapshotBytes: config.raft.snapshotBytes,
    compactionKeepEntries: config.raft.compactionKeepEntries,
    compactionKeepBytes: config.raft.compactionKeepBytes,
    pendingProposalsMax: 100_000,
    proposalTimeoutMs: 30_000,
    onFatal: config.onFatal ?? crash,
  });
  broker.attach(node);
  node.onApplied((index) => admission.applied(index, storage.lastIndex()));
  node.start();
  const soleVoter = node.confState.voters.length === 1 && node.confState.voters[0] === config.id;
  if (soleVoter) {
    // Alone in its cluster: no one to wait for, lead now, and be ready when startNode returns.
    node.campaign();
    const leader = node;
    await leader.waitUntil(() => leader.isLeader, 10_000);
    // Reads are served from the applied state, which a restart rebuilds by applying the log
    // again. Leading is not enough: until the entry the new leader appended in its term is
    // applied here, records (even whole topics) acknowledged before the restart are missing.
    const leaderEntryIndex = node.status().lastIndex;
    await leader.waitUntil(() => leader.applied >= leaderEntryIndex, 60_000);
  }
  const finishJoin = async (): Promise<void> => {
    await rm(joinPendingFile, { force: true });
    await fsyncDirectory(config.dataDirectory);
  };
  if (empty && config.join !== undefined) {
    try {
      await writeFileDurably(joinPendingFile, config.join);
      await joinCluster(config.join, config, address, broker, clusterFile);
      await finishJoin();
      // The leader made it a voter: serve once that is applied here too (client-gate.ts), so
      // that it is ready when startNode returns. Bounded: the gate still answers if it is not.
      const joined = node;
      await joined.waitUntil(() => joined.confState.voters.includes(config.id), 30_000);
    } catch (error) {
      // Refused (or gave up): release the port, the Raft node's timers and the files, or the
      // process would print the error and then run on, serving, forever.
      await app.fastify.close();
      transport.close();
      await broker.close();
      await storage.close();
      throw error;
    }
  }
  // A join that did not finish: finish it in the background, or the node would stay a learner
  // for good, replicating but never counted. It answers client calls unavailable meanwhile
  // (client-gate.ts): it may lack the cluster's state.
  const joinAborter = new AbortController();
  if (unfinishedJoin) {
    const target = config.join ?? unfinishedJoin;
    resumeJoin(target, config.id, address, broker, joinAborter.signal).then(
      finishJoin,
      (error: unknown) => {
        if (!joinAborter.signal.aborted)
          logError(`could not finish joining the cluster (through ${target})`, error);
      },
    );
  }

  // Retention runs on every node alone: it only drops whole sealed segments, so replicas keep
  // identical records at identical offsets, each from its own lowest offset on.
  const retentionTimer = setInterval(() => {
    stateMachine.registry
      .applyRetention()
      .catch((error: unknown) => logError("retention failed", error));
  }, config.retentionIntervalMs);
  retentionTimer.unref();

  let stopping: Promise<void> | undefined;
  const running: RunningNode = {
    app,
    broker,
    address,
    stop() {
      stopping ??= (async () => {
        clearInterval(retentionTimer);
        joinAborter.abort();
        if (broker.isLeader() && broker.mostCaughtUpVoter() !== undefined) {
          // Hand over before leaving so the cluster does not wait out an election timeout; give
          // up after one election timeout (the peers may be gone too).
          await broker
            .transferLeadership("", config.raft.tickMs * config.raft.electionTicks * 2)
            .catch(() => undefined);
        }
        await app.fastify.close();
        transport.close();
        await broker.close();
        await storage.close();
      })();
      return stopping;
    },
  };
  return running;
}

/** Asks `target` (any member) to add this node; retries until the cluster answers. */
async function joinCluster(
  target: string,
  { id, clusterId }: Pick<NodeConfig, "id" | "clusterId">,
  address: string,
  broker: RaftBroker,
  clusterFile: string,
): Promise<void> {
  if (clusterId === undefined) {
    throw new TidelogError(
      "failed_precondition",
      "joining a cluster needs its id: --cluster-id ID (any member's data directory holds it, in the file cluster-id)",
    );
  }
  const clusterClient = clusterClients();
  const deadline = Date.now() + 300_000;
  let lastError: unknown;
  while (Date.now() < deadline) {
    // Once added as a learner this node hears from the leader: ask it, as `target` may be the
    // leader that just died.
    const client = clusterClient(broker.leader()?.address ?? target);
    try {
      if (broker.clusterId === "") {
        const servers = await client.getServers(create(GetServersRequestSchema, {}), {
          timeoutMs: 5_000,
        });
        if (servers.servers.length === 0)
          throw new Error(`${target} does not know its cluster yet`);
        // Refuse before taking the cluster's id, which is what lets peers' Raft messages in: a
        // member that lost its data (a wiped directory) must not take part (answer appends with
        // an empty log, grant votes it already gave) before the leader refuses its Join.
        if (servers.servers.some((server) => server.id === id)) throw alreadyMember(id, target);
        broker.clusterId = clusterId;
        await writeFileDurably(clusterFile, broker.clusterId);
      }
      await client.join(create(JoinRequestSchema, { id, address, voter: true }), {
        timeoutMs: 120_000,
        headers: { [clusterIdHeader]: clusterId },
      });
      return;
    } catch (error) {
      lastError = error;
      if (error instanceof TidelogError) throw error;
      if (error instanceof ConnectError && error.code === Code.PermissionDenied) {
        throw new TidelogError(
          "failed_precondition",
          `the cluster of ${target} refused to add this node: ${error.rawMessage} (is --cluster-id its id?)`,
        );
      }
      if (error instanceof ConnectError && error.code === Code.AlreadyExists)
        throw alreadyMember(id, target);
      await delay(500);
    }
  }
  throw new TidelogError(
    "unavailable",
    `could not join the cluster through ${target}: ${String(lastError)}`,
  );
}

/**
 * Finishes a join begun before a restart: asks the leader (when this node knows it, else
 * `target`) to promote this node, until it is a voter or the node stops. A node no longer listed
 * was removed meanwhile (Leave): it is not added back behind the operator's back.
 */
async function resumeJoin(
  target: string,
  id: string,
  address: string,
  broker: RaftBroker,
  signal: AbortSignal,
): Promise<void> {
  const clusterClient = clusterClients();
  while (!signal.aborted) {
    const via = broker.leader()?.address ?? target;
    const client = clusterClient(via);
    try {
      const { servers } = await client.getServers(create(GetServersRequestSchema, {}), {
        timeoutMs: 5_000,
        signal,
      });
      const self = servers.find((server) => server.id === id);
      if (self === undefined) {
        throw new TidelogError(
          "failed_precondition",
          `server ${id} was removed from the cluster while it was joining; to join again, empty its data directory and start it with --join`,
        );
      }
      if (self.voter) return;
      await client.join(create(JoinRequestSchema, { id, address, voter: true }), {
        timeoutMs: 120_000,
        signal,
        headers: { [clusterIdHeader]: broker.clusterId },
      });
      return;
    } catch (error) {
      if (error instanceof TidelogError) throw error;
      // Refused for good (say, listed at another address): retrying would not change that.
      if (error instanceof ConnectError && error.code === Code.AlreadyExists) throw error;
      if (!signal.aborted) await delay(500);
    }
  }
  throw new TidelogError("unavailable", "the node stopped before it finished joining");
}

/**
 * ClusterService clients by address, one each for a join's retries, so that they reuse its
 * connection instead of opening one per attempt; gone with the join.
 */
function clusterClients(): (target: string) => Client<typeof ClusterService> {
  const clients = new Map<string, Client<typeof ClusterService>>();
  return (target) => {
    let client = clients.get(target);
    if (client === undefined) {
      client = createClient(ClusterService, createGrpcTransport({ baseUrl: `http://${target}` }));
      clients.set(target, client);
    }
    return client;
  };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The file in a data directory that says a join was begun and has not finished. */
export const joinPendingFileName = "join-pending";

function alreadyMember(id: string, target: string): TidelogError {
  return new TidelogError(
    "already_exists",
    `server ${id} is already a member of the cluster of ${target}: a member that lost its data must be removed (Leave ${id}) before it joins again`,
  );
}

/** The file in a data directory that names the node it belongs to. */
export const nodeIdFileName = "node-id";

/** The data directory's subdirectory of Raft state (DiskStorage). */
const raftDirectoryName = "raft";

/** Whether a data directory holds Raft state (a snapshot: every member has one from the start). */
export function holdsRaftState(dataDirectory: string): boolean {
  return DiskStorage.holdsState(join(dataDirectory, raftDirectoryName));
}

/** The id a data directory belongs to, or undefined when it names none (new, or older). */
export async function readStoredNodeId(dataDirectory: string): Promise<string | undefined> {
  const stored = (
    await readFile(join(dataDirectory, nodeIdFileName), "utf8").catch(() => "")
  ).trim();
  return stored === "" ? undefined : stored;
}

/** A per-node seed for election jitter: different ids campaign at different times. */
function hashSeed(id: string): number {
  let hash = 2166136261;
  for (const character of Buffer.from(`${id}:${process.pid}:${Date.now()}`))
    hash = Math.imul(hash ^ character, 16777619);
  return hash >>> 0;
}

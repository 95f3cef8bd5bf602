// tidelog.raft.v1.RaftService on this node: Step hands peers' messages to the Raft driver (for a
// snapshot, after fetching its content from the sender); FetchSnapshot streams a topic's records
// to a follower installing a snapshot.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { isTidelogError, TidelogError } from "../errors.js";
import {
  FetchSnapshotResponseSchema,
  type RaftService,
  type StepRequest,
  StepResponseSchema,
  StepStreamResponseSchema,
} from "../gen/tidelog/raft/v1/raft_pb.js";
import { isPeerAddress } from "../host-port.js";
import { logInfo } from "../obs/logger.js";
import { RateLimitedLog } from "../obs/rate-limited-log.js";
import { messageFromProto } from "../raft/driver/message-codec.js";
import type { RaftNode } from "../raft/driver/raft-node.js";
import { removalVerdict } from "../raft/driver/removal-verdict.js";
import { decodeStepRequest, leadingClusterId } from "../raft/driver/step-wire.js";
import { decodeConfChange, type Entry, type Message } from "../raft/index.js";
import { decodeCommand } from "./commands.js";
import type { SnapshotInstallStatus } from "./snapshot-install-status.js";
import type { InstalledTopic, SnapshotFetcher, TopicStateMachine } from "./topic-state-machine.js";

/** A peer asks again every Raft tick: a damaged record it asks for is logged this often. */
const damagedRecordWarnIntervalMs = 10_000;

export interface RaftServiceDeps {
  clusterId: () => string;
  node: () => RaftNode;
  stateMachine: () => TopicStateMachine;
  fetcher: SnapshotFetcher;
  /** Remembers where a peer said it is (used until the membership lists it). */
  learnAddress: (id: string, address: string) => void;
  /** Records per FetchSnapshot response message. */
  fetchBatchBytes: number;
  /** False for entries or a snapshot this node has no disk room for: dropped (entry-admission.ts). */
  admits: (message: Message) => boolean;
  /**
   * A peer's batch arrived, saying whether it refuses entries for want of disk space
   * (StepRequest.refusing_entries; kept by peer-entry-refusals.ts).
   */
  heard: (from: string, refusingEntries: boolean) => void;
  /** How the snapshots this node was sent fared (for logs and readiness). */
  snapshotInstall: SnapshotInstallStatus;
}

export function createRaftService(deps: RaftServiceDeps): ServiceImpl<typeof RaftService> {
  const warnings = new RateLimitedLog(damagedRecordWarnIntervalMs);
  return {
    async step(request) {
      await deliver(deps, request);
      return create(StepResponseSchema, {});
    },

    async stepStream(requests) {
      for await (const request of requests) await deliver(deps, request);
      return create(StepStreamResponseSchema, {});
    },

    async *fetchSnapshot(request) {
      checkCluster(deps, request.clusterId);
      const machine = deps.stateMachine();
      const topic = machine.registry.require(request.topic);
      const wanted = Number(request.topicCreatedIndex);
      const here = machine.createdIndex(request.topic);
      if (wanted !== 0 && here !== undefined && here !== wanted) {
        throw new TidelogError(
          "failed_precondition",
          `topic ${request.topic} here was created at index ${here}, not ${wanted}: it was deleted and created again since the snapshot`,
        );
      }
      const end = Number(request.endOffset);
      if (topic.log.nextOffset < end) {
        throw new TidelogError(
          "unavailable",
          `topic ${request.topic} has not reached ${end} here yet`,
        );
      }
      const from = Math.max(Number(request.fromOffset), topic.log.lowestOffset);
      try {
        for await (const batch of topic.log.stream({
          fromOffset: from,
          endOffset: end,
          batchBytes: deps.fetchBatchBytes,
        })) {
          yield create(FetchSnapshotResponseSchema, {
            firstOffset: BigInt(batch[0]!.offset),
            payloads: batch.map((record) => record.payload),
          });
        }
      } catch (error) {
        if (!isTidelogError(error, "data_loss")) throw error;
        // A damaged record is never sent. The asker fetches the range from another member; the
        // answer names topic and offset, and this node logs it once per interval, not per ask.
        const message = `topic ${request.topic}: record ${String(error.details.offset ?? "?")} is damaged on this node (${error.message}); fetch it from another member`;
        warnings.warn("serve-snapshot-damaged", "a snapshot fetch reached a damaged record", {
          topic: request.topic,
          offset: error.details.offset,
          reason: error.message,
        });
        throw new ConnectError(message, Code.DataLoss);
      }
    },
  };
}

/**
 * RaftService.StepStream as peers call it (plain gRPC over HTTP/2, served by
 * server/grpc-client-stream.ts): each message is decoded by hand (raft/driver/step-wire.ts)
 * and handed to the driver at once.
 */
export function createStepStreamMethod(deps: RaftServiceDeps, messageBytesMax: number) {
  return {
    messageBytesMax,
    onMessage(bytes: Buffer): undefined {
      checkClusterOnWire(deps, bytes);
      const batch = decodeStepRequest(bytes);
      checkCluster(deps, batch.clusterId);
      checkSenderAddress(batch.senderAddress);
      checkNotRemoved(deps, batch.messages);
      heardFrom(deps, batch.messages, batch.refusingEntries);
      for (const message of batch.messages) handOver(deps, batch.senderAddress, message);
      return undefined;
    },
  };
}

/** Hands a peer's batch to the Raft driver (for a snapshot, after fetching its content). */
async function deliver(deps: RaftServiceDeps, request: StepRequest): Promise<void> {
  checkCluster(deps, request.clusterId);
  checkSenderAddress(request.senderAddress);
  checkNotRemoved(deps, request.messages);
  heardFrom(deps, request.messages, request.refusingEntries);
  for (const proto of request.messages) {
    const message = messageFromProto(proto);
    if (message.type === "snapshot") {
      checkRecipient(deps, message);
      // No room: not even its topics are fetched. The leader sends it again later.
      if (!deps.admits(message)) continue;
      const index = message.snapshot.metadata.index;
      // Applied here already: Raft ignores it (and says how far this node is), nothing to fetch.
      if (index <= deps.node().applied) {
        handOver(deps, request.senderAddress, message);
        continue;
      }
      deps.snapshotInstall.started();
      let topics: InstalledTopic[];
      try {
        topics = await deps
          .stateMachine()
          .prepareSnapshot(
            message.snapshot,
            { from: message.from, to: message.to, senderAddress: request.senderAddress },
            deps.fetcher,
          );
      } catch (error) {
        // A snapshot that is not valid is the sender's fault, not this node's: refused as it is.
        if (isTidelogError(error, "invalid_argument")) throw error;
        // Logged there, once per interval: the leader sends it again every tick. The answer is
        // unavailable, which is not logged again here.
        deps.snapshotInstall.failed(index, message.from, error);
        throw new TidelogError(
          "unavailable",
          `snapshot ${index} not installed: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
      deps.snapshotInstall.succeeded(index);
      logInfo("snapshot prepared", {
        index: message.snapshot.metadata.index,
        from: message.from,
        topics,
      });
    }
    handOver(deps, request.senderAddress, message);
  }
}

/** A batch is from one peer (StepRequest): its first message names it (none when empty). */
function senderOf(messages: readonly { from: string }[]): string | undefined {
  const from = messages[0]?.from;
  return from === "" ? undefined : from;
}

function heardFrom(
  deps: RaftServiceDeps,
  messages: readonly { from: string }[],
  refusingEntries: boolean,
): void {
  const from = senderOf(messages);
  if (from !== undefined) deps.heard(from, refusingEntries);
}

/**
 * Refuses a batch from a member this node applied the removal of (and that was not added again):
 * its StepStream ends with a verdict naming the removal's index, from which a node cut off when
 * it was removed learns it (removal-verdict.ts).
 */
function checkNotRemoved(deps: RaftServiceDeps, messages: readonly { from: string }[]): void {
  const from = senderOf(messages);
  if (from === undefined) return;
  const node = deps.node();
  const { voters, learners } = node.confState;
  if (voters.includes(from) || learners.includes(from)) return;
  const index = deps.stateMachine().removals.indexOf(from);
  if (index !== undefined)
    throw new TidelogError("failed_precondition", removalVerdict(from, index));
}

function checkRecipient(deps: RaftServiceDeps, message: Message): void {
  const id = deps.node().id;
  if (message.to !== id) {
    throw new TidelogError("failed_precondition", `message for ${message.to} reached ${id}`);
  }
}

function handOver(deps: RaftServiceDeps, senderAddress: string, message: Message): void {
  checkRecipient(deps, message);
  if (message.type === "append") checkEntries(message.entries);
  if (senderAddress !== "") deps.learnAddress(message.from, senderAddress);
  // Dropped like a lost message when the disk has no room for its entries.
  if (!deps.admits(message)) return;
  deps.node().step(message);
}

/**
 * Refuses entries this node could not apply. Every entry a leader replicates was proposed as a
 * command (commands.ts) or a membership change; one that is neither would otherwise be appended,
 * committed and then stop every replica that applies it. The whole message is refused.
 */
function checkEntries(entries: readonly Entry[]): void {
  for (const entry of entries) {
    try {
      if (entry.type === "confChange") decodeConfChange(entry.data);
      else if (entry.data.length > 0) decodeCommand(entry.data);
    } catch (error) {
      throw new TidelogError(
        "invalid_argument",
        `entry ${entry.index} is not a command: ${(error as Error).message}`,
      );
    }
  }
}

/** A batch's sender address, learnt for its messages' sender: host:port, or none (""). */
function checkSenderAddress(senderAddress: string): void {
  if (senderAddress !== "" && !isPeerAddress(senderAddress)) {
    throw new TidelogError(
      "invalid_argument",
      `sender address ${JSON.stringify(senderAddress)} is not host:port`,
    );
  }
}

/**
 * The cluster id is the members' credential: a request without it is refused, and the answer
 * does not say what it is (an outside probe read it from this message).
 */
function checkCluster(deps: Pick<RaftServiceDeps, "clusterId">, clusterId: string | undefined) {
  // A node still joining has no cluster yet: it takes nothing (an empty id matched its own, and
  // a forged snapshot made it a voter holding nothing).
  if (deps.clusterId() === "")
    throw new TidelogError("unavailable", "this node has not joined a cluster yet");
  if (clusterId !== deps.clusterId()) {
    throw new TidelogError(
      "failed_precondition",
      clusterId === undefined || clusterId === ""
        ? "a raft message must carry the cluster id of this node's cluster"
        : `message from cluster ${JSON.stringify(clusterId)}, not this node's`,
    );
  }
}

/**
 * Checks a RaftService request's cluster id on its wire, before anything else in it is decoded:
 * decoding costs microseconds per message or entry, and a client's 8 MB of empty messages held a
 * node's loop for 21 s before the id was looked at.
 */
export function checkClusterOnWire(deps: Pick<RaftServiceDeps, "clusterId">, bytes: Uint8Array) {
  checkCluster(deps, leadingClusterId(bytes));
}

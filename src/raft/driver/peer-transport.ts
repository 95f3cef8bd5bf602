// Sends Raft messages to peers over the RaftService on their public port (gRPC over h2c).
//
// One long-lived StepStream per peer carries the batches (a message on an open stream costs far
// less than a call), written by hand onto its own HTTP/2 connection (step-stream.ts,
// step-wire.ts); snapshots go by a Step call, whose answer says whether the peer fetched the
// snapshot's content, and are reported ok or failed to the core. The queue is bounded; when
// it is full, new messages are dropped (Raft resends) and the peer is reported unreachable.
// A failed call reports the peer unreachable and, for snapshots, the snapshot as failed.
import { create } from "@bufbuild/protobuf";
import { type Client, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { RaftService, StepRequestSchema } from "../../gen/tidelog/raft/v1/raft_pb.js";
import { isPeerAddress } from "../../host-port.js";
import { batchBufferPool } from "../../log/buffer-pool.js";
import type { Message, NodeId } from "../index.js";
import { messageToProto } from "./message-codec.js";
import type { Transport } from "./raft-node.js";
import { parseRemovalVerdict } from "./removal-verdict.js";
import { PeerConnection, StepStream } from "./step-stream.js";
import { encodeStepFrames } from "./step-wire.js";

const acquireFrame = (bytes: number) => batchBufferPool.acquire(bytes);
const releaseFrame = (frame: Buffer) => batchBufferPool.release(frame);

const debugTransport = process.env.TIDELOG_DEBUG_TRANSPORT === "1";
const counts = { calls: 0, messages: 0, entries: 0, entryBytes: 0, rejects: 0 };
let countsReporter: NodeJS.Timeout | undefined;
function countBatch(batch: readonly Message[]): void {
  if (countsReporter === undefined) {
    countsReporter = setInterval(() => {
      process.stderr.write(`transport ${JSON.stringify(counts)}\n`);
      Object.assign(counts, { calls: 0, messages: 0, entries: 0, entryBytes: 0, rejects: 0 });
    }, 1000).unref();
  }
  counts.calls++;
  counts.messages += batch.length;
  for (const message of batch) {
    if (message.type === "append") {
      counts.entries += message.entries.length;
      for (const entry of message.entries) counts.entryBytes += entry.data.length;
    }
    if (message.type === "appendResponse" && message.reject) counts.rejects++;
  }
}

export interface PeerTransportOptions {
  /** The cluster's id (a joining node learns it after it starts). */
  clusterId: () => string;
  /** This node's id and address; the address is sent with every batch. */
  selfId: NodeId;
  selfAddress: string;
  /** A peer ended a stream saying this node was removed at this index (removal-verdict.ts). */
  heardRemoved: (index: number) => void;
  /**
   * True while this node drops peers' entries for want of disk space: said on every batch
   * (StepRequest.refusing_entries), so that a leader knows a full follower from a slow one.
   */
  refusingEntries: () => boolean;
  /** The address (host:port) of a peer, or undefined when unknown. */
  addressOf: (id: NodeId) => string | undefined;
  reportUnreachable: (id: NodeId) => void;
  reportSnapshot: (id: NodeId, status: "ok" | "failed") => void;
  /** Messages waiting for one peer. */
  queueMessagesMax: number;
  /** Batches waiting on a peer's stream; more are dropped (Raft resends). */
  streamBatchesMax: number;
  /** A Step call taking longer fails (snapshots get longer: their content is fetched in it). */
  stepTimeoutMs: number;
  snapshotTimeoutMs: number;
  /** Pause after a failed call before the next one to the same peer. */
  retryDelayMs: number;
}

interface Peer {
  queue: Message[];
  sending: boolean;
  address: string | undefined;
  /** For Step calls (snapshots). */
  client: Client<typeof RaftService> | undefined;
  /** For the StepStream. */
  connection: PeerConnection | undefined;
  /** The open StepStream, if any. */
  stream: StepStream | undefined;
  /** When the last stream failed (ms); a new one waits retryDelayMs after it. */
  streamFailedAtMs: number;
}

export class PeerTransport implements Transport {
  private readonly peers = new Map<NodeId, Peer>();
  private closed = false;

  constructor(private readonly options: PeerTransportOptions) {}

  send(messages: Message[]): void {
    if (this.closed) return;
    for (const message of messages) {
      const peer = this.peer(message.to);
      if (peer.queue.length >= this.options.queueMessagesMax) {
        if (message.type === "snapshot") this.options.reportSnapshot(message.to, "failed");
        this.options.reportUnreachable(message.to);
        continue;
      }
      peer.queue.push(message);
    }
    for (const [id, peer] of this.peers)
      if (peer.queue.length > 0 && !peer.sending) void this.pump(id, peer);
  }

  close(): void {
    this.closed = true;
    for (const peer of this.peers.values()) {
      peer.stream?.close();
      peer.connection?.close();
    }
    this.peers.clear();
  }

  private peer(id: NodeId): Peer {
    let peer = this.peers.get(id);
    if (peer === undefined) {
      peer = {
        queue: [],
        sending: false,
        address: undefined,
        client: undefined,
        connection: undefined,
        stream: undefined,
        streamFailedAtMs: 0,
      };
      this.peers.set(id, peer);
    }
    return peer;
  }

  private clientFor(id: NodeId, peer: Peer): Client<typeof RaftService> | undefined {
    const address = this.options.addressOf(id);
    if (address === undefined) return undefined;
    if (peer.client === undefined || peer.address !== address) {
      // Addresses come from the replicated state (Join, a snapshot) and from peers' messages; one
      // that is not host:port would make the transport's URL throw inside the Raft loop. Such a
      // peer is unreachable, like one whose address is unknown. Checked when it changes only:
      // this runs for every batch sent.
      if (!isPeerAddress(address)) return undefined;
      peer.address = address;
      peer.stream?.close();
      peer.stream = undefined;
      peer.connection?.close();
      peer.connection = undefined;
      // Pings find a connection that died silently (a partition) so the stream is reopened.
      peer.client = createClient(
        RaftService,
        createGrpcTransport({
          baseUrl: `http://${address}`,
          pingIntervalMs: 1000,
          pingTimeoutMs: 2000,
        }),
      );
    }
    return peer.client;
  }

  /** The open stream to a peer, opening one unless the last failed moments ago. */
  private streamFor(id: NodeId, peer: Peer): StepStream | undefined {
    if (this.clientFor(id, peer) === undefined || peer.address === undefined) return undefined;
    if (peer.stream?.isOpen) return peer.stream;
    if (Date.now() - peer.streamFailedAtMs < this.options.retryDelayMs) return undefined;
    if (peer.connection === undefined || !peer.connection.isOpen) {
      peer.connection?.close();
      peer.connection = new PeerConnection(peer.address, {
        pingIntervalMs: 1000,
        pingTimeoutMs: 2000,
      });
    }
    let stream: StepStream | undefined;
    const onEnd = (error: Error | undefined) => {
      if (peer.stream === stream) peer.stream = undefined;
      if (error !== undefined && !this.closed) {
        peer.streamFailedAtMs = Date.now();
        const removedAt = parseRemovalVerdict(error.message, this.options.selfId);
        if (removedAt !== undefined) this.options.heardRemoved(removedAt);
        if (process.env.TIDELOG_DEBUG) console.error("stream to", id, "ended:", error);
        this.options.reportUnreachable(id);
      }
    };
    try {
      stream = new StepStream(peer.connection, this.options.streamBatchesMax, onEnd);
    } catch (error) {
      // The session refused a new stream (closed or destroyed under us, e.g. by a GOAWAY that
      // has not been seen yet): drop it and open a fresh one after the retry delay.
      if (process.env.TIDELOG_DEBUG) console.error("stream to", id, "not opened:", error);
      peer.connection.close();
      peer.connection = undefined;
      peer.streamFailedAtMs = Date.now();
      return undefined;
    }
    peer.stream = stream;
    return stream;
  }

  private async pump(id: NodeId, peer: Peer): Promise<void> {
    peer.sending = true;
    try {
      while (peer.queue.length > 0 && !this.closed) {
        const batch = peer.queue.splice(0, peer.queue.length);
        if (debugTransport) countBatch(batch);
        const snapshots = batch.filter((message) => message.type === "snapshot");
        if (snapshots.length === 0) {
          // The common case: onto the peer's open stream, without waiting.
          const stream = this.streamFor(id, peer);
          if (stream === undefined) {
            this.options.reportUnreachable(id);
            continue;
          }
          // Frames of ~100 KiB, gone after the write: from the pool, not fresh external memory
          // whose growth makes V8 run full collections. A backlog goes in several frames, each
          // within what the peer reads (stepFrameBytesMax).
          const frames = encodeStepFrames(
            {
              clusterId: this.options.clusterId(),
              senderAddress: this.options.selfAddress,
              messages: batch,
              refusingEntries: this.options.refusingEntries(),
            },
            acquireFrame,
          );
          for (const [i, frame] of frames.entries()) {
            if (!stream.offer(frame, releaseFrame)) {
              for (const unsent of frames.slice(i)) batchBufferPool.release(unsent);
              this.options.reportUnreachable(id);
              break;
            }
          }
          continue;
        }
        const client = this.clientFor(id, peer);
        try {
          if (client === undefined) throw new Error(`no address for peer ${id}`);
          await client.step(
            create(StepRequestSchema, {
              clusterId: this.options.clusterId(),
              senderAddress: this.options.selfAddress,
              messages: batch.map(messageToProto),
              refusingEntries: this.options.refusingEntries(),
            }),
            {
              timeoutMs:
                snapshots.length > 0 ? this.options.snapshotTimeoutMs : this.options.stepTimeoutMs,
            },
          );
          for (const _ of snapshots) this.options.reportSnapshot(id, "ok");
        } catch (error) {
          if (process.env.TIDELOG_DEBUG) console.error("step to", id, "failed:", error);
          for (const _ of snapshots) this.options.reportSnapshot(id, "failed");
          this.options.reportUnreachable(id);
          await new Promise((resolve) => setTimeout(resolve, this.options.retryDelayMs));
        }
      }
    } finally {
      peer.sending = false;
    }
  }
}

// The client side of RaftService.FetchSnapshot: streams one topic's records from the node that
// sent a snapshot.
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { FetchSnapshotRequestSchema, RaftService } from "../gen/tidelog/raft/v1/raft_pb.js";
import type { StoredRecord } from "../log/log.js";
import type { SnapshotFetcher } from "./topic-state-machine.js";

export function createSnapshotFetcher(clusterId: () => string, timeoutMs: number): SnapshotFetcher {
  return async function* fetchTopic({
    address,
    snapshotIndex,
    topic,
    createdIndex,
    fromOffset,
    endOffset,
  }) {
    // One connection for this topic, closed when done: a transport left to itself kept its
    // connection open on both nodes, one per topic of every snapshot installed (10,000 topics
    // took the leader to its fd limit). A 4 MiB stream window lets the sender run ahead of the
    // writes here.
    const baseUrl = `http://${address}`;
    const sessions = new Http2SessionManager(baseUrl, undefined, {
      settings: { initialWindowSize: 4 * 1024 * 1024 },
    });
    const client = createClient(
      RaftService,
      createGrpcTransport({ baseUrl, sessionManager: sessions }),
    );
    const request = create(FetchSnapshotRequestSchema, {
      clusterId: clusterId(),
      snapshotIndex: BigInt(snapshotIndex),
      topic,
      fromOffset: BigInt(fromOffset),
      endOffset: BigInt(endOffset),
      topicCreatedIndex: BigInt(createdIndex),
    });
    try {
      for await (const response of client.fetchSnapshot(request, { timeoutMs })) {
        const first = Number(response.firstOffset);
        const batch: StoredRecord[] = response.payloads.map((payload, i) => ({
          offset: first + i,
          payload: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
        }));
        yield batch;
      }
    } finally {
      sessions.abort();
    }
  };
}

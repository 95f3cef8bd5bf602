// The client side of RaftService.FetchSnapshot: streams one topic's records from the node that
// sent a snapshot.
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
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
    const client = createClient(RaftService, createGrpcTransport({ baseUrl: `http://${address}` }));
    const request = create(FetchSnapshotRequestSchema, {
      clusterId: clusterId(),
      snapshotIndex: BigInt(snapshotIndex),
      topic,
      fromOffset: BigInt(fromOffset),
      endOffset: BigInt(endOffset),
      topicCreatedIndex: BigInt(createdIndex),
    });
    for await (const response of client.fetchSnapshot(request, { timeoutMs })) {
      const first = Number(response.firstOffset);
      const batch: StoredRecord[] = response.payloads.map((payload, i) => ({
        offset: first + i,
        payload: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
      }));
      yield batch;
    }
  };
}

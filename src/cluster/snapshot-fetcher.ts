// The client side of RaftService.FetchSnapshot: streams one topic's records from a member that
// holds them (snapshot-sources.ts).
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { FetchSnapshotRequestSchema, RaftService } from "../gen/tidelog/raft/v1/raft_pb.js";
import type { StoredRecord } from "../log/log.js";
import type { SnapshotFetcher } from "./topic-state-machine.js";

/** A connection no fetch used for this long is closed. */
const idleCloseMs = 1_000;

interface Connection {
  sessions: Http2SessionManager;
  client: ReturnType<typeof createClient<typeof RaftService>>;
  fetches: number;
  idleTimer?: NodeJS.Timeout;
}

export function createSnapshotFetcher(clusterId: () => string, timeoutMs: number): SnapshotFetcher {
  // One connection per member, shared by the fetches of its topics (an install fetches many
  // topics, several at once) and closed once idle: a connection per topic cost a TCP and HTTP/2
  // handshake per topic, and one left to itself stayed open on both nodes, one per topic of every
  // snapshot installed (10,000 topics took the leader to its fd limit). A 4 MiB stream window lets
  // the sender run ahead of the writes here.
  const connections = new Map<string, Connection>();
  const acquire = (address: string): Connection => {
    let connection = connections.get(address);
    if (connection === undefined) {
      const baseUrl = `http://${address}`;
      const sessions = new Http2SessionManager(baseUrl, undefined, {
        settings: { initialWindowSize: 4 * 1024 * 1024 },
      });
      const client = createClient(
        RaftService,
        createGrpcTransport({ baseUrl, sessionManager: sessions }),
      );
      connection = { sessions, client, fetches: 0 };
      connections.set(address, connection);
    }
    clearTimeout(connection.idleTimer);
    connection.fetches++;
    return connection;
  };
  const release = (address: string, connection: Connection, failed: boolean): void => {
    connection.fetches--;
    if (failed) {
      // A broken connection is not handed to the next fetch (the member is tried again fresh).
      if (connections.get(address) === connection) connections.delete(address);
      if (connection.fetches === 0) connection.sessions.abort();
      return;
    }
    if (connection.fetches > 0) return;
    connection.idleTimer = setTimeout(() => {
      if (connection.fetches > 0) return;
      if (connections.get(address) === connection) connections.delete(address);
      connection.sessions.abort();
    }, idleCloseMs);
    connection.idleTimer.unref();
  };
  return async function* fetchTopic({
    address,
    snapshotIndex,
    topic,
    createdIndex,
    fromOffset,
    endOffset,
  }) {
    const request = create(FetchSnapshotRequestSchema, {
      clusterId: clusterId(),
      snapshotIndex: BigInt(snapshotIndex),
      topic,
      fromOffset: BigInt(fromOffset),
      endOffset: BigInt(endOffset),
      topicCreatedIndex: BigInt(createdIndex),
    });
    const connection = acquire(address);
    let failed = true;
    try {
      for await (const response of connection.client.fetchSnapshot(request, { timeoutMs })) {
        const first = Number(response.firstOffset);
        const batch: StoredRecord[] = response.payloads.map((payload, i) => ({
          offset: first + i,
          payload: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
        }));
        yield batch;
      }
      failed = false;
    } finally {
      release(address, connection, failed);
    }
  };
}

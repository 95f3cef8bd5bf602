// A backlog of ~19 MB of large entries on a cluster's leader (24 concurrent produce requests of
// 8 records of 100 KiB), and a wait for a joining node to be a learner that holds some of it:
// behind that much, a joiner stays a learner for a second or so.
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { ProduceRequestSchema } from "../../src/gen/tidelog/v1/log_service_pb.js";
import { RecordSchema } from "../../src/gen/tidelog/v1/record_pb.js";
import { type Cluster, waitUntil } from "../harness/cluster.js";

const requests = 24;
const recordsPerRequest = 8;
const recordBytes = 100 * 1024;

/** The backlog's record values, each a different byte repeated. */
export const backlogValues: readonly Uint8Array[] = Array.from(
  { length: requests * recordsPerRequest },
  (_, i) => new Uint8Array(recordBytes).fill(33 + (i % 90)),
);

/** Produces the backlog to `topic` through `leader`, its requests concurrently. */
export async function produceBacklog(cluster: Cluster, leader: string, topic: string) {
  await Promise.all(
    Array.from({ length: requests }, (_, r) =>
      cluster.client(leader).log.produce(
        create(ProduceRequestSchema, {
          topic,
          records: backlogValues
            .slice(r * recordsPerRequest, (r + 1) * recordsPerRequest)
            .map((value) => create(RecordSchema, { value })),
        }),
        { timeoutMs: 30_000 },
      ),
    ),
  );
}

/**
 * Waits until `leader` lists `id` as a learner holding entries; fails if it is a voter first
 * (it caught up before a fault could be injected).
 */
export async function waitLearnerHoldingEntries(cluster: Cluster, leader: string, id: string) {
  let state = "";
  await waitUntil(
    async () => {
      const servers = await cluster.servers(leader).catch(() => undefined);
      const server = servers?.servers.find((each) => each.id === id);
      state =
        server === undefined ? "absent" : server.voter ? "voter" : `learner@${server.matchIndex}`;
      return state === "voter" || (server !== undefined && !server.voter && server.matchIndex > 0n);
    },
    () => `${id} is a learner holding entries (it is ${state})`,
    30_000,
    5,
  );
  assert.notEqual(state, "voter", `${id} caught up before the fault: enlarge the backlog`);
}

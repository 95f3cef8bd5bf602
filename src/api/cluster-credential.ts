// The cluster's id is its members' shared credential: Raft messages carry it (a peer checks it on
// every batch), and membership changes (Join, Leave, TransferLeadership) must present it in the
// `tidelog-cluster-id` header. It is never told to a client (GetServers answers ""): an operator
// gives it to a new member (`--cluster-id`, from any member's data directory, file cluster-id).
// GetServers used to answer it to anyone, and one unauthenticated request to RaftService/Step
// with it, carrying a forged snapshot of no topics, wiped every topic on every node (outside
// probe Q1). Peers are not authenticated otherwise yet: TLS and ACLs come with the security work.
import { timingSafeEqual } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";

export const clusterIdHeader = "tidelog-cluster-id";

/** Refuses a membership change whose `tidelog-cluster-id` header is not `clusterId`. */
export function requireClusterCredential(header: Headers, clusterId: string): void {
  const given = Buffer.from(header.get(clusterIdHeader) ?? "", "utf8");
  const expected = Buffer.from(clusterId, "utf8");
  if (clusterId !== "" && given.length === expected.length && timingSafeEqual(given, expected)) {
    return;
  }
  throw new ConnectError(
    `membership changes need the cluster's id in the ${clusterIdHeader} header (every member's data directory holds it, in the file cluster-id)`,
    Code.PermissionDenied,
  );
}

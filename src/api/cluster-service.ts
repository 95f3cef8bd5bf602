// tidelog.v1.ClusterService: membership is read anywhere and changed on the leader (forwarded).
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import type { Broker } from "../cluster/broker.js";
import {
  type ClusterService,
  GetServersResponseSchema,
  JoinResponseSchema,
  ServerSchema,
} from "../gen/tidelog/v1/cluster_service_pb.js";
import { clusterIdHeader, requireClusterCredential } from "./cluster-credential.js";
import type { LeaderForwarder } from "./leader-forwarder.js";

export interface MembershipOperations {
  /** The cluster's id ("" until a joining node has learnt it). */
  readonly clusterId: string;
  /** Resolves with the cluster's id. */
  join(id: string, address: string, voter: boolean): Promise<string>;
  leave(id: string): Promise<void>;
  transferLeadership(targetId: string): Promise<void>;
}

export function createClusterService(
  broker: Broker,
  forwarder: LeaderForwarder,
  membership: MembershipOperations,
): ServiceImpl<typeof ClusterService> {
  const required = (): MembershipOperations => membership;
  /** A forwarded membership change carries the credential on to the leader. */
  const withCredential = <O extends { headers: Record<string, string> }>(options: O): O => ({
    ...options,
    headers: { ...options.headers, [clusterIdHeader]: membership.clusterId },
  });
  return {
    async getServers() {
      const servers = broker.servers().map((server) =>
        create(ServerSchema, {
          id: server.id,
          address: server.address,
          isLeader: server.isLeader,
          voter: server.voter,
          term: BigInt(server.term),
          matchIndex: BigInt(server.matchIndex),
          lag: BigInt(server.lag),
        }),
      );
      // The cluster's id is its members' credential: never told to clients (cluster-credential.ts).
      return create(GetServersResponseSchema, { servers, clusterId: "" });
    },
    async join(request, context) {
      requireClusterCredential(context.requestHeader, membership.clusterId);
      if (forwarder.shouldForward(context)) {
        return forwarder.forward(context, (leader, options) =>
          leader.cluster.join(request, withCredential(options)),
        );
      }
      const clusterId = await required().join(request.id, request.address, request.voter);
      return create(JoinResponseSchema, { clusterId });
    },
    async leave(request, context) {
      requireClusterCredential(context.requestHeader, membership.clusterId);
      if (forwarder.shouldForward(context)) {
        return forwarder.forward(context, (leader, options) =>
          leader.cluster.leave(request, withCredential(options)),
        );
      }
      await required().leave(request.id);
      return {};
    },
    async transferLeadership(request, context) {
      requireClusterCredential(context.requestHeader, membership.clusterId);
      if (forwarder.shouldForward(context)) {
        return forwarder.forward(context, (leader, options) =>
          leader.cluster.transferLeadership(request, withCredential(options)),
        );
      }
      await required().transferLeadership(request.targetId);
      return {};
    },
  };
}

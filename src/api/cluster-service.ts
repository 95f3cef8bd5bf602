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
      return create(GetServersResponseSchema, { servers, clusterId: membership.clusterId });
    },
    async join(request, context) {
      if (forwarder.shouldForward(context)) {
        return forwarder.forward(context, (leader, options) =>
          leader.cluster.join(request, options),
        );
      }
      const clusterId = await required().join(request.id, request.address, request.voter);
      return create(JoinResponseSchema, { clusterId });
    },
    async leave(request, context) {
      if (forwarder.shouldForward(context)) {
        return forwarder.forward(context, (leader, options) =>
          leader.cluster.leave(request, options),
        );
      }
      await required().leave(request.id);
      return {};
    },
    async transferLeadership(request, context) {
      if (forwarder.shouldForward(context)) {
        return forwarder.forward(context, (leader, options) =>
          leader.cluster.transferLeadership(request, options),
        );
      }
      await required().transferLeadership(request.targetId);
      return {};
    },
  };
}

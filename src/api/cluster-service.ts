// tidelog.v1.ClusterService. Membership changes need the Raft cluster; a standalone broker
// answers them with failed_precondition.
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import type { Broker } from "../cluster/broker.js";
import { TidelogError } from "../errors.js";
import {
  type ClusterService,
  GetServersResponseSchema,
  ServerSchema,
} from "../gen/tidelog/v1/cluster_service_pb.js";

export interface MembershipOperations {
  join(id: string, address: string, voter: boolean): Promise<void>;
  leave(id: string): Promise<void>;
  transferLeadership(targetId: string): Promise<void>;
}

export function createClusterService(
  broker: Broker,
  membership?: MembershipOperations,
): ServiceImpl<typeof ClusterService> {
  const required = (): MembershipOperations => {
    if (membership === undefined) {
      throw new TidelogError(
        "failed_precondition",
        "this node runs standalone: membership changes need a Raft cluster",
      );
    }
    return membership;
  };
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
      return create(GetServersResponseSchema, { servers });
    },
    async join(request) {
      await required().join(request.id, request.address, request.voter);
      return {};
    },
    async leave(request) {
      await required().leave(request.id);
      return {};
    },
    async transferLeadership(request) {
      await required().transferLeadership(request.targetId);
      return {};
    },
  };
}

import type { ConnectRouter, HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  Health,
  type HealthCheckRequest,
  type HealthCheckResponse,
} from "../../gen/grpc/health/v1/health_pb.js";
import { assertServiceName, type HealthRegistry } from "./health-registry.js";

/** The most services List reports; the protocol (health.proto) fixes it at 100. */
export const healthListServicesMax = 100;

/** grpc.health.v1.Health, answering from `registry`. */
export function createHealthService(registry: HealthRegistry): ServiceImpl<typeof Health> {
  return {
    check(request: HealthCheckRequest) {
      assertServiceName(request.service);
      const status = registry.getStatus(request.service);
      if (status === undefined) {
        throw new ConnectError(`unknown service "${request.service}"`, Code.NotFound);
      }
      return { status };
    },

    list() {
      const statuses = registry.statuses();
      if (statuses.size > healthListServicesMax) {
        throw new ConnectError(
          `more than ${healthListServicesMax} services: use Check or Watch per service`,
          Code.ResourceExhausted,
        );
      }
      const response: Record<string, { status: HealthCheckResponse["status"] }> = {};
      for (const [service, status] of statuses) response[service] = { status };
      return { statuses: response };
    },

    async *watch(request: HealthCheckRequest, context: HandlerContext) {
      assertServiceName(request.service);
      for await (const status of registry.watch(request.service, context.signal)) {
        yield { status };
      }
    },
  };
}

/** Serves grpc.health.v1.Health on `router`, answering from `registry`. */
export function registerHealth(router: ConnectRouter, registry: HealthRegistry): ConnectRouter {
  return router.service(Health, createHealthService(registry));
}

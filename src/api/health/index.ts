// The standard gRPC health service (grpc.health.v1.Health: Check, List, Watch) and the registry
// of serving statuses it reports. See https://github.com/grpc/grpc/blob/master/doc/health-checking.md
export {
  HealthRegistry,
  type HealthRegistryOptions,
  healthServiceNameLengthMax,
  healthWatchersMaxDefault,
  ServingStatus,
} from "./health-registry.js";
export { createHealthService, healthListServicesMax, registerHealth } from "./health-service.js";

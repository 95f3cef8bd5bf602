// gRPC server reflection (grpc.reflection.v1 and v1alpha ServerReflection), answered from the
// protobuf-es descriptors of the services we serve.
export { DescriptorIndex } from "./descriptor-index.js";
export {
  answerReflectionRequest,
  createReflectionServiceV1,
  createReflectionServiceV1alpha,
  type ReflectionOptions,
  registerReflection,
} from "./reflection-service.js";

import { create, type DescFile, type DescService, fromBinary, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, type ConnectRouter, type ServiceImpl } from "@connectrpc/connect";
import {
  ErrorResponseSchema,
  ExtensionNumberResponseSchema,
  FileDescriptorResponseSchema,
  ListServiceResponseSchema,
  type ServerReflectionRequest,
  ServerReflectionRequestSchema,
  type ServerReflectionResponse,
  ServerReflectionResponseSchema,
  ServerReflection as ServerReflectionV1,
} from "../../gen/grpc/reflection/v1/reflection_pb.js";
import {
  ServerReflectionRequestSchema as ServerReflectionRequestSchemaV1alpha,
  ServerReflectionResponseSchema as ServerReflectionResponseSchemaV1alpha,
  ServerReflection as ServerReflectionV1alpha,
} from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { DescriptorIndex } from "./descriptor-index.js";

export interface ReflectionOptions {
  /**
   * Files to describe besides those of the services and their dependencies, e.g. files declaring
   * extensions that no served file imports.
   */
  files?: Iterable<DescFile>;
}

/**
 * Answers one reflection request. `sentFiles` holds the names of the files already sent on this
 * stream: like grpc-go, a response always carries the file asked for, but only those of its
 * transitive dependencies the client has not received yet on the stream.
 */
export function answerReflectionRequest(
  index: DescriptorIndex,
  request: ServerReflectionRequest,
  sentFiles: Set<string>,
): ServerReflectionResponse {
  const response = create(ServerReflectionResponseSchema, {
    validHost: request.host,
    originalRequest: request,
  });
  const files = (file: DescFile | undefined, notFound: string): void => {
    if (file === undefined) {
      response.messageResponse = errorResponse(Code.NotFound, notFound);
      return;
    }
    const fileDescriptorProto: Uint8Array[] = [];
    for (const candidate of index.withDependencies(file)) {
      if (candidate !== file && sentFiles.has(candidate.proto.name)) continue;
      sentFiles.add(candidate.proto.name);
      fileDescriptorProto.push(toBinary(FileDescriptorProtoSchema, candidate.proto));
    }
    response.messageResponse = {
      case: "fileDescriptorResponse",
      value: create(FileDescriptorResponseSchema, {
        fileDescriptorProto,
      }),
    };
  };
  const message = request.messageRequest;
  switch (message.case) {
    case "listServices":
      response.messageResponse = {
        case: "listServicesResponse",
        value: create(ListServiceResponseSchema, {
          service: index.serviceNames.map((name) => ({ name })),
        }),
      };
      break;
    case "fileByFilename":
      files(index.fileByName(message.value), `file "${message.value}" not found`);
      break;
    case "fileContainingSymbol":
      files(index.fileContainingSymbol(message.value), `symbol "${message.value}" not found`);
      break;
    case "fileContainingExtension": {
      const { containingType, extensionNumber } = message.value;
      files(
        index.fileContainingExtension(containingType, extensionNumber),
        `extension ${extensionNumber} of "${containingType}" not found`,
      );
      break;
    }
    case "allExtensionNumbersOfType": {
      const extensionNumber = index.extensionNumbersOf(message.value);
      response.messageResponse =
        extensionNumber === undefined
          ? errorResponse(Code.NotFound, `type "${message.value}" not found`)
          : {
              case: "allExtensionNumbersResponse",
              value: create(ExtensionNumberResponseSchema, {
                baseTypeName: message.value,
                extensionNumber,
              }),
            };
      break;
    }
    case undefined:
      response.messageResponse = errorResponse(Code.InvalidArgument, "empty reflection request");
      break;
  }
  return response;
}

function errorResponse(
  code: Code,
  errorMessage: string,
): ServerReflectionResponse["messageResponse"] {
  return {
    case: "errorResponse",
    value: create(ErrorResponseSchema, {
      errorCode: code,
      errorMessage,
    }),
  };
}

/** grpc.reflection.v1.ServerReflection over `index`. */
export function createReflectionServiceV1(
  index: DescriptorIndex,
): ServiceImpl<typeof ServerReflectionV1> {
  return {
    async *serverReflectionInfo(requests) {
      const sentFiles = new Set<string>();
      for await (const request of requests) {
        yield answerReflectionRequest(index, request, sentFiles);
      }
    },
  };
}

/**
 * grpc.reflection.v1alpha.ServerReflection over `index`. Its messages have the same fields and
 * numbers as v1's, so requests and responses are transcoded through the wire format.
 */
export function createReflectionServiceV1alpha(
  index: DescriptorIndex,
): ServiceImpl<typeof ServerReflectionV1alpha> {
  return {
    async *serverReflectionInfo(requests) {
      const sentFiles = new Set<string>();
      for await (const request of requests) {
        const requestV1 = fromBinary(
          ServerReflectionRequestSchema,
          toBinary(ServerReflectionRequestSchemaV1alpha, request),
        );
        const responseV1 = answerReflectionRequest(index, requestV1, sentFiles);
        yield fromBinary(
          ServerReflectionResponseSchemaV1alpha,
          toBinary(ServerReflectionResponseSchema, responseV1),
        );
      }
    },
  };
}

/**
 * Serves gRPC server reflection, v1 and v1alpha, on `router`, describing `services` (and the
 * reflection services themselves), so that buf curl and grpcurl work without schema files.
 * Pass every service the router serves, the health service included.
 */
export function registerReflection(
  router: ConnectRouter,
  services: readonly DescService[],
  options: ReflectionOptions = {},
): ConnectRouter {
  const index = new DescriptorIndex(
    [...services, ServerReflectionV1, ServerReflectionV1alpha],
    options.files,
  );
  return router
    .service(ServerReflectionV1, createReflectionServiceV1(index))
    .service(ServerReflectionV1alpha, createReflectionServiceV1alpha(index));
}

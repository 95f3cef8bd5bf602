// Server reflection spoken to directly by @grpc/grpc-js with the upstream reflection.proto, and
// the descriptors it answers decoded and linked by protobuf-es.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import {
  type FileDescriptorProto,
  FileDescriptorProtoSchema,
  MethodOptions_IdempotencyLevel,
} from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { HealthRegistry, registerHealth } from "../../../src/api/health/index.js";
import { registerReflection } from "../../../src/api/reflection/index.js";
import { Health } from "../../../src/gen/grpc/health/v1/health_pb.js";
import { type H2cServer, startH2cServer } from "./h2c-server.js";
import { createLogServiceStub, LogService } from "./log-service-stub.js";

/** ServerReflectionResponse as proto-loader decodes it (oneofs: true names the set field). */
interface ReflectionResponse {
  message_response:
    | "file_descriptor_response"
    | "all_extension_numbers_response"
    | "list_services_response"
    | "error_response";
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  all_extension_numbers_response?: { base_type_name: string; extension_number: number[] };
  list_services_response?: { service: { name: string }[] };
  error_response?: { error_code: number; error_message: string };
  original_request?: Record<string, unknown>;
}

interface ReflectionStream {
  ask(request: Record<string, unknown>): Promise<ReflectionResponse>;
  end(): void;
}

function openReflection(address: string, version: "v1" | "v1alpha"): ReflectionStream {
  const definition = protoLoader.loadSync(`grpc/reflection/${version}/reflection.proto`, {
    includeDirs: ["third_party"],
    keepCase: true,
    oneofs: true,
    defaults: true,
  });
  // biome-ignore lint/suspicious/noExplicitAny: proto-loader's package tree is untyped.
  const loaded = grpc.loadPackageDefinition(definition) as any;
  const ServerReflection = loaded.grpc.reflection[version]
    .ServerReflection as grpc.ServiceClientConstructor;
  const client = new ServerReflection(address, grpc.credentials.createInsecure());
  const call = (
    client as unknown as {
      ServerReflectionInfo(): grpc.ClientDuplexStream<unknown, ReflectionResponse>;
    }
  ).ServerReflectionInfo();
  const waiting: ((response: ReflectionResponse) => void)[] = [];
  call.on("data", (response: ReflectionResponse) => waiting.shift()?.(response));
  call.on("error", () => {});
  return {
    ask(request) {
      return new Promise((resolve) => {
        waiting.push(resolve);
        call.write(request);
      });
    },
    end() {
      call.end();
      client.close();
    },
  };
}

function decodeFiles(response: ReflectionResponse): FileDescriptorProto[] {
  assert.equal(response.message_response, "file_descriptor_response");
  return response.file_descriptor_response!.file_descriptor_proto.map((bytes) =>
    fromBinary(FileDescriptorProtoSchema, bytes),
  );
}

describe("server reflection, spoken to by grpc-js", () => {
  let server: H2cServer;

  before(async () => {
    server = await startH2cServer((router) => {
      router.service(LogService, createLogServiceStub());
      registerHealth(router, new HealthRegistry());
      registerReflection(router, [LogService, Health]);
    });
  });

  after(() => server.close());

  test("file_containing_symbol answers the file and all it depends on, which link", async () => {
    const stream = openReflection(server.address, "v1");
    const response = await stream.ask({ file_containing_symbol: "tidelog.v1.LogService" });
    stream.end();
    const files = decodeFiles(response);
    assert.equal(files[0]?.name, "tidelog/v1/log_service.proto");
    assert.deepEqual(files.map((file) => file.name).sort(), [
      "buf/validate/validate.proto",
      "google/protobuf/descriptor.proto",
      "google/protobuf/duration.proto",
      "google/protobuf/field_mask.proto",
      "google/protobuf/timestamp.proto",
      "tidelog/v1/log_service.proto",
      "tidelog/v1/record.proto",
    ]);
    assert.deepEqual(response.original_request?.file_containing_symbol, "tidelog.v1.LogService");
    // The set is complete: protobuf-es links it into a registry without any other file.
    const registry = createFileRegistry(files[0]!, (name) =>
      files.find((file) => file.name === name),
    );
    const service = registry.getService("tidelog.v1.LogService");
    assert.deepEqual(
      service?.methods.map((method) => method.name),
      ["Produce", "ProduceStream", "Consume", "ConsumeStream"],
    );
    assert.equal(
      service?.method.consume?.idempotency,
      MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS,
    );
    assert.equal(service?.method.consumeStream?.methodKind, "server_streaming");
    assert.equal(registry.getMessage("tidelog.v1.Record")?.field.headers?.fieldKind, "map");
  });

  test("one stream sends each dependency once; the file asked for always", async () => {
    const stream = openReflection(server.address, "v1");
    const first = decodeFiles(await stream.ask({ file_containing_symbol: "tidelog.v1.Record" }));
    assert.deepEqual(
      first.map((file) => file.name),
      ["tidelog/v1/record.proto", "google/protobuf/timestamp.proto"],
    );
    const second = decodeFiles(
      await stream.ask({ file_containing_symbol: "tidelog.v1.ConsumeRequest" }),
    );
    assert.equal(second[0]?.name, "tidelog/v1/log_service.proto");
    assert.ok(!second.some((file) => file.name === "tidelog/v1/record.proto"));
    const again = decodeFiles(await stream.ask({ file_by_filename: "tidelog/v1/record.proto" }));
    assert.deepEqual(
      again.map((file) => file.name),
      ["tidelog/v1/record.proto"],
    );
    stream.end();
  });

  for (const version of ["v1", "v1alpha"] as const) {
    test(`list_services, symbols of every kind, and errors (${version})`, async () => {
      const stream = openReflection(server.address, version);
      const list = await stream.ask({ list_services: "*" });
      assert.deepEqual(
        list.list_services_response?.service.map((service) => service.name),
        [
          "grpc.health.v1.Health",
          "grpc.reflection.v1.ServerReflection",
          "grpc.reflection.v1alpha.ServerReflection",
          "tidelog.v1.LogService",
        ],
      );
      const fileOf = async (symbol: string) =>
        decodeFiles(await stream.ask({ file_containing_symbol: symbol }))[0]?.name;
      assert.equal(await fileOf("tidelog.v1.LogService.Consume"), "tidelog/v1/log_service.proto");
      assert.equal(await fileOf("tidelog.v1.StartPosition"), "tidelog/v1/log_service.proto");
      assert.equal(await fileOf("tidelog.v1.START_POSITION_TAIL"), "tidelog/v1/log_service.proto");
      assert.equal(await fileOf("tidelog.v1.Record.HeadersEntry"), "tidelog/v1/record.proto");
      assert.equal(await fileOf("tidelog.v1.Record.offset"), "tidelog/v1/record.proto");
      assert.equal(
        await fileOf("grpc.health.v1.HealthCheckResponse.SERVING"),
        "grpc/health/v1/health.proto",
      );
      assert.equal(await fileOf("buf.validate.field"), "buf/validate/validate.proto");
      assert.equal(
        await fileOf(`grpc.reflection.${version}.ServerReflection`),
        `grpc/reflection/${version}/reflection.proto`,
      );
      const byName = decodeFiles(await stream.ask({ file_by_filename: "tidelog/v1/record.proto" }));
      assert.equal(byName[0]?.messageType[0]?.name, "Record");

      const extension = await stream.ask({
        file_containing_extension: {
          containing_type: "google.protobuf.FieldOptions",
          extension_number: 1159,
        },
      });
      assert.equal(decodeFiles(extension)[0]?.name, "buf/validate/validate.proto");
      const numbers = await stream.ask({
        all_extension_numbers_of_type: "google.protobuf.FieldOptions",
      });
      assert.equal(
        numbers.all_extension_numbers_response?.base_type_name,
        "google.protobuf.FieldOptions",
      );
      assert.deepEqual(numbers.all_extension_numbers_response?.extension_number, [1159, 1160]);
      const none = await stream.ask({ all_extension_numbers_of_type: "tidelog.v1.Record" });
      assert.deepEqual(none.all_extension_numbers_response?.extension_number, []);

      const notFound = [
        { file_containing_symbol: "tidelog.v1.NoSuchThing" },
        { file_by_filename: "no/such/file.proto" },
        {
          file_containing_extension: { containing_type: "tidelog.v1.Record", extension_number: 9 },
        },
        { all_extension_numbers_of_type: "no.such.Type" },
      ];
      for (const request of notFound) {
        const error = await stream.ask(request);
        assert.equal(error.message_response, "error_response", JSON.stringify(request));
        assert.equal(error.error_response?.error_code, grpc.status.NOT_FOUND);
        assert.notEqual(error.error_response?.error_message, "");
      }
      const empty = await stream.ask({ host: "example" });
      assert.equal(empty.error_response?.error_code, grpc.status.INVALID_ARGUMENT);
      stream.end();
    });
  }
});

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { file_google_protobuf_struct } from "@bufbuild/protobuf/wkt";
import { DescriptorIndex } from "../../../src/api/reflection/index.js";
import { file_google_rpc_error_details } from "../../../src/gen/google/rpc/error_details_pb.js";
import { Health } from "../../../src/gen/grpc/health/v1/health_pb.js";
import { LogService } from "../../../src/gen/tidelog/v1/log_service_pb.js";
import { TopicService } from "../../../src/gen/tidelog/v1/topic_service_pb.js";

describe("DescriptorIndex", () => {
  const index = new DescriptorIndex(
    [TopicService, LogService, Health, LogService],
    [file_google_rpc_error_details],
  );

  test("lists each service once, sorted", () => {
    assert.deepEqual(index.serviceNames, [
      "grpc.health.v1.Health",
      "tidelog.v1.LogService",
      "tidelog.v1.TopicService",
    ]);
  });

  test("finds symbols with or without a leading dot, and files passed besides services", () => {
    assert.equal(
      index.fileContainingSymbol(".tidelog.v1.Topic")?.proto.name,
      "tidelog/v1/topic_service.proto",
    );
    assert.equal(
      index.fileContainingSymbol("google.rpc.ErrorInfo")?.proto.name,
      "google/rpc/error_details.proto",
    );
    assert.equal(
      index.fileContainingSymbol("google.protobuf.Duration")?.proto.name,
      "google/protobuf/duration.proto",
    );
    assert.equal(index.fileContainingSymbol("tidelog.v1"), undefined, "a package is not a symbol");
    assert.equal(index.fileByName(file_google_protobuf_struct.proto.name), undefined);
  });

  test("withDependencies lists the file first, then each dependency once", () => {
    const file = index.fileContainingSymbol("tidelog.v1.UpdateTopicRequest")!;
    const names = index.withDependencies(file).map((dependency) => dependency.proto.name);
    assert.equal(names[0], "tidelog/v1/topic_service.proto");
    assert.equal(new Set(names).size, names.length);
    assert.ok(names.includes("google/protobuf/field_mask.proto"));
    assert.ok(names.includes("google/protobuf/descriptor.proto"), "transitive, via validate.proto");
  });

  test("extension numbers are ascending; an unknown type is undefined", () => {
    assert.deepEqual(index.extensionNumbersOf(".google.protobuf.MessageOptions"), [1159]);
    assert.equal(index.extensionNumbersOf("google.protobuf.NoSuchOptions"), undefined);
    assert.equal(
      index.fileContainingExtension("google.protobuf.OneofOptions", 1159)?.proto.name,
      "buf/validate/validate.proto",
    );
  });
});

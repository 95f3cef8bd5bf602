// Server reflection checked with buf curl, which resolves every schema through reflection alone:
// it is given no proto file.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { HealthRegistry, registerHealth, ServingStatus } from "../../../src/api/health/index.js";
import { registerReflection } from "../../../src/api/reflection/index.js";
import { Health } from "../../../src/gen/grpc/health/v1/health_pb.js";
import { type H2cServer, startH2cServer } from "./h2c-server.js";
import { createLogServiceStub, LogService } from "./log-service-stub.js";

const run = promisify(execFile);

/** Runs `buf curl` against the server over gRPC with HTTP/2 prior knowledge (h2c). */
async function bufCurl(...args: string[]): Promise<string> {
  const { stdout } = await run(
    "node_modules/.bin/buf",
    ["curl", "--protocol", "grpc", "--http2-prior-knowledge", ...args],
    { timeout: 60_000 },
  );
  return stdout;
}

describe("server reflection, seen by buf curl", () => {
  const registry = new HealthRegistry();
  let server: H2cServer;

  before(async () => {
    registry.setStatus("", ServingStatus.SERVING);
    server = await startH2cServer((router) => {
      router.service(LogService, createLogServiceStub());
      registerHealth(router, registry);
      registerReflection(router, [LogService, Health]);
    });
  });

  after(async () => {
    registry.close();
    await server.close();
  });

  test("--list-services lists the served services and reflection itself", async () => {
    const services = (await bufCurl("--list-services", server.url)).trim().split("\n");
    assert.deepEqual(services.sort(), [
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
      "tidelog.v1.LogService",
    ]);
  });

  for (const reflectProtocol of ["grpc-v1", "grpc-v1alpha"]) {
    test(`--list-methods lists LogService's methods (${reflectProtocol})`, async () => {
      const methods = await bufCurl(
        "--reflect-protocol",
        reflectProtocol,
        "--list-methods",
        server.url,
      );
      for (const method of ["Produce", "ProduceStream", "Consume", "ConsumeStream"]) {
        assert.match(methods, new RegExp(`^tidelog\\.v1\\.LogService/${method}$`, "m"));
      }
      assert.match(methods, /^grpc\.health\.v1\.Health\/Check$/m);
    });

    test(`Health/Check is callable with only reflection for the schema (${reflectProtocol})`, async () => {
      const output = await bufCurl(
        "--reflect-protocol",
        reflectProtocol,
        "-d",
        '{"service": ""}',
        `${server.url}/grpc.health.v1.Health/Check`,
      );
      assert.deepEqual(JSON.parse(output), { status: "SERVING" });
    });
  }

  test("LogService/Produce: records with headers and a timestamp encode from JSON", async () => {
    const output = await bufCurl(
      "-d",
      JSON.stringify({
        topic: "orders",
        records: [
          { value: "aGVsbG8=", headers: { "content-type": "text/plain" } },
          { value: "d29ybGQ=", time: "2026-01-02T03:04:05Z" },
        ],
      }),
      `${server.url}/tidelog.v1.LogService/Produce`,
    );
    assert.deepEqual(JSON.parse(output), { offsets: ["0", "1"] });
  });

  test("an unknown method is reported, not hung", async () => {
    await assert.rejects(
      bufCurl("-d", "{}", `${server.url}/tidelog.v1.LogService/NoSuchMethod`),
      (error: Error & { stderr?: string }) => {
        assert.match(error.stderr ?? "", /NoSuchMethod/);
        return true;
      },
    );
  });
});

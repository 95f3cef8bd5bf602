// grpc.health.v1.Health served over real h2c, called by @grpc/grpc-js with the upstream
// health.proto loaded by @grpc/proto-loader: a client we did not write.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { HealthRegistry, registerHealth, ServingStatus } from "../../../src/api/health/index.js";
import { type H2cServer, startH2cServer } from "../reflection/h2c-server.js";

interface HealthResponse {
  status: string;
}
type UnaryCallback<T> = (error: grpc.ServiceError | null, response?: T) => void;
interface HealthClient extends grpc.Client {
  Check(request: { service: string }, callback: UnaryCallback<HealthResponse>): void;
  List(
    request: object,
    callback: UnaryCallback<{ statuses: Record<string, HealthResponse> }>,
  ): void;
  Watch(request: { service: string }): grpc.ClientReadableStream<HealthResponse>;
}

function loadHealthClient(address: string): HealthClient {
  const definition = protoLoader.loadSync("grpc/health/v1/health.proto", {
    includeDirs: ["third_party"],
    enums: String,
    defaults: true,
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
  };
  const Health = loaded.grpc.health.v1.Health;
  return new Health(address, grpc.credentials.createInsecure()) as unknown as HealthClient;
}

function check(client: HealthClient, service: string): Promise<HealthResponse> {
  return new Promise((resolve, reject) => {
    client.Check({ service }, (error, response) => (error ? reject(error) : resolve(response!)));
  });
}

/** Reads a stream's messages one by one, waiting for each. */
function messageReader<T>(stream: grpc.ClientReadableStream<T>): () => Promise<T> {
  const buffered: T[] = [];
  const waiting: ((message: T) => void)[] = [];
  stream.on("data", (message: T) => {
    const waiter = waiting.shift();
    if (waiter) waiter(message);
    else buffered.push(message);
  });
  return () => {
    const message = buffered.shift();
    if (message !== undefined) return Promise.resolve(message);
    return new Promise((resolve) => waiting.push(resolve));
  };
}

async function until(condition: () => boolean): Promise<void> {
  for (let attempt = 0; attempt < 200 && !condition(); attempt += 1) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.ok(condition(), "condition not reached within 2 s");
}

describe("grpc.health.v1.Health over h2c, called by grpc-js", () => {
  const registry = new HealthRegistry({ watchersMax: 4 });
  let server: H2cServer;
  let client: HealthClient;

  before(async () => {
    registry.setStatus("", ServingStatus.SERVING);
    registry.setStatus("tidelog.v1.LogService", ServingStatus.NOT_SERVING);
    server = await startH2cServer((router) => registerHealth(router, registry));
    client = loadHealthClient(server.address);
  });

  after(async () => {
    client.close();
    registry.close();
    await server.close();
  });

  test("Check answers the overall and per-service status", async () => {
    assert.deepEqual(await check(client, ""), { status: "SERVING" });
    assert.deepEqual(await check(client, "tidelog.v1.LogService"), { status: "NOT_SERVING" });
  });

  test("Check of an unknown service is NOT_FOUND", async () => {
    await assert.rejects(check(client, "no.such.Service"), (error: grpc.ServiceError) => {
      assert.equal(error.code, grpc.status.NOT_FOUND);
      return true;
    });
  });

  test("List answers every status", async () => {
    const response = await new Promise<{ statuses: Record<string, HealthResponse> }>(
      (resolve, reject) =>
        client.List({}, (error, result) => (error ? reject(error) : resolve(result!))),
    );
    assert.deepEqual(response.statuses, {
      "": { status: "SERVING" },
      "tidelog.v1.LogService": { status: "NOT_SERVING" },
    });
  });

  test("Watch sends the current status, then each change, until cancelled", async () => {
    const stream = client.Watch({ service: "tidelog.v1.TopicService" });
    stream.on("error", () => {}); // the cancellation below surfaces as CANCELLED
    const next = messageReader(stream);
    assert.deepEqual(await next(), { status: "SERVICE_UNKNOWN" });
    registry.setStatus("tidelog.v1.TopicService", ServingStatus.SERVING);
    assert.deepEqual(await next(), { status: "SERVING" });
    registry.setStatus("tidelog.v1.TopicService", ServingStatus.NOT_SERVING);
    assert.deepEqual(await next(), { status: "NOT_SERVING" });
    assert.equal(registry.watcherCount, 1);
    stream.cancel();
    // The server sees the cancellation through the call's abort signal and drops the watcher.
    await until(() => registry.watcherCount === 0);
  });

  test("Watch past the watcher limit fails with RESOURCE_EXHAUSTED", async () => {
    const streams = Array.from({ length: 4 }, () => client.Watch({ service: "" }));
    for (const stream of streams) {
      stream.on("error", () => {});
      await messageReader(stream)();
    }
    assert.equal(registry.watcherCount, 4);
    const refused = client.Watch({ service: "" });
    const code = await new Promise<grpc.status>((resolve) => {
      refused.on("data", () => {});
      refused.on("error", (error: grpc.ServiceError) => resolve(error.code));
    });
    assert.equal(code, grpc.status.RESOURCE_EXHAUSTED);
    for (const stream of streams) stream.cancel();
    await until(() => registry.watcherCount === 0);
  });
});

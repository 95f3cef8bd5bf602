// Test harness: clients we did not write, pointed at a tidelog node.
//
// - @grpc/grpc-js with the service definitions loaded from our .proto files by @grpc/proto-loader
//   (no generated code of ours involved);
// - @connectrpc/connect-node transports: Connect (HTTP/1.1 or HTTP/2), gRPC, gRPC-Web;
// - @connectrpc/connect-web transports over Node's global fetch: the browser's path;
// - the `buf curl` and `curl` command lines.
//
// Every helper that opens connections returns a `close()` that releases them, so a test file's
// process can exit.
import { execFile } from "node:child_process";
import http from "node:http";
import type { DescService } from "@bufbuild/protobuf";
import { type Client, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import {
  createConnectTransport as createNodeConnectTransport,
  createGrpcTransport as createNodeGrpcTransport,
  createGrpcWebTransport as createNodeGrpcWebTransport,
  Http2SessionManager,
} from "@connectrpc/connect-node";
import {
  createConnectTransport as createWebConnectTransport,
  createGrpcWebTransport as createWebGrpcWebTransport,
} from "@connectrpc/connect-web";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { abortableFetch } from "./abortable-fetch.js";

// --- @grpc/grpc-js -------------------------------------------------------------------------------

/** A Record as proto-loader decodes it (longs as strings, bytes as Buffers, camelCase names). */
export interface GrpcRecord {
  value: Buffer;
  key: Buffer;
  headers: { [name: string]: string };
  offset: string;
  time: { seconds: string; nanos: number } | null;
}

export interface GrpcConsumeResponse {
  records: GrpcRecord[];
  nextOffset: string;
  highWatermark: string;
}

export interface GrpcProduceResponse {
  offsets: string[];
}

type UnaryMethod<Request, Response> = (
  request: Request,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (error: grpc.ServiceError | null, response?: Response) => void,
) => grpc.ClientUnaryCall;

/** LogService as grpc-js builds it from log_service.proto. */
export interface GrpcLogServiceClient extends grpc.Client {
  Produce: UnaryMethod<Record<string, unknown>, GrpcProduceResponse>;
  Consume: UnaryMethod<Record<string, unknown>, GrpcConsumeResponse>;
  ProduceStream(
    metadata?: grpc.Metadata,
    options?: grpc.CallOptions,
  ): grpc.ClientDuplexStream<Record<string, unknown>, GrpcProduceResponse>;
  ConsumeStream(
    request: Record<string, unknown>,
    options?: grpc.CallOptions,
  ): grpc.ClientReadableStream<GrpcConsumeResponse>;
}

let grpcPackage: grpc.GrpcObject | undefined;

/** The tidelog.v1 package loaded from proto/ (and third_party/ for imports), once per process. */
function tidelogGrpcPackage(): grpc.GrpcObject {
  grpcPackage ??= grpc.loadPackageDefinition(
    protoLoader.loadSync(
      [
        "tidelog/v1/log_service.proto",
        "tidelog/v1/topic_service.proto",
        "tidelog/v1/cluster_service.proto",
      ],
      {
        includeDirs: ["proto", "third_party"],
        longs: String,
        enums: String,
        defaults: true,
        oneofs: true,
      },
    ),
  );
  return grpcPackage;
}

function grpcService(name: string): grpc.ServiceClientConstructor {
  // biome-ignore lint/suspicious/noExplicitAny: proto-loader's package tree is untyped.
  const v1 = (tidelogGrpcPackage() as any).tidelog.v1;
  return v1[name] as grpc.ServiceClientConstructor;
}

/** A grpc-js LogService client over h2c to `address` (host:port). Close it with `.close()`. */
export function createGrpcLogClient(address: string): GrpcLogServiceClient {
  const LogService = grpcService("LogService");
  return new LogService(
    address,
    grpc.credentials.createInsecure(),
  ) as unknown as GrpcLogServiceClient;
}

/** A grpc-js client of any tidelog.v1 service, for calls by method name. */
export function createGrpcClient(address: string, service: string): grpc.Client {
  const ServiceClient = grpcService(service);
  return new ServiceClient(address, grpc.credentials.createInsecure());
}

/** Calls a unary grpc-js method as a promise, with a deadline. */
export function grpcUnary<Response>(
  client: grpc.Client,
  method: string,
  request: Record<string, unknown>,
  deadlineMs = 10_000,
): Promise<Response> {
  const call = (client as unknown as Record<string, UnaryMethod<unknown, Response>>)[method];
  if (call === undefined) throw new Error(`no method ${method}`);
  return new Promise((resolve, reject) => {
    call.call(
      client,
      request,
      new grpc.Metadata(),
      { deadline: Date.now() + deadlineMs },
      (error, response) => (error === null ? resolve(response as Response) : reject(error)),
    );
  });
}

/**
 * A raw grpc-js call to a path the proto files do not know (e.g. an unknown method), with
 * identity serialization: resolves with the status the server answered.
 */
export function grpcCallUnknownPath(
  address: string,
  path: string,
  deadlineMs = 10_000,
): Promise<grpc.ServiceError> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      path,
      (value: Buffer) => value,
      (value: Buffer) => value,
      Buffer.alloc(0),
      new grpc.Metadata(),
      { deadline: Date.now() + deadlineMs },
      (error) => {
        client.close();
        if (error === null) reject(new Error(`${path} succeeded`));
        else resolve(error);
      },
    );
  });
}

// --- @connectrpc/connect-node and @connectrpc/connect-web ---------------------------------------

export type NodeTransportKind =
  | "connect-json-h1"
  | "connect-binary-h1"
  | "connect-json-h2"
  | "connect-binary-h2"
  | "connect-get-h1"
  | "grpc"
  | "grpc-web-h1"
  | "grpc-web-h2";

export const nodeTransportKinds: readonly NodeTransportKind[] = [
  "connect-json-h1",
  "connect-binary-h1",
  "connect-json-h2",
  "connect-binary-h2",
  "connect-get-h1",
  "grpc",
  "grpc-web-h1",
  "grpc-web-h2",
];

export interface ClosableTransport {
  readonly transport: Transport;
  /** Ends the transport's connections (HTTP/2 sessions, HTTP/1.1 keep-alive sockets). */
  close(): void;
}

/** A @connectrpc/connect-node transport of the given kind to `baseUrl` (http://host:port). */
export function createNodeTransport(
  kind: NodeTransportKind,
  baseUrl: string,
  interceptors: Interceptor[] = [],
): ClosableTransport {
  if (kind.endsWith("-h1")) {
    const agent = new http.Agent({ keepAlive: true });
    const common = { baseUrl, httpVersion: "1.1" as const, nodeOptions: { agent }, interceptors };
    const transport =
      kind === "grpc-web-h1"
        ? createNodeGrpcWebTransport(common)
        : createNodeConnectTransport({
            ...common,
            useBinaryFormat: kind === "connect-binary-h1",
            useHttpGet: kind === "connect-get-h1",
          });
    return { transport, close: () => agent.destroy() };
  }
  const sessionManager = new Http2SessionManager(baseUrl);
  const common = { baseUrl, httpVersion: "2" as const, sessionManager, interceptors };
  const transport =
    kind === "grpc"
      ? createNodeGrpcTransport(common)
      : kind === "grpc-web-h2"
        ? createNodeGrpcWebTransport(common)
        : createNodeConnectTransport({ ...common, useBinaryFormat: kind === "connect-binary-h2" });
  return { transport, close: () => sessionManager.abort() };
}

export type WebTransportKind = "connect-json" | "connect-binary" | "connect-get" | "grpc-web";

export const webTransportKinds: readonly WebTransportKind[] = [
  "connect-json",
  "connect-binary",
  "connect-get",
  "grpc-web",
];

/**
 * A @connectrpc/connect-web transport over Node's global fetch (HTTP/1.1), as a browser would
 * use it. fetch's keep-alive connections are unref'd by undici, so there is nothing to close.
 * The fetch is wrapped so that an abort always ends a server stream (see abortable-fetch.ts).
 */
export function createWebTransport(kind: WebTransportKind, baseUrl: string): Transport {
  if (kind === "grpc-web") return createWebGrpcWebTransport({ baseUrl, fetch: abortableFetch });
  return createWebConnectTransport({
    baseUrl,
    fetch: abortableFetch,
    useBinaryFormat: kind === "connect-binary",
    useHttpGet: kind === "connect-get",
  });
}

export function connectClient<Service extends DescService>(
  service: Service,
  transport: Transport,
): Client<Service> {
  return createClient(service, transport);
}

// --- command lines ------------------------------------------------------------------------------

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command without a shell; never rejects on a non-zero exit (the caller asserts). */
export function runCommand(
  file: string,
  args: readonly string[],
  timeoutMs = 30_000,
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, encoding: "utf8" },
      (error, stdout, stderr) => {
        if (error !== null && typeof error.code !== "number") {
          reject(new Error(`${file} failed: ${error.message}\n${stderr}`));
          return;
        }
        resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr });
      },
    );
  });
}

/** `buf curl ARGS...` (the project's own buf binary). */
export function bufCurl(args: readonly string[], timeoutMs = 30_000): Promise<CommandResult> {
  return runCommand("node_modules/.bin/buf", ["curl", ...args], timeoutMs);
}

export interface CurlResponse {
  status: number;
  headers: Map<string, string>;
  body: string;
}

const writeOutMarker = "\n--tidelog-test-write-out--\n";

/**
 * `curl ARGS... URL` with the response status and headers captured (`-w` with `%{http_code}` and
 * `%{header_json}` after the body). `--max-time` bounds it.
 */
export async function curl(args: readonly string[], timeoutMs = 20_000): Promise<CurlResponse> {
  const result = await runCommand(
    "curl",
    [
      "-sS",
      "--max-time",
      String(Math.ceil(timeoutMs / 1000)),
      "-w",
      `${writeOutMarker}%{http_code}${writeOutMarker}%{header_json}`,
      ...args,
    ],
    timeoutMs + 5_000,
  );
  const parts = result.stdout.split(writeOutMarker);
  if (result.code !== 0 || parts.length !== 3) {
    throw new Error(`curl exited ${result.code}: ${result.stderr}`);
  }
  const headers = new Map<string, string>();
  const headerJson = JSON.parse(parts[2]!) as { [name: string]: string[] };
  for (const [name, values] of Object.entries(headerJson)) {
    headers.set(name.toLowerCase(), values.join(", "));
  }
  return { status: Number(parts[1]), headers, body: parts[0]! };
}

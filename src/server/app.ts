// The fastify application: every Connect service on one router (gRPC, gRPC-Web and Connect on
// the same paths), CORS for browsers, HTTP probes, and protocol-correct answers for unknown paths.
// `buildApp` wires dependencies; `serve.ts` listens.

import { setMaxListeners } from "node:events";
import type { ServerHttp2Stream } from "node:http2";
import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, cors as connectCors } from "@connectrpc/connect";
import { createValidateInterceptor } from "@connectrpc/validate";
import fastifyCors from "@fastify/cors";
import Fastify, { type FastifyInstance } from "fastify";
import { AnswerBudget } from "../api/answer-budget.js";
import { createClusterService, type MembershipOperations } from "../api/cluster-service.js";
import { type ErrorLogger, toConnectError } from "../api/connect-error.js";
import { createErrorInterceptor } from "../api/error-interceptor.js";
import { createFastValidator } from "../api/fast-validator.js";
import { HealthRegistry, registerHealth, ServingStatus } from "../api/health/index.js";
import { LeaderForwarder } from "../api/leader-forwarder.js";
import { type ApiLimits, clientReadMaxBytes } from "../api/limits.js";
import { createLogService } from "../api/log-service.js";
import { registerReflection } from "../api/reflection/index.js";
import { checkRequestElements, isPeerRequest } from "../api/request-elements.js";
import { StreamCounter } from "../api/stream-counter.js";
import { createTopicService } from "../api/topic-service.js";
import type { Broker } from "../cluster/broker.js";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import { RaftService } from "../gen/tidelog/raft/v1/raft_pb.js";
import { ClusterService } from "../gen/tidelog/v1/cluster_service_pb.js";
import { LogService } from "../gen/tidelog/v1/log_service_pb.js";
import { TopicService } from "../gen/tidelog/v1/topic_service_pb.js";
import { connectRoutes } from "./connect-fastify-routes.js";
import { createFastGrpcRoutes } from "./fast-grpc-routes.js";
import { type ClientStreamMethod, serveClientStream } from "./grpc-client-stream.js";
import { encodeGrpcMessage } from "./grpc-message.js";
import { GrpcServerCall, grpcTimeoutMsMax } from "./grpc-server-call.js";
import {
  defaultOnePortServerOptions,
  OnePortServer,
  type OnePortServerOptions,
} from "./one-port-server.js";

export interface AppDeps {
  broker: Broker;
  limits: ApiLimits;
  membership: MembershipOperations;
  /** Forwarded writes give up after this long when the caller set no deadline. */
  forwardTimeoutMs: number;
  /** Extra Connect services on the same router (e.g. the Raft transport). */
  extraRoutes?: (router: ConnectRouter) => void;
  /**
   * Client-streaming methods served straight on HTTP/2 for plain gRPC (no compression, no
   * deadline), by path: the Raft StepStream between peers. Other requests for the same paths
   * (Connect, gRPC-Web, compressed) go to the Connect routes as usual.
   */
  clientStreamMethods?: Record<string, ClientStreamMethod>;
  /**
   * Checks a RaftService request's binary wire before Connect decodes it (the cluster id, the
   * members' credential); throws to refuse it.
   */
  checkPeerRequest?: (bytes: Uint8Array) => void;
  logError: ErrorLogger;
  /** On close, in-flight calls get this long before their connections are destroyed. */
  shutdownGraceMs: number;
  serverOptions?: OnePortServerOptions;
}

export interface App {
  fastify: FastifyInstance;
  server: OnePortServer;
  health: HealthRegistry;
  streams: StreamCounter;
  /** ConsumeStream answer bytes held for clients (tests check that they come back). */
  answers: AnswerBudget;
  /** Aborted when shutdown starts: streaming handlers end cleanly. */
  shutdownController: AbortController;
}

const publicServices: DescService[] = [LogService, TopicService, ClusterService, Health];

/** Paths of the methods whose request is a stream (client-streaming and bidi). */
function streamingRequestPaths(services: readonly DescService[]): string[] {
  return services.flatMap((service) =>
    service.methods
      .filter(
        (method) =>
          method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
      )
      .map((method) => `/${service.typeName}/${method.name}`),
  );
}

export async function buildApp(deps: AppDeps): Promise<App> {
  let server: OnePortServer | undefined;
  const fastify = Fastify({
    serverFactory: (handler) => {
      const options = deps.serverOptions ?? defaultOnePortServerOptions;
      server = new OnePortServer(handler as never, {
        ...options,
        streamingRequestPaths: new Set([
          ...options.streamingRequestPaths,
          ...streamingRequestPaths([...publicServices, RaftService]),
          ...Object.keys(deps.clientStreamMethods ?? {}),
        ]),
      });
      return server as never;
    },
    forceCloseConnections: false,
    // While closing, fastify would answer requests on open keep-alive connections itself: 503
    // with its own JSON body, which no Connect client reads as an error code. Routed as usual,
    // they get Connect's unavailable ("server is shutting down") like the rest.
    return503OnClosing: false,
    logger: false,
  });
  if (server === undefined) throw new Error("fastify did not call serverFactory");
  const health = new HealthRegistry();
  const streams = new StreamCounter(deps.limits.streamsMax);
  const answers = new AnswerBudget(deps.limits.consumeHeldBytesMax);
  const shutdownController = new AbortController();
  const forwarder = new LeaderForwarder(deps.broker, deps.forwardTimeoutMs);
  const errorInterceptor = createErrorInterceptor(deps.logError);
  const validator = createFastValidator();
  // Requests of the public services are validated against their protovalidate rules; the Raft
  // transport between peers carries none and skips the walk.
  const validated = {
    interceptors: [errorInterceptor, createValidateInterceptor({ validator })],
  };
  const clientStreamMethods = deps.clientStreamMethods ?? {};
  // Plain gRPC clients of the hot LogService methods skip Connect (fast-grpc-routes.ts). Any
  // interceptor added to the public services (authentication) must be applied there too.
  const fast = createFastGrpcRoutes({
    broker: deps.broker,
    limits: deps.limits,
    streams,
    answers,
    forwarder,
    validator,
    logError: deps.logError,
    shutdown: shutdownController.signal,
  });
  server.streamRouter = (stream, headers) => {
    const path = headers[":path"];
    if (path === undefined || headers[":method"] !== "POST") return false;
    const contentType = headers["content-type"];
    if (contentType !== "application/grpc" && contentType !== "application/grpc+proto")
      return false;
    const encoding = headers["grpc-encoding"];
    if (encoding !== undefined && encoding !== "identity") return false;
    const route = fast.routes[path];
    if (route !== undefined) {
      route(new GrpcServerCall(stream, headers, fast.callOptions));
      return true;
    }
    const method = clientStreamMethods[path];
    if (method === undefined) return false;
    if (headers["grpc-timeout"] !== undefined || shutdownController.signal.aborted) return false;
    serveClientStream(stream, headers, method, shutdownController.signal, deps.logError);
    return true;
  };
  // Every call in progress listens on the shutdown signal (connect links it into each call's
  // signal and unlinks it when the call ends): thousands of listeners are expected, not a leak.
  setMaxListeners(0, shutdownController.signal);

  await fastify.register(fastifyCors, {
    origin: true,
    methods: [...connectCors.allowedMethods],
    allowedHeaders: [...connectCors.allowedHeaders, "authorization"],
    exposedHeaders: [...connectCors.exposedHeaders],
    maxAge: 7200,
  });

  await fastify.register(connectRoutes, {
    logError: deps.logError,
    routes: (router) => {
      router.service(
        LogService,
        createLogService({
          broker: deps.broker,
          limits: deps.limits,
          streams,
          forwarder,
          answers,
        }),
        validated,
      );
      router.service(TopicService, createTopicService(deps.broker, forwarder), validated);
      router.service(
        ClusterService,
        createClusterService(deps.broker, forwarder, deps.membership),
        validated,
      );
      registerHealth(router, health);
      registerReflection(router, publicServices);
      deps.extraRoutes?.(router);
    },
    interceptors: [errorInterceptor],
    readMaxBytes: clientReadMaxBytes(deps.limits),
    maxTimeoutMs: grpcTimeoutMsMax,
    // Compressed requests are accepted, but answers go uncompressed: gzip per message cost a
    // quarter of a node's CPU serving many tails, for bytes that mostly cross fast links.
    compressMinBytes: Number.MAX_SAFE_INTEGER,
    shutdownSignal: shutdownController.signal,
    jsonOptions: { ignoreUnknownFields: false },
    checkRequest: (method, bytes, binary) => {
      if (binary && deps.checkPeerRequest !== undefined && isPeerRequest(method.input)) {
        try {
          deps.checkPeerRequest(bytes);
        } catch (error) {
          throw toConnectError(error, deps.logError);
        }
      }
      checkRequestElements(method.input, bytes, binary, deps.limits);
    },
  });

  fastify.get("/healthz", async () => ({ status: "ok" }));
  fastify.get("/readyz", async (_request, reply) => {
    if (shutdownController.signal.aborted) return reply.code(503).send({ status: "shutting down" });
    const reason = deps.broker.notReadyReason();
    if (reason !== undefined) return reply.code(503).send({ status: "not ready", reason });
    return reply.code(200).send({ status: "ready" });
  });

  // Unknown paths: gRPC clients expect HTTP 200 with grpc-status 12 (UNIMPLEMENTED); others get
  // a Connect-style JSON error.
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser("*", (_request, _payload, done) => done(null, undefined));
  fastify.setNotFoundHandler((request, reply) => {
    const message = `no method at ${request.method} ${request.url}`;
    const contentType = String(request.headers["content-type"] ?? "");
    const stream = (request.raw as { stream?: ServerHttp2Stream }).stream;
    if (
      contentType.startsWith("application/grpc") &&
      !contentType.startsWith("application/grpc-web") &&
      stream !== undefined
    ) {
      // gRPC over HTTP/2 needs a trailers-only response: one HEADERS frame carrying the status and
      // END_STREAM. The compatibility response that fastify writes always waits for trailers, so
      // its headers lack END_STREAM and grpc-js reads the status as missing (INTERNAL).
      reply.hijack();
      stream.respond(
        {
          ":status": 200,
          "content-type": "application/grpc",
          "grpc-status": String(Code.Unimplemented),
          "grpc-message": encodeGrpcMessage(message),
        },
        { endStream: true },
      );
      return;
    }
    if (contentType.startsWith("application/grpc")) {
      return reply
        .code(200)
        .header(
          "content-type",
          contentType.startsWith("application/grpc-web") ? contentType : "application/grpc",
        )
        .header("grpc-status", String(Code.Unimplemented))
        .header("grpc-message", encodeGrpcMessage(message))
        .send();
    }
    return reply.code(404).send({ code: "unimplemented", message });
  });
  fastify.setErrorHandler((error, _request, reply) => {
    const connectError = ConnectError.from(error);
    const status = (error as { statusCode?: number }).statusCode ?? 500;
    if (status >= 500) deps.logError("http handler failed", error);
    return reply.code(status).send({
      code: codeName(connectError.code),
      message: status >= 500 ? "internal error" : connectError.rawMessage,
    });
  });

  fastify.addHook("preClose", async () => {
    health.shutdown();
    shutdownController.abort(new ConnectError("server is shutting down", Code.Unavailable));
    void server?.drain(deps.shutdownGraceMs);
  });

  health.setStatus("", ServingStatus.SERVING);
  for (const service of publicServices) health.setStatus(service.typeName, ServingStatus.SERVING);
  return { fastify, server, health, streams, answers, shutdownController };
}

/** Connect's JSON name of a code: Code.InvalidArgument → "invalid_argument". */
function codeName(code: Code): string {
  return Code[code].replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
}

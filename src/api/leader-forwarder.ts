// Any node accepts any request: a write that reaches a follower is forwarded to the leader over
// the public API (gRPC over h2c) and its answer relayed. A forwarded request carries a header so
// a node that is not the leader either (leadership moved meanwhile) answers NotLeader instead of
// forwarding again: one hop at most.
import {
  type Client,
  Code,
  ConnectError,
  createClient,
  createContextKey,
  type HandlerContext,
} from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { Broker } from "../cluster/broker.js";
import { TidelogError } from "../errors.js";
import { ClusterService } from "../gen/tidelog/v1/cluster_service_pb.js";
import { LogService } from "../gen/tidelog/v1/log_service_pb.js";
import { TopicService } from "../gen/tidelog/v1/topic_service_pb.js";

export const forwardedHeader = "tidelog-forwarded";

/**
 * The client's own signal on a Connect call: aborted when the client goes away, not when this
 * server shuts down (Connect's `signal` is both). A forwarded call is the client's, and the
 * leader may apply it: cut by this node's shutdown, it was answered unavailable ("server is
 * shutting down") while its records committed (outside probe R5). The server's drain gives it
 * its grace period instead.
 */
export const clientSignalKey = createContextKey<AbortSignal | undefined>(undefined, {
  description: "tidelog: the client's own abort signal",
});

/** What forwarding needs of a call: Connect's HandlerContext, or a call served on gRPC directly. */
export type ForwardContext = {
  requestHeader: Pick<HandlerContext["requestHeader"], "has">;
  values?: Pick<HandlerContext["values"], "get">;
} & Pick<HandlerContext, "timeoutMs" | "signal">;

/** The signal a forwarded call ends with: the client's, where the route gave it. */
function forwardSignal(context: ForwardContext): AbortSignal {
  return context.values?.get(clientSignalKey) ?? context.signal;
}

export interface LeaderClients {
  log: Client<typeof LogService>;
  topic: Client<typeof TopicService>;
  cluster: Client<typeof ClusterService>;
}

export class LeaderForwarder {
  private cached: { address: string; clients: LeaderClients } | undefined;

  constructor(
    private readonly broker: Broker,
    private readonly defaultTimeoutMs: number,
  ) {}

  /**
   * True when this call should run on the leader instead of here. Throws the broker's refusal
   * when this node serves no client calls now (cluster/client-gate.ts): a removed node would
   * acknowledge writes it never shows, a joining one relay before it has the state to read them.
   */
  shouldForward(context: ForwardContext): boolean {
    this.broker.requireServing();
    return !this.broker.isLeader() && !context.requestHeader.has(forwardedHeader);
  }

  /** Runs `call` against the leader with the caller's deadline, marking the request forwarded. */
  async forward<T>(
    context: ForwardContext,
    call: (clients: LeaderClients, options: CallOptions) => Promise<T>,
  ): Promise<T> {
    const callerDeadline = context.timeoutMs() !== undefined;
    try {
      return await call(this.leaderClients(), callOptions(context, this.defaultTimeoutMs));
    } catch (error) {
      throw withoutLeaderHeaders(
        outcomeUnknownIfCut(error, context, callerDeadline ? undefined : this.defaultTimeoutMs),
      );
    }
  }

  /**
   * Runs a streaming `call` against the leader, marking it forwarded: with the caller's deadline
   * if it set one, else none (a stream may last as long as its client wants). A cut connection
   * is unavailable, outcome unknown, as for forward().
   */
  async *forwardStream<T>(
    context: ForwardContext,
    call: (clients: LeaderClients, options: CallOptions) => AsyncIterable<T>,
  ): AsyncGenerator<T> {
    try {
      yield* call(this.leaderClients(), callOptions(context, undefined));
    } catch (error) {
      throw withoutLeaderHeaders(outcomeUnknownIfCut(error, context));
    }
  }

  /** The leader's clients; unavailable with a NotLeader detail while no leader is known. */
  private leaderClients(): LeaderClients {
    const leader = this.broker.leader();
    if (leader?.address === undefined || leader.address === "") {
      throw new TidelogError(
        "unavailable",
        "no leader is known yet (election in progress); retry",
        {
          notLeader: true,
          leaderId: leader?.id ?? "",
          leaderAddress: "",
        },
      );
    }
    return this.clientsFor(leader.address);
  }

  private clientsFor(address: string): LeaderClients {
    if (this.cached?.address !== address) {
      // Pinged while calls are open: a leader stopped dead (SIGSTOP, a hung host) holds the
      // connection open and answers nothing; its calls fail within ~3 s, outcome unknown.
      const transport = createGrpcTransport({
        baseUrl: `http://${address}`,
        pingIntervalMs: forwardPingIntervalMs,
        pingTimeoutMs: forwardPingTimeoutMs,
      });
      this.cached = {
        address,
        clients: {
          log: createClient(LogService, transport),
          topic: createClient(TopicService, transport),
          cluster: createClient(ClusterService, transport),
        },
      };
    }
    return this.cached.clients;
  }
}

const forwardPingIntervalMs = 1_000;
const forwardPingTimeoutMs = 2_000;

/** connect-node's words for a stream or connection that ended without an answer. */
const cutMessage = /^(http\/2 stream closed with error code|PING timed out)/i;
/**
 * connect-node's words (code internal) for a stream the leader reset with REFUSED_STREAM, which
 * HTTP/2 defines as not processed: a leader shutting down, or at its stream limit. They passed
 * as they were, internal, and clients do not retry internal (outside probe R6).
 */
const refusedMessage = /stream closed with error code NGHTTP2_REFUSED_STREAM/i;

/**
 * A forwarded call cut by its connection (the leader killed mid-call, or stopped dead and found
 * by the ping) fails in connect-node as canceled ("http/2 stream closed with error code CANCEL",
 * sometimes without a cause), aborted ("read ECONNRESET") or unavailable ("PING timed out").
 * None says the truth: the client cancelled nothing, and the server answers aborted only for a
 * write it did not apply, while such a write may have committed (probes found 28 of 28, and 3 of
 * 5, "canceled" records committed). It is unavailable, outcome unknown. So is a forwarded call
 * that hit the forwarder's own deadline (`defaultTimeoutMs`, when the caller set none): the caller
 * asked for no deadline, and the leader may have applied the write. Answers the leader sent and
 * calls the client itself cancelled pass unchanged.
 */
export function outcomeUnknownIfCut(
  error: unknown,
  context: ForwardContext,
  defaultTimeoutMs?: number,
): unknown {
  if (!(error instanceof ConnectError) || forwardSignal(context).aborted) return error;
  if (error.code === Code.Internal && refusedMessage.test(error.rawMessage)) {
    // The leader refused the stream before reading it (HTTP/2 REFUSED_STREAM: not processed).
    return new TidelogError(
      "unavailable",
      `the leader refused the forwarded call unprocessed (${error.rawMessage}): retry`,
    );
  }
  const cut =
    (error.code === Code.Canceled ||
      error.code === Code.Aborted ||
      error.code === Code.Unavailable) &&
    (error.cause !== undefined || cutMessage.test(error.rawMessage));
  if (cut && isConnectRefused(error)) {
    // No connection, so nothing was sent: the outcome is known.
    return new TidelogError(
      "unavailable",
      `the leader could not be reached (${error.rawMessage}); the call was not sent: retry`,
    );
  }
  if (cut) {
    return new TidelogError(
      "unavailable",
      `the connection to the leader failed during the forwarded call (${error.rawMessage}); it may or may not have been applied: retry`,
    );
  }
  if (error.code === Code.DeadlineExceeded && defaultTimeoutMs !== undefined) {
    return new TidelogError(
      "unavailable",
      `the leader did not answer the forwarded call within ${defaultTimeoutMs} ms; it may or may not have been applied: retry`,
    );
  }
  return error;
}

/**
 * The leader's error as this node answers it: its code, message and details, without the headers
 * of the leader's gRPC answer that connect-node keeps in `metadata` (content-type, grpc-status).
 * Connect's handlers put an error's metadata on the answer, so a Connect client of this node got
 * content-type application/grpc on a JSON error and read the HTTP status instead ("HTTP 409",
 * unknown; "HTTP 429", unavailable, for resource_exhausted). Tidelog's errors carry no metadata.
 */
export function withoutLeaderHeaders(error: unknown): unknown {
  if (error instanceof ConnectError)
    for (const key of [...error.metadata.keys()]) error.metadata.delete(key);
  return error;
}

function isConnectRefused(error: ConnectError): boolean {
  const cause = error.cause as { code?: unknown } | undefined;
  return cause?.code === "ECONNREFUSED" || error.rawMessage.startsWith("connect ECONNREFUSED");
}

/**
 * A forwarded call's options: marked forwarded, with the caller's remaining deadline (at least
 * 1 ms), else `defaultTimeoutMs` (none when undefined).
 */
function callOptions(context: ForwardContext, defaultTimeoutMs: number | undefined): CallOptions {
  const remaining = context.timeoutMs();
  const timeoutMs = remaining === undefined ? defaultTimeoutMs : Math.max(1, remaining);
  return {
    headers: { [forwardedHeader]: "1" },
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
    signal: forwardSignal(context),
  };
}

export interface CallOptions {
  headers: Record<string, string>;
  timeoutMs?: number;
  signal: AbortSignal;
}

// How a forwarded call's failure reaches the client: a connection cut mid-call (the leader killed)
// is unavailable with the outcome unknown, never canceled or aborted, which say the client
// cancelled or the write was not applied. Answers the leader sent pass unchanged.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Code, ConnectError, createContextValues } from "@connectrpc/connect";
import {
  clientSignalKey,
  LeaderForwarder,
  outcomeUnknownIfCut,
  withoutLeaderHeaders,
} from "../../src/api/leader-forwarder.js";
import type { Broker } from "../../src/cluster/broker.js";
import { TidelogError } from "../../src/errors.js";

const context = (aborted: boolean) => {
  const controller = new AbortController();
  if (aborted) controller.abort();
  return {
    requestHeader: { has: () => false },
    timeoutMs: () => undefined,
    signal: controller.signal,
  };
};

test("a forwarded call cut by its connection is unavailable, outcome unknown", () => {
  for (const [message, code, nodeCode] of [
    ["http/2 stream closed with error code CANCEL (0x8)", Code.Canceled, "ERR_HTTP2_STREAM_ERROR"],
    ["read ECONNRESET", Code.Aborted, "ECONNRESET"],
  ] as const) {
    const cause = Object.assign(new Error(message), { code: nodeCode });
    const cut = ConnectError.from(cause, code);
    const relayed = outcomeUnknownIfCut(cut, context(false));
    assert.ok(relayed instanceof TidelogError, message);
    assert.equal(relayed.code, "unavailable");
    assert.match(relayed.message, /may or may not have been applied/);
  }
  // The same cuts as connect-node also reports them, without a cause: a stream reset when the
  // leader's process died, and a connection dropped because the leader stopped answering pings.
  for (const cut of [
    new ConnectError("http/2 stream closed with error code CANCEL (0x8)", Code.Canceled),
    new ConnectError("PING timed out", Code.Unavailable),
  ]) {
    const relayed = outcomeUnknownIfCut(cut, context(false));
    assert.ok(relayed instanceof TidelogError, cut.rawMessage);
    assert.equal(relayed.code, "unavailable");
    assert.match(relayed.message, /may or may not have been applied/);
  }
});

test("a forwarded call that found no connection to the leader says it was not sent", () => {
  const refused = ConnectError.from(
    Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" }),
    Code.Unavailable,
  );
  const relayed = outcomeUnknownIfCut(refused, context(false));
  assert.ok(relayed instanceof TidelogError);
  assert.equal(relayed.code, "unavailable");
  assert.match(relayed.message, /could not be reached .*; the call was not sent/);
});

test("a forwarded call past the forwarder's own deadline is unavailable, outcome unknown", () => {
  const timedOut = new ConnectError("the operation timed out", Code.DeadlineExceeded);
  const relayed = outcomeUnknownIfCut(timedOut, context(false), 30_000);
  assert.ok(relayed instanceof TidelogError);
  assert.equal(relayed.code, "unavailable");
  assert.match(relayed.message, /within 30000 ms; it may or may not have been applied/);
  // The caller's own deadline: deadline_exceeded is the answer it asked for.
  assert.equal(outcomeUnknownIfCut(timedOut, context(false)), timedOut);
});

test("the leader's own answers and the client's own cancel pass unchanged", () => {
  const answered = new ConnectError(
    "leadership changed before the write committed; it was not applied",
    Code.Aborted,
  );
  assert.equal(outcomeUnknownIfCut(answered, context(false)), answered);
  const notLeader = new ConnectError("not the leader; n2 leads", Code.Unavailable);
  assert.equal(outcomeUnknownIfCut(notLeader, context(false)), notLeader);
  const cancelled = ConnectError.from(new Error("stream closed"), Code.Canceled);
  assert.equal(outcomeUnknownIfCut(cancelled, context(true)), cancelled);
  const other = new Error("boom");
  assert.equal(outcomeUnknownIfCut(other, context(false)), other);
});

test("forward and forwardStream both relay a cut connection as unavailable", async () => {
  // The clients are made for the leader's address but never used: the calls fail by themselves.
  const broker = { leader: () => ({ id: "n1", address: "127.0.0.1:1" }) } as unknown as Broker;
  const forwarder = new LeaderForwarder(broker, 1_000);
  const cut = () =>
    ConnectError.from(
      Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }),
      Code.Aborted,
    );
  await assert.rejects(
    forwarder.forward(context(false), () => Promise.reject(cut())),
    (error: unknown) => error instanceof TidelogError && error.code === "unavailable",
  );
  const received: number[] = [];
  await assert.rejects(
    (async () => {
      for await (const value of forwarder.forwardStream(context(false), async function* () {
        yield 1;
        throw cut();
      }))
        received.push(value);
    })(),
    (error: unknown) => error instanceof TidelogError && error.code === "unavailable",
  );
  assert.deepEqual(received, [1], "answers before the cut are relayed");
});

test("a forwarded call lives by the client's signal, not by this server's shutdown", async () => {
  // Connect's signal is aborted when the server shuts down; the client's is not (outside probe
  // R5: such calls were answered "server is shutting down" while their records committed).
  const shutdown = new AbortController();
  shutdown.abort(new ConnectError("server is shutting down", Code.Unavailable));
  const client = new AbortController();
  const values = createContextValues().set(clientSignalKey, client.signal);
  const connectContext = { ...context(false), signal: shutdown.signal, values };
  const broker = { leader: () => ({ id: "n1", address: "127.0.0.1:1" }) } as unknown as Broker;
  const forwarder = new LeaderForwarder(broker, 1_000);
  let given: AbortSignal | undefined;
  await forwarder.forward(connectContext, async (_leader, options) => {
    given = options.signal;
  });
  assert.equal(given, client.signal);
  // A cut during shutdown is still an unknown outcome, not passed on as it came.
  const cut = new ConnectError("http/2 stream closed with error code CANCEL (0x8)", Code.Canceled);
  const relayed = outcomeUnknownIfCut(cut, connectContext);
  assert.ok(relayed instanceof TidelogError && relayed.code === "unavailable");
  // The client's own cancel still passes unchanged.
  client.abort();
  assert.equal(outcomeUnknownIfCut(cut, connectContext), cut);
});

test("a stream the leader refused unprocessed is unavailable: retry", () => {
  const refused = new ConnectError(
    "Stream closed with error code NGHTTP2_REFUSED_STREAM",
    Code.Internal,
  );
  const relayed = outcomeUnknownIfCut(refused, context(false));
  assert.ok(relayed instanceof TidelogError, String(relayed));
  assert.equal(relayed.code, "unavailable");
  assert.match(relayed.message, /refused the forwarded call unprocessed.*retry/);
  // A leader's own internal answer passes unchanged.
  const internal = new ConnectError("internal error", Code.Internal);
  assert.equal(outcomeUnknownIfCut(internal, context(false)), internal);
});

test("the leader's error is relayed without the headers of its gRPC answer", () => {
  // As connect-node reads them off the wire: incoming details, the answer's headers as metadata.
  const details = [{ type: "tidelog.v1.NotLeader", value: new Uint8Array([10, 2, 110, 49]) }];
  const answered = new ConnectError(
    "2 of 3 voters are out of disk space or open files (n2, n3)",
    Code.ResourceExhausted,
    { "content-type": "application/grpc", "grpc-status": "8" },
  );
  answered.details.push(...details);
  const relayed = withoutLeaderHeaders(answered);
  assert.ok(relayed instanceof ConnectError);
  assert.equal(relayed.code, Code.ResourceExhausted);
  assert.equal(relayed.rawMessage, "2 of 3 voters are out of disk space or open files (n2, n3)");
  assert.deepEqual(relayed.details, details);
  assert.deepEqual([...relayed.metadata.keys()], []);
  const other = new TidelogError("unavailable", "no leader");
  assert.equal(withoutLeaderHeaders(other), other);
});

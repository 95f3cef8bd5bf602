// Outside probe P2: one client held a leader's whole connection cap (half its open-file limit)
// with slowloris connections (partial HTTP/1.1 headers, each reopened 50 ms after the server
// closed it). The cap closed every new connection: a restarted follower could not forward writes
// to the leader, and once both followers were restarted neither could open its StepStream to it,
// and the leader lost its office. Now a connection that has not delivered a request is evicted
// by newcomers (connection-slots.ts): under the same flood, restarted followers reach the leader,
// writes forwarded through them commit, clients are served and the leader keeps its office.
import assert from "node:assert/strict";
import net from "node:net";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { LogService, ProduceRequestSchema } from "../../src/gen/tidelog/v1/log_service_pb.js";
import { createNodeTransport } from "../harness/clients.js";
import { Cluster, waitUntil } from "../harness/cluster.js";
import { exitWhenDone } from "../harness/exit-when-done.js";

exitWhenDone();

/** `ulimit -n` of every node: a connection cap of 128. */
const openFilesLimit = 256;
const connectionsMax = openFilesLimit / 2;
/** Flood connections beyond the cap: each closed one is reopened, so the cap stays full. */
const floodBeyondCap = 32;
const reconnectDelayMs = 50;

/** Slowloris connections to one port, each reopened after the server closes it. */
class SlowlorisFlood {
  private readonly sockets = new Set<net.Socket>();
  private stopped = false;
  /** Connections the server closed. */
  closedByServer = 0;

  constructor(private readonly port: number) {}

  start(count: number): void {
    for (let i = 0; i < count; i++) this.open();
  }

  private open(): void {
    if (this.stopped) return;
    const socket = net.connect(this.port, "127.0.0.1");
    this.sockets.add(socket);
    socket.on("connect", () =>
      socket.write("POST /tidelog.v1.LogService/Produce HTTP/1.1\r\nHost: x\r\n"),
    );
    socket.on("data", () => undefined);
    socket.on("error", () => undefined);
    socket.on("close", () => {
      this.sockets.delete(socket);
      if (this.stopped) return;
      this.closedByServer++;
      setTimeout(() => this.open(), reconnectDelayMs);
    });
  }

  stop(): void {
    this.stopped = true;
    for (const socket of this.sockets) socket.destroy();
  }
}

async function produceThrough(cluster: Cluster, id: string, value: string): Promise<void> {
  // A new connection for each attempt, as a new client has.
  let lastError: unknown;
  await waitUntil(
    async () => {
      const transport = createNodeTransport("grpc", `http://${cluster.member(id).address}`);
      try {
        await createClient(LogService, transport.transport).produce(
          create(ProduceRequestSchema, { topic: "t", records: [{ value: Buffer.from(value) }] }),
          { timeoutMs: 3_000 },
        );
        return true;
      } catch (error) {
        lastError = error;
        return false;
      } finally {
        transport.close();
      }
    },
    () => `no produce through ${id} succeeded: ${String(lastError)}\n${cluster.logs()}`,
    20_000,
    200,
  );
}

test("a slowloris flood at the leader's connection cap cuts it off from neither peers nor clients", async () => {
  await Cluster.run({ size: 3, openFilesLimit }, async (cluster) => {
    const leader = await cluster.waitForLeader();
    await produceThrough(cluster, leader, "before");
    const followers = cluster.ids.filter((id) => id !== leader);
    const port = Number(cluster.member(leader).address.split(":")[1]);
    const flood = new SlowlorisFlood(port);
    try {
      flood.start(connectionsMax + floodBeyondCap);
      // The cap is full: the server closes flood connections as others arrive.
      await waitUntil(
        () => flood.closedByServer >= floodBeyondCap,
        () => `the flood did not reach the cap (${flood.closedByServer} closed)`,
        20_000,
      );
      // Each follower in turn is restarted: its new connections to the leader (StepStream,
      // forwarded writes) must find a slot.
      for (const follower of followers) {
        await cluster.kill(follower);
        await cluster.restart(follower);
        await produceThrough(cluster, follower, `through restarted ${follower}`);
      }
      await produceThrough(cluster, leader, "to the leader");
      assert.equal(
        await cluster.waitForLeader(),
        leader,
        "the leader lost its office under the flood",
      );
      assert.ok(flood.closedByServer > floodBeyondCap, "the flood kept the cap full");
    } finally {
      flood.stop();
    }
    await cluster.waitConverged(["t"], { timeoutMs: 20_000 });
  });
});

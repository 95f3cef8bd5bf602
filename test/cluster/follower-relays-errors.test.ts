// A write that reaches a follower is forwarded to the leader, and the leader's answer reaches the
// client as the leader gave it, in every protocol: the same code and message. The leader's answer
// comes back to the follower over gRPC; its transport headers (content-type application/grpc,
// grpc-status) are no part of the error and must not be sent on (a Connect client, finding them
// on the follower's answer, read "HTTP 409" as unknown).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { TopicService } from "../../src/gen/tidelog/v1/topic_service_pb.js";
import { createNodeTransport, nodeTransportKinds } from "../harness/clients.js";
import { Cluster } from "../harness/cluster.js";

let cluster: Cluster;
let followerUrl: string;

before(async () => {
  cluster = await Cluster.start({ size: 2 });
  const leader = await cluster.waitForLeader();
  followerUrl = `http://${cluster.member(leader === "n1" ? "n2" : "n1").address}`;
  await cluster.client(leader).topics.createTopic({ name: "relayed" }, { timeoutMs: 10_000 });
});

after(() => cluster.close());

test("the leader's refusal reaches a follower's client unchanged, in every protocol", async () => {
  // GET serves only methods without side effects; a create is not one.
  for (const kind of nodeTransportKinds.filter((kind) => kind !== "connect-get-h1")) {
    const transport = createNodeTransport(kind, followerUrl);
    try {
      const topics = createClient(TopicService, transport.transport);
      const error = await topics.createTopic({ name: "relayed" }, { timeoutMs: 10_000 }).then(
        () => assert.fail(`${kind}: an existing topic was created again`),
        (caught: unknown) => ConnectError.from(caught),
      );
      assert.equal(error.code, Code.AlreadyExists, `${kind}: ${error.message}`);
      assert.match(error.rawMessage, /relayed/, kind);
    } finally {
      transport.close();
    }
  }
});

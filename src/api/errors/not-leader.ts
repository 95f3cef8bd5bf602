import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { type NotLeader, NotLeaderSchema } from "../../gen/tidelog/v1/errors_pb.js";

/** The leader as the answering server knows it; empty strings when it knows none. */
export interface NotLeaderInit {
  leaderId: string;
  leaderAddress: string;
}

/**
 * The error a server answers when a request must run on the Raft leader, this server is not it,
 * and it does not forward the request: code UNAVAILABLE, because nothing was done and the request
 * can be retried (at `leaderAddress`, or after a back-off while no leader is known), with a
 * `NotLeader` detail saying where the leader is.
 */
export function notLeader(init: NotLeaderInit): ConnectError {
  const { leaderId, leaderAddress } = init;
  const message =
    leaderId === ""
      ? "this server is not the leader and no leader is known (election in progress?)"
      : `this server is not the leader; the leader is ${leaderId} at ${leaderAddress}`;
  const detail: NotLeader = create(NotLeaderSchema, { leaderId, leaderAddress });
  return new ConnectError(message, Code.Unavailable, undefined, [
    { desc: NotLeaderSchema, value: detail },
  ]);
}

/**
 * The `NotLeader` detail of an error a client received, or undefined when the error does not
 * carry one (including when `error` is not an error at all).
 */
export function findNotLeader(error: unknown): NotLeader | undefined {
  if (!(error instanceof ConnectError)) return undefined;
  return error.findDetails(NotLeaderSchema)[0];
}

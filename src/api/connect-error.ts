// Maps whatever a handler threw onto a ConnectError: TidelogError codes one to one, with typed
// details where the contract promises them; anything else is an internal error whose message is
// not leaked (it is logged instead).
import { Code, ConnectError } from "@connectrpc/connect";
import { AssertionFailure } from "../assert.js";
import { type ErrorCode, TidelogError } from "../errors.js";
import { notLeader, offsetOutOfRange } from "./errors/index.js";

const codes: { [code in ErrorCode]: Code } = {
  invalid_argument: Code.InvalidArgument,
  not_found: Code.NotFound,
  already_exists: Code.AlreadyExists,
  out_of_range: Code.OutOfRange,
  resource_exhausted: Code.ResourceExhausted,
  failed_precondition: Code.FailedPrecondition,
  unavailable: Code.Unavailable,
  aborted: Code.Aborted,
  data_loss: Code.DataLoss,
  internal: Code.Internal,
};

export type ErrorLogger = (message: string, error: unknown) => void;

export function toConnectError(error: unknown, log: ErrorLogger): ConnectError {
  if (error instanceof ConnectError) return error;
  if (error instanceof TidelogError) {
    const { details } = error;
    if (
      error.code === "out_of_range" &&
      typeof details.topic === "string" &&
      (typeof details.requested === "number" || typeof details.requested === "bigint")
    ) {
      const requested = BigInt(details.requested);
      const lowest = BigInt(details.lowest as number);
      const next = BigInt(details.next as number);
      if (requested < lowest || requested > next) {
        return offsetOutOfRange({ topic: details.topic, requested, lowest, next });
      }
    }
    if (details.notLeader === true) {
      return notLeader({
        leaderId: String(details.leaderId ?? ""),
        leaderAddress: String(details.leaderAddress ?? ""),
      });
    }
    if (error.code === "internal" || error.code === "data_loss") log(error.message, error);
    return new ConnectError(error.message, codes[error.code]);
  }
  if (error instanceof AssertionFailure) {
    log("assertion failed in a handler", error);
    return new ConnectError("internal error", Code.Internal);
  }
  log("unexpected error in a handler", error);
  return new ConnectError("internal error", Code.Internal);
}

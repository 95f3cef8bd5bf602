// Deadlines longer than Node's timers can hold (2^31 - 1 ms, about 24.8 days) are taken as no
// deadline, as grpc-go and grpc-java take them. They were refused with invalid_argument, so a
// stock grpc-js client whose deadline was 25 days or more away failed every call, and the
// largest values the specs allow (`grpc-timeout: 99999999H`, a 10-digit `connect-timeout-ms`)
// could never be used. Malformed values are left for the protocol handlers to refuse.
import type { IncomingHttpHeaders } from "node:http";
import { grpcTimeoutMsMax } from "./grpc-server-call.js";

const grpcUnitMs: Record<string, number> = {
  H: 3_600_000,
  M: 60_000,
  S: 1_000,
  m: 1,
  u: 0.001,
  n: 0.000_001,
};

/** Removes a grpc-timeout or connect-timeout-ms header whose deadline no timer can hold. */
export function dropOverlongTimeouts(headers: IncomingHttpHeaders): void {
  const grpc = headers["grpc-timeout"];
  if (typeof grpc === "string") {
    const match = /^(\d{1,8})([HMSmun])$/.exec(grpc);
    if (match !== null && Number(match[1]) * grpcUnitMs[match[2]!]! > grpcTimeoutMsMax)
      delete headers["grpc-timeout"];
  }
  const connect = headers["connect-timeout-ms"];
  if (
    typeof connect === "string" &&
    /^\d{1,10}$/.test(connect) &&
    Number(connect) > grpcTimeoutMsMax
  )
    delete headers["connect-timeout-ms"];
}

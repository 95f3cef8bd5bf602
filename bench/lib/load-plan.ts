// What a produce workload is asked to do and what it measured. Every run is bounded twice: by
// time and by count, whichever comes first.
import type { LatencySamples } from "./latency-samples.js";

export interface LoadPlan {
  /** Requests outstanding at once. */
  inflight: number;
  /** Stop sending after this long. */
  durationMs: number;
  /** Stop sending after this many requests. */
  requestsMax: number;
}

export interface LoadOutcome {
  /** Requests answered successfully. */
  requests: number;
  /** From the first send to the last answer. */
  seconds: number;
  /** Per-request latency: call time for unary, send-to-ack time for streams. */
  latency: LatencySamples;
}

/** Deadline for any one call, on top of the run's own duration: a stuck call fails the run. */
export const callTimeoutMs = 30_000;

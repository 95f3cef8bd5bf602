// One interface over the four ways the benchmark produces: Connect's gRPC transport, raw
// @grpc/grpc-js, Connect JSON over HTTP/1.1 with fetch (what curl users get), and gRPC by hand
// over bare node:http2 (the leanest client, h2-grpc-producer.ts). Each client
// is built for one batch (topic + record values) that it sends again and again.
import type { LoadOutcome, LoadPlan } from "./load-plan.js";

export interface ProduceBatch {
  topic: string;
  /** The values of one request's records. */
  values: readonly Uint8Array[];
}

export type ProduceClientKind = "connect-grpc" | "grpc-js" | "connect-json-h1" | "h2-grpc";

export interface ProduceClient {
  readonly kind: ProduceClientKind;
  /** One unary Produce of the batch; rejects if the server refuses it. */
  produce(): Promise<void>;
  /** A pipelined ProduceStream of the batch, `plan.inflight` requests unanswered at most. */
  stream(plan: LoadPlan): Promise<LoadOutcome>;
  /** Releases the client's connections. */
  close(): void;
}

// The produce workloads the cluster benchmark runs for each cluster size and record size.
import type { ProduceClientKind } from "./produce-client.js";

export interface ProduceCase {
  /** Short stable name, used in topic names and the JSON results. */
  key: string;
  description: string;
  client: ProduceClientKind;
  call: "unary" | "stream";
  inflight: number;
  recordsPerRequest: number;
}

export const produceCases: readonly ProduceCase[] = [
  {
    key: "unary-1",
    description: "Produce, 1 record, 1 in flight",
    client: "connect-grpc",
    call: "unary",
    inflight: 1,
    recordsPerRequest: 1,
  },
  {
    // One record at a time over an open stream: a client that keeps its stream (as Kafka
    // producers keep their connection) pays no per-call HTTP/2 set-up.
    key: "stream-1",
    description: "ProduceStream, 1 record, 1 in flight",
    client: "connect-grpc",
    call: "stream",
    inflight: 1,
    recordsPerRequest: 1,
  },
  {
    key: "stream-256",
    description: "ProduceStream, 1 record, 256 in flight",
    client: "connect-grpc",
    call: "stream",
    inflight: 256,
    recordsPerRequest: 1,
  },
  {
    key: "batch-100x16",
    description: "ProduceStream, 100 records, 16 in flight",
    client: "connect-grpc",
    call: "stream",
    inflight: 16,
    recordsPerRequest: 100,
  },
  {
    key: "json-h1-4",
    description: "Connect JSON HTTP/1.1 fetch, 1 record, 4 in flight",
    client: "connect-json-h1",
    call: "unary",
    inflight: 4,
    recordsPerRequest: 1,
  },
  {
    key: "grpcjs-unary-1",
    description: "grpc-js Produce, 1 record, 1 in flight",
    client: "grpc-js",
    call: "unary",
    inflight: 1,
    recordsPerRequest: 1,
  },
  {
    key: "grpcjs-stream-256",
    description: "grpc-js ProduceStream, 1 record, 256 in flight",
    client: "grpc-js",
    call: "stream",
    inflight: 256,
    recordsPerRequest: 1,
  },
  {
    key: "h2-unary-1",
    description: "bare HTTP/2 Produce, 1 record, 1 in flight",
    client: "h2-grpc",
    call: "unary",
    inflight: 1,
    recordsPerRequest: 1,
  },
  {
    key: "h2-stream-1",
    description: "bare HTTP/2 ProduceStream, 1 record, 1 in flight",
    client: "h2-grpc",
    call: "stream",
    inflight: 1,
    recordsPerRequest: 1,
  },
  {
    key: "h2-stream-256",
    description: "bare HTTP/2 ProduceStream, 1 record, 256 in flight",
    client: "h2-grpc",
    call: "stream",
    inflight: 256,
    recordsPerRequest: 1,
  },
  {
    key: "h2-batch-100x16",
    description: "bare HTTP/2 ProduceStream, 100 records, 16 in flight",
    client: "h2-grpc",
    call: "stream",
    inflight: 16,
    recordsPerRequest: 100,
  },
  {
    // 16 batches in flight do not fill the pipeline (leader Ready, follower Ready, commit and
    // answer each hold some); this shows what the cluster takes once they do.
    key: "h2-batch-100x64",
    description: "bare HTTP/2 ProduceStream, 100 records, 64 in flight",
    client: "h2-grpc",
    call: "stream",
    inflight: 64,
    recordsPerRequest: 100,
  },
];

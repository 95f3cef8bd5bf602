// `tidelog serve`: runs one node until SIGTERM or SIGINT, then shuts down in order (stop
// accepting, end streams, finish in-flight calls, sync and close the logs).
import { parseArgs } from "node:util";
import { defaultApiLimits } from "../api/limits.js";
import { parseHostPort } from "../host-port.js";
import { batchRecordsMax } from "../log/frame.js";
import { isNodeId, nodeIdRule } from "../node-id.js";
import { logError } from "../obs/logger.js";
import { tuneHeapForServing } from "../server/heap-tuning.js";
import {
  defaultRaftTimings,
  holdsRaftState,
  type NodeConfig,
  nodeIdFileName,
  readStoredNodeId,
  startNode,
} from "../server/node.js";
import { installProcessGuards } from "../server/process-guards.js";

export const serveHelp = `usage: tidelog serve [flags]

Runs a tidelog node: gRPC, gRPC-Web and Connect (JSON or binary, HTTP/1.1 or HTTP/2 with prior
knowledge) on one port.

flags:
  --id ID                      this node's id, unique in its cluster: 1 to 128 letters, digits,
                               dots, hyphens or underscores (default: the id the data directory
                               was created with, else node-1; another id is refused)
  --listen HOST:PORT           address to serve on (default: 127.0.0.1:8080; port 0 picks one)
  --data-dir DIR               where topics are stored; created if missing (default: ./data)
  --bootstrap                  form a new one-node cluster if the data directory is empty
  --join HOST:PORT             join the cluster that HOST:PORT (any member) belongs to, if the
                               data directory is empty. A node restarted on its data directory
                               needs neither flag; a wiped member must be removed (Leave) first
  --cluster-id ID              the id of the cluster to --join: the members' shared credential,
                               in any member's data directory (file cluster-id); also needed,
                               in the tidelog-cluster-id header, by Join, Leave and
                               TransferLeadership calls
  --advertise HOST:PORT        address peers use to reach this node (default: --listen, with
                               the bound port when it is 0)
  --raft-tick-ms N             Raft tick length (default: 100)
  --election-ticks N           election timeout in ticks, randomised up to twice (default: 10)
  --snapshot-entries N         applied entries between snapshots (default: 50000)
  --snapshot-bytes N           or applied entry bytes between snapshots, whichever comes first
                               (default: 67108864)
  --compaction-keep-entries N  Raft entries kept behind a snapshot for lagging followers
                               (default: 10000)
  --compaction-keep-bytes N    but at most this many bytes of them; with --snapshot-bytes it
                               bounds the Raft log a node keeps in memory (default: 134217728)
  --no-auto-create-topics      producing to an unknown topic fails with not_found
  --record-bytes-max N         largest record (value + key + headers) in bytes (default: 1048576)
  --request-bytes-max N        most record bytes (values, keys, headers) in one produce request,
                               in any encoding (default: 8388608)
  --request-records-max N      most records in one produce request (default: 10000)
  --request-headers-max N      most record headers in one produce request, all records together
                               (default: 10000)
  --consume-bytes-max N        most payload bytes in one consume response (default: 4194304)
  --streams-max N              concurrent streaming calls (default: 10000)
  --consume-held-bytes-max N   ConsumeStream answer bytes held for slow clients, all streams
                               together; past it answers shrink to 16 KiB (default: 268435456)
  --segment-bytes N            segment size for new topics (default: 67108864)
  --retention-interval-ms N    how often retention runs (default: 30000)
  --shutdown-grace-ms N        time in-flight calls get on shutdown (default: 5000)
  --disk-reserve-bytes N       refuse writes (resource_exhausted) while the data disk has less
                               free space than this (default: 67108864)
  -h, --help                   show this help
`;

export async function serveCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    allowPositionals: false,
    options: {
      id: { type: "string" },
      listen: { type: "string", default: "127.0.0.1:8080" },
      "data-dir": { type: "string", default: "./data" },
      bootstrap: { type: "boolean", default: false },
      join: { type: "string" },
      "cluster-id": { type: "string" },
      advertise: { type: "string" },
      "raft-tick-ms": { type: "string" },
      "election-ticks": { type: "string" },
      "snapshot-entries": { type: "string" },
      "compaction-keep-entries": { type: "string" },
      "snapshot-bytes": { type: "string" },
      "compaction-keep-bytes": { type: "string" },
      "no-auto-create-topics": { type: "boolean", default: false },
      "record-bytes-max": { type: "string" },
      "request-bytes-max": { type: "string" },
      "request-records-max": { type: "string" },
      "request-headers-max": { type: "string" },
      "consume-bytes-max": { type: "string" },
      "streams-max": { type: "string" },
      "consume-held-bytes-max": { type: "string" },
      "segment-bytes": { type: "string" },
      "retention-interval-ms": { type: "string" },
      "shutdown-grace-ms": { type: "string" },
      "disk-reserve-bytes": { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(serveHelp);
    return 0;
  }
  if (values.join !== undefined && values.bootstrap) {
    throw new UsageError("--bootstrap and --join exclude each other");
  }
  // A restarted node needs only its data directory: it names the node it belongs to.
  const storedId = await readStoredNodeId(values["data-dir"]);
  if (values.id === undefined && storedId === undefined && holdsRaftState(values["data-dir"])) {
    // Running it as node-1 would give one node's data another's name.
    throw new UsageError(
      `${values["data-dir"]} holds a node's data but no ${nodeIdFileName} file naming it: start it with --id and the id it had`,
    );
  }
  const id = values.id ?? storedId ?? "node-1";
  if (!isNodeId(id)) throw new UsageError(`--id must be ${nodeIdRule}`);
  if (values.join !== undefined) parseHostPortFlag(values.join);
  if (values.advertise !== undefined) parseHostPortFlag(values.advertise);
  const { host, port } = parseHostPortFlag(values.listen);
  const integer = (
    flag: string,
    value: string | undefined,
    fallback: number,
    min = 1,
    max = Number.MAX_SAFE_INTEGER,
  ): number => {
    if (value === undefined) return fallback;
    const parsed = Number(value);
    if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
      throw new UsageError(
        max === Number.MAX_SAFE_INTEGER
          ? `--${flag} must be an integer ≥ ${min}`
          : `--${flag} must be an integer from ${min} to ${max}`,
      );
    }
    return parsed;
  };
  const config: NodeConfig = {
    id,
    host,
    port,
    dataDirectory: values["data-dir"],
    bootstrap: values.bootstrap,
    ...(values.join === undefined ? {} : { join: values.join }),
    ...(values["cluster-id"] === undefined ? {} : { clusterId: values["cluster-id"] }),
    ...(values.advertise === undefined ? {} : { advertise: values.advertise }),
    raft: {
      ...defaultRaftTimings,
      tickMs: integer("raft-tick-ms", values["raft-tick-ms"], defaultRaftTimings.tickMs),
      electionTicks: integer(
        "election-ticks",
        values["election-ticks"],
        defaultRaftTimings.electionTicks,
        2,
      ),
      compactionKeepEntries: integer(
        "compaction-keep-entries",
        values["compaction-keep-entries"],
        defaultRaftTimings.compactionKeepEntries,
        0,
      ),
      snapshotEntries: integer(
        "snapshot-entries",
        values["snapshot-entries"],
        defaultRaftTimings.snapshotEntries,
        2,
      ),
      snapshotBytes: integer(
        "snapshot-bytes",
        values["snapshot-bytes"],
        defaultRaftTimings.snapshotBytes,
        1,
      ),
      compactionKeepBytes: integer(
        "compaction-keep-bytes",
        values["compaction-keep-bytes"],
        defaultRaftTimings.compactionKeepBytes,
        0,
      ),
    },
    autoCreateTopics: !values["no-auto-create-topics"],
    limits: {
      ...defaultApiLimits,
      recordBytesMax: integer(
        "record-bytes-max",
        values["record-bytes-max"],
        defaultApiLimits.recordBytesMax,
      ),
      requestBytesMax: integer(
        "request-bytes-max",
        values["request-bytes-max"],
        defaultApiLimits.requestBytesMax,
      ),
      // A request's records go into one append entry, one atomic batch of the topic log.
      requestRecordsMax: integer(
        "request-records-max",
        values["request-records-max"],
        defaultApiLimits.requestRecordsMax,
        1,
        batchRecordsMax,
      ),
      requestHeadersMax: integer(
        "request-headers-max",
        values["request-headers-max"],
        defaultApiLimits.requestHeadersMax,
        0,
      ),
      consumeBytesMax: integer(
        "consume-bytes-max",
        values["consume-bytes-max"],
        defaultApiLimits.consumeBytesMax,
      ),
      streamsMax: integer("streams-max", values["streams-max"], defaultApiLimits.streamsMax),
      consumeHeldBytesMax: integer(
        "consume-held-bytes-max",
        values["consume-held-bytes-max"],
        defaultApiLimits.consumeHeldBytesMax,
      ),
    },
    segmentBytesMax: integer("segment-bytes", values["segment-bytes"], 64 * 1024 * 1024, 1024),
    retentionIntervalMs: integer("retention-interval-ms", values["retention-interval-ms"], 30_000),
    shutdownGraceMs: integer("shutdown-grace-ms", values["shutdown-grace-ms"], 5_000, 0),
    diskReserveBytes: integer(
      "disk-reserve-bytes",
      values["disk-reserve-bytes"],
      64 * 1024 * 1024,
      0,
    ),
  };
  if (config.limits.recordBytesMax > config.limits.requestBytesMax) {
    throw new UsageError("--record-bytes-max must not exceed --request-bytes-max");
  }
  installProcessGuards(logError);
  tuneHeapForServing();
  const node = await startNode(config);
  process.stdout.write(
    `${JSON.stringify({ level: "info", message: "tidelog serving", id: config.id, address: node.address, dataDirectory: config.dataDirectory })}\n`,
  );
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.stdout.write(
        `${JSON.stringify({ level: "info", message: "shutting down", signal })}\n`,
      );
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
      resolve();
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
  await node.stop();
  process.stdout.write(`${JSON.stringify({ level: "info", message: "stopped" })}\n`);
  return 0;
}

export class UsageError extends Error {
  override readonly name = "UsageError";
}

export function parseHostPortFlag(value: string): { host: string; port: number } {
  const parsed = parseHostPort(value);
  if (parsed === undefined)
    throw new UsageError(`expected HOST:PORT, got ${JSON.stringify(value)}`);
  return parsed;
}

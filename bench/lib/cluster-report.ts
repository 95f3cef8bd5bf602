// The cluster benchmark's tables, printed at the end of a run.
import type { CatchUpResult } from "./catch-up.js";
import { type GoalCheck, label, type ScalingRatio } from "./cluster-goals.js";
import type { FdatasyncResult, SequentialWriteResult } from "./disk-limits.js";
import type { RoundTripResult } from "./h2-round-trip.js";
import type { ProduceResult } from "./produce-run.js";
import { formatNumber, formatTable } from "./result-table.js";
import type { TailResult } from "./tail-latency.js";

export function produceTable(results: readonly ProduceResult[]): string {
  return formatTable(
    [
      "nodes · size · case",
      "records/s",
      "MB/s",
      "p50 ms",
      "p99 ms",
      "p99.9 ms",
      "CPU s/M nodes",
      "leader",
      "client",
    ],
    results.map((result) => [
      `${result.clusterSize} · ${label(result.recordBytes)} · ${result.description}`,
      formatNumber(result.recordsPerSecond),
      formatNumber(result.megabytesPerSecond, 1),
      formatNumber(result.latency.p50Ms, 2),
      formatNumber(result.latency.p99Ms, 2),
      formatNumber(result.latency.p999Ms, 2),
      formatNumber(result.cpuSecondsPerMillionRecords.allNodes, 1),
      formatNumber(result.cpuSecondsPerMillionRecords.leader, 1),
      formatNumber(result.cpuSecondsPerMillionRecords.client, 1),
    ]),
  );
}

export function ratioTable(ratios: readonly ScalingRatio[]): string {
  return formatTable(
    ["case · size", "1 node rec/s", "3 nodes rec/s", "3/1", "target"],
    ratios.map((ratio) => [
      `${ratio.case} · ${label(ratio.recordBytes)}`,
      formatNumber(ratio.oneNodeRecordsPerSecond),
      formatNumber(ratio.threeNodeRecordsPerSecond),
      formatNumber(ratio.ratio, 2),
      ratio.target === undefined ? "" : `≥ ${ratio.target}`,
    ]),
  );
}

export function catchUpTable(result: CatchUpResult): string {
  return formatTable(
    ["catch-up", "records", "seconds", "records/s", "MB/s", "server CPU s", "client CPU s"],
    [
      [
        `fill (10,000-record batches)`,
        formatNumber(result.recordsFilled),
        formatNumber(result.fillSeconds, 1),
        formatNumber(result.fillRecordsPerSecond),
        formatNumber((result.fillRecordsPerSecond * result.recordBytes) / 1e6, 1),
        "",
        "",
      ],
      [
        `ConsumeStream from 0 (${result.responses} responses)`,
        formatNumber(result.recordsRead),
        formatNumber(result.readSeconds, 2),
        formatNumber(result.recordsPerSecond),
        formatNumber(result.megabytesPerSecond, 1),
        formatNumber(result.readCpuSeconds.server, 2),
        formatNumber(result.readCpuSeconds.client, 2),
      ],
    ],
  );
}

export function tailTable(results: readonly TailResult[]): string {
  return formatTable(
    [
      "tails",
      "rate/s",
      "delivered/expected",
      "p50 ms",
      "p99 ms",
      "p99.9 ms",
      "produce p50 ms",
      "CPU s nodes",
      "client",
      "seconds",
    ],
    results.map((result) => [
      formatNumber(result.tails),
      formatNumber(result.ratePerSecond),
      `${formatNumber(result.deliveries)}/${formatNumber(result.deliveriesExpected)}`,
      formatNumber(result.delivery.p50Ms, 2),
      formatNumber(result.delivery.p99Ms, 2),
      formatNumber(result.delivery.p999Ms, 2),
      formatNumber(result.produce.p50Ms, 2),
      formatNumber(result.cpuSeconds.nodes, 2),
      formatNumber(result.cpuSeconds.client, 2),
      formatNumber(result.measuredSeconds, 1),
    ]),
  );
}

export function peakRssTable(peaks: Record<string, Record<string, number>>): string {
  return formatTable(
    ["peak RSS (VmHWM)", "MiB by node"],
    Object.entries(peaks).map(([when, byNode]) => [
      when,
      Object.entries(byNode)
        .map(([id, mib]) => `${id} ${formatNumber(mib)}`)
        .join(", "),
    ]),
  );
}

export function diskTable(
  fdatasync: FdatasyncResult,
  sequential: SequentialWriteResult,
  roundTrip: RoundTripResult,
): string {
  return formatTable(
    ["machine limit", "figure", "p50 ms", "p99 ms"],
    [
      [
        `${fdatasync.writeBytes} B write + fdatasync`,
        `${formatNumber(fdatasync.syncsPerSecond)}/s`,
        formatNumber(fdatasync.latency.p50Ms, 3),
        formatNumber(fdatasync.latency.p99Ms, 3),
      ],
      [
        `sequential ${sequential.chunkBytes / (1024 * 1024)} MiB writes + fdatasync`,
        `${formatNumber(sequential.megabytesPerSecond)} MB/s`,
        "",
        "",
      ],
      [
        "bare HTTP/2 unary round trip, 2 processes",
        `${formatNumber(roundTrip.requestsPerSecond)}/s`,
        formatNumber(roundTrip.latency.p50Ms, 3),
        formatNumber(roundTrip.latency.p99Ms, 3),
      ],
    ],
  );
}

export function goalTable(checks: readonly GoalCheck[]): string {
  return formatTable(
    ["goal", "where", "measured", "target", "met"],
    checks.map((check) => [
      check.goal,
      check.where,
      `${formatNumber(check.measured, check.unit === "records/s" ? 0 : 2)} ${check.unit}`,
      `${check.unit === "ms" ? "≤" : "≥"} ${formatNumber(check.target, check.unit === "ms" || check.unit === "×" ? 1 : 0)} ${check.unit}`,
      check.met ? "yes" : "NO",
    ]),
  );
}

// The storage engine (src/log) alone, in one process, against the machine's own disk limits
// measured in the same run and the same directory: plain sequential write bandwidth and small
// write + fdatasync rate, then appends (100 B and 1 KiB records, batches of 1 and 100, with and
// without a sync per batch) and reads (single records and ranges of 1000) from the page cache.
// Prints tables with each figure next to its target and writes bench/results/log.json.
//
//   npm run bench -- log            full run (about a minute)
//   npm run bench -- log --quick    smoke run (a few seconds)
//
// Profile a run: node --cpu-prof --cpu-prof-dir=bench/results/profiles dist/bench/log.bench.js
import { closeSync, openSync } from "node:fs";
import { mkdtemp, open, rm, statfs } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fdatasync, writeAt } from "../src/log/fd-io.js";
import { Log } from "../src/log/log.js";
import { parseBenchOptions } from "./lib/bench-options.js";
import {
  type FdatasyncResult,
  measureFdatasync,
  measureSequentialWrite,
  type SequentialWriteResult,
} from "./lib/disk-limits.js";
import { formatSteal, startStealSpan } from "./lib/host-conditions.js";
import { LatencySamples, type LatencySummary } from "./lib/latency-samples.js";
import { formatNumber, formatTable } from "./lib/result-table.js";
import { writeResults } from "./lib/results-file.js";

interface Settings {
  /** Every measured case stops after this long … */
  caseMs: number;
  /** … or after this many records, whichever comes first. */
  appendRecordsMax: number;
  /** … or after this many payload bytes (keeps the disk use of one case bounded). */
  appendBytesMax: number;
  /** Appends outstanding at once in the no-sync cases (they coalesce into one write). */
  appendInflight: number;
  /** Records the read cases first fill the log with (bounded by fillMs too). */
  readRecords: number;
  fillMs: number;
  disk: {
    fdatasync: { durationMs: number; countMax: number };
    sequential: { durationMs: number; bytesMax: number };
  };
}

const fullSettings: Settings = {
  caseMs: 3_000,
  appendRecordsMax: 5_000_000,
  appendBytesMax: 2 * 1024 ** 3,
  appendInflight: 32,
  readRecords: 2_000_000,
  fillMs: 20_000,
  disk: {
    fdatasync: { durationMs: 2_000, countMax: 20_000 },
    sequential: { durationMs: 3_000, bytesMax: 2 * 1024 ** 3 },
  },
};

const quickSettings: Settings = {
  caseMs: 300,
  appendRecordsMax: 200_000,
  appendBytesMax: 64 * 1024 ** 2,
  appendInflight: 32,
  readRecords: 100_000,
  fillMs: 2_000,
  disk: {
    fdatasync: { durationMs: 300, countMax: 1_000 },
    sequential: { durationMs: 300, bytesMax: 256 * 1024 ** 2 },
  },
};

/** The targets (see bench/README.md). */
const targets = {
  /** Batched appends without sync, as a share of plain sequential write bandwidth. */
  batchedAppendShareOfWrite: 0.7,
  /** Range reads of 100 B records from the page cache, records per second. */
  rangeReadRecordsPerSecond: 1_000_000,
  /** Appends with a sync per batch may be at most this much slower than raw fdatasync. */
  syncedAppendSlowdownMax: 1.2,
};

interface AppendResult {
  recordBytes: number;
  batchRecords: number;
  sync: boolean;
  inflight: number;
  records: number;
  seconds: number;
  recordsPerSecond: number;
  /** Payload megabytes (10^6 bytes) per second. */
  megabytesPerSecond: number;
  /** Per append (and sync) call. */
  latency: LatencySummary;
}

interface ReadResult {
  kind: "single" | "range";
  recordBytes: number;
  recordsPerCall: number;
  records: number;
  seconds: number;
  recordsPerSecond: number;
  megabytesPerSecond: number;
  latency: LatencySummary;
}

function payloads(count: number, bytes: number): Buffer[] {
  const value = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) value[i] = (i * 131 + 7) & 0xff;
  return Array.from({ length: count }, () => value);
}

/**
 * Appends batches until the time, record or byte bound. Without sync, `inflight` appends are kept
 * outstanding (the log coalesces them) and one final sync is counted in, as the raw sequential
 * write counts its final fdatasync. With sync, one caller appends a batch and syncs, again and
 * again: the same shape as the raw write + fdatasync loop.
 */
async function measureAppend(
  directory: string,
  settings: Settings,
  recordBytes: number,
  batchRecords: number,
  sync: boolean,
): Promise<AppendResult> {
  const log = await Log.open(directory);
  const batch = payloads(batchRecords, recordBytes);
  const latency = new LatencySamples();
  const inflight = sync ? 1 : settings.appendInflight;
  const recordsMax = Math.min(
    settings.appendRecordsMax,
    Math.floor(settings.appendBytesMax / recordBytes),
  );
  let records = 0;
  try {
    // Warm-up: JIT and the first segment's files.
    for (let i = 0; i < 200; i++) await log.append(batch);
    await log.sync();
    const began = performance.now();
    const deadline = began + settings.caseMs;
    const worker = async () => {
      while (records < recordsMax && performance.now() < deadline) {
        records += batchRecords;
        const start = performance.now();
        await log.append(batch);
        if (sync) await log.sync();
        latency.add(performance.now() - start);
      }
    };
    await Promise.all(Array.from({ length: inflight }, worker));
    await log.sync();
    const seconds = (performance.now() - began) / 1000;
    return {
      recordBytes,
      batchRecords,
      sync,
      inflight,
      records,
      seconds,
      recordsPerSecond: records / seconds,
      megabytesPerSecond: (records * recordBytes) / 1e6 / seconds,
      latency: latency.summary(),
    };
  } finally {
    await log.destroy();
  }
}

/** Slices a paired measurement alternates between, so both sides see the same disk weather. */
const pairedSlices = 6;
/**
 * The sync-per-batch pairs alternate in finer slices (100 ms of each side with the full settings):
 * a single fdatasync takes 0.1–0.5 ms, and the disk's rate drifts within half a second, more than
 * the 20% the target allows.
 */
const syncedPairSlices = 30;

/**
 * A sync-per-batch case paired with raw write + fdatasync of the same bytes: the two alternate in
 * short slices within one case's time, because on a shared disk the fdatasync rate swings by
 * several times within seconds, and back-to-back runs would compare different weather.
 */
async function measureSyncedPair(
  directory: string,
  settings: Settings,
  recordBytes: number,
  batchRecords: number,
): Promise<{ log: AppendResult; raw: FdatasyncResult }> {
  const log = await Log.open(join(directory, "log"));
  // The raw side takes Node's cheapest path to the disk: a file descriptor and the callback API
  // (FileHandle adds 7–13 µs per write + fdatasync pair), as the log's store does.
  const rawFd = openSync(join(directory, "raw"), "w");
  const batch = payloads(batchRecords, recordBytes);
  const rawChunk = Buffer.alloc(batchBytes(recordBytes, batchRecords), 0x61);
  const logLatency = new LatencySamples();
  const rawLatency = new LatencySamples();
  const sliceMs = settings.caseMs / syncedPairSlices;
  let logSeconds = 0;
  let rawSeconds = 0;
  let records = 0;
  let rawPosition = 0;
  try {
    for (let i = 0; i < 50; i++) {
      await log.append(batch);
      await log.sync();
    }
    const rawSlice = async () => {
      const began = performance.now();
      const deadline = began + sliceMs;
      while (performance.now() < deadline) {
        const start = performance.now();
        const written = await writeAt(rawFd, rawChunk, 0, rawChunk.length, rawPosition);
        if (written !== rawChunk.length) throw new Error(`short write: ${written} bytes`);
        await fdatasync(rawFd);
        rawLatency.add(performance.now() - start);
        rawPosition += rawChunk.length;
      }
      rawSeconds += (performance.now() - began) / 1000;
    };
    const logSlice = async () => {
      const began = performance.now();
      const deadline = began + sliceMs;
      while (performance.now() < deadline) {
        const start = performance.now();
        await log.append(batch);
        await log.sync();
        logLatency.add(performance.now() - start);
        records += batchRecords;
      }
      logSeconds += (performance.now() - began) / 1000;
    };
    // Which side goes first alternates, so neither always follows the other's fdatasync.
    for (let slice = 0; slice < syncedPairSlices; slice++) {
      if (slice % 2 === 0) {
        await rawSlice();
        await logSlice();
      } else {
        await logSlice();
        await rawSlice();
      }
    }
    return {
      log: {
        recordBytes,
        batchRecords,
        sync: true,
        inflight: 1,
        records,
        seconds: logSeconds,
        recordsPerSecond: records / logSeconds,
        megabytesPerSecond: (records * recordBytes) / 1e6 / logSeconds,
        latency: logLatency.summary(),
      },
      raw: {
        writeBytes: rawChunk.length,
        syncs: rawLatency.count,
        syncsPerSecond: rawLatency.count / rawSeconds,
        latency: rawLatency.summary(),
      },
    };
  } finally {
    closeSync(rawFd);
    await log.destroy();
    await rm(directory, { recursive: true, force: true });
  }
}

/**
 * The batched no-sync case paired with plain sequential writes (1 MiB blocks, then one fdatasync,
 * as measureSequentialWrite) in alternating slices, for the reason measureSyncedPair gives: on a
 * shared machine the write and flush bandwidth swing within seconds, so a baseline measured once
 * at the start and a case measured a minute later compare different weather. Each slice of either
 * side ends with its fdatasync (the log's sync) counted in; the bounds of a case are split evenly
 * over the slices.
 */
async function measureBatchedPair(
  directory: string,
  settings: Settings,
  recordBytes: number,
  batchRecords: number,
): Promise<{ log: AppendResult; raw: SequentialWriteResult }> {
  const log = await Log.open(join(directory, "log"));
  const rawFile = await open(join(directory, "raw"), "w");
  const batch = payloads(batchRecords, recordBytes);
  const chunk = Buffer.alloc(1024 * 1024, 0x62);
  const latency = new LatencySamples();
  const sliceMs = settings.caseMs / pairedSlices;
  const sliceBytesMax = settings.appendBytesMax / pairedSlices;
  const sliceRecordsMax = Math.min(
    Math.floor(settings.appendRecordsMax / pairedSlices),
    Math.floor(sliceBytesMax / recordBytes),
  );
  let logSeconds = 0;
  let rawSeconds = 0;
  let records = 0;
  let rawBytes = 0;
  try {
    for (let i = 0; i < 200; i++) await log.append(batch);
    await log.sync();
    for (let slice = 0; slice < pairedSlices; slice++) {
      let began = performance.now();
      let deadline = began + sliceMs;
      let bytes = 0;
      while (bytes + chunk.length <= sliceBytesMax && performance.now() < deadline) {
        await rawFile.write(chunk, 0, chunk.length, rawBytes + bytes);
        bytes += chunk.length;
      }
      await rawFile.datasync();
      rawSeconds += (performance.now() - began) / 1000;
      rawBytes += bytes;
      began = performance.now();
      deadline = began + sliceMs;
      let sliceRecords = 0;
      const worker = async () => {
        while (sliceRecords < sliceRecordsMax && performance.now() < deadline) {
          sliceRecords += batchRecords;
          const start = performance.now();
          await log.append(batch);
          latency.add(performance.now() - start);
        }
      };
      await Promise.all(Array.from({ length: settings.appendInflight }, worker));
      await log.sync();
      logSeconds += (performance.now() - began) / 1000;
      records += sliceRecords;
    }
    return {
      log: {
        recordBytes,
        batchRecords,
        sync: false,
        inflight: settings.appendInflight,
        records,
        seconds: logSeconds,
        recordsPerSecond: records / logSeconds,
        megabytesPerSecond: (records * recordBytes) / 1e6 / logSeconds,
        latency: latency.summary(),
      },
      raw: {
        chunkBytes: chunk.length,
        bytes: rawBytes,
        megabytesPerSecond: rawBytes / 1e6 / rawSeconds,
      },
    };
  } finally {
    await rawFile.close();
    await log.destroy();
    await rm(directory, { recursive: true, force: true });
  }
}

/** Fills a log with 100 B records in batches of 1000, bounded by count and time. */
async function fillForReads(directory: string, settings: Settings): Promise<Log> {
  const log = await Log.open(directory);
  const batch = payloads(1000, 100);
  const deadline = performance.now() + settings.fillMs;
  const pending: Promise<number>[] = [];
  while (log.nextOffset + pending.length * 1000 < settings.readRecords) {
    pending.push(log.append(batch));
    if (pending.length >= 16) {
      await Promise.all(pending.splice(0));
      if (performance.now() > deadline) break;
    }
  }
  await Promise.all(pending);
  await log.sync();
  return log;
}

async function measureReads(
  log: Log,
  settings: Settings,
  kind: "single" | "range",
): Promise<ReadResult> {
  const recordsPerCall = kind === "single" ? 1 : 1000;
  const latency = new LatencySamples();
  const end = log.nextOffset;
  // One pass over the log warms the page cache and the JIT.
  for (let at = log.lowestOffset; at < end; at += 1000) {
    await log.readRange(at, { maxRecords: 1000, maxBytes: 1 << 30 });
  }
  let records = 0;
  let bytes = 0;
  let at = log.lowestOffset;
  const began = performance.now();
  const deadline = began + settings.caseMs;
  while (performance.now() < deadline && records < settings.appendRecordsMax) {
    if (at >= end) at = log.lowestOffset;
    const start = performance.now();
    if (kind === "single") {
      const record = await log.read(at);
      bytes += record.payload.length;
      records++;
      at++;
    } else {
      const batch = await log.readRange(at, { maxRecords: 1000, maxBytes: 1 << 30 });
      for (const record of batch) bytes += record.payload.length;
      records += batch.length;
      at += batch.length;
    }
    latency.add(performance.now() - start);
  }
  const seconds = (performance.now() - began) / 1000;
  return {
    kind,
    recordBytes: 100,
    recordsPerCall,
    records,
    seconds,
    recordsPerSecond: records / seconds,
    megabytesPerSecond: bytes / 1e6 / seconds,
    latency: latency.summary(),
  };
}

/** Bytes one batch occupies in the store: payloads plus 12-byte frame headers. */
function batchBytes(recordBytes: number, batchRecords: number): number {
  return batchRecords * (recordBytes + 12);
}

function appendLabel(result: AppendResult): string {
  const size = result.recordBytes >= 1024 ? `${result.recordBytes / 1024} KiB` : "100 B";
  const sync = result.sync ? "sync per batch" : `no sync, ${result.inflight} in flight`;
  return `append ${size} × ${result.batchRecords}, ${sync}`;
}

async function main(): Promise<void> {
  const options = parseBenchOptions();
  const settings = options.quick ? quickSettings : fullSettings;
  const root = await mkdtemp(join(tmpdir(), "tidelog-log-bench-"));
  const filesystem = await statfs(root);
  const steal = startStealSpan();
  const machine = {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? "unknown",
    loadAverage: loadavg(),
    node: process.version,
    directory: root,
    filesystemType: `0x${filesystem.type.toString(16)}`,
    quick: options.quick,
  };
  console.log(
    `log bench in ${root} (${machine.cpus} CPUs, load ${machine.loadAverage
      .map((load) => load.toFixed(2))
      .join(" ")})${options.quick ? " --quick" : ""}`,
  );
  let sequential: SequentialWriteResult;
  let fdatasync: FdatasyncResult;
  /** Raw write + fdatasync of each synced case's batch bytes, measured interleaved with it. */
  const sameSizeFdatasync = new Map<number, FdatasyncResult>();
  /** Plain sequential writes measured interleaved with the 1 KiB × 100 no-sync case. */
  let pairedSequential: SequentialWriteResult | undefined;
  const appends: AppendResult[] = [];
  const reads: ReadResult[] = [];
  try {
    sequential = await measureSequentialWrite(root, settings.disk.sequential);
    fdatasync = await measureFdatasync(root, settings.disk.fdatasync, 1024);
    for (const recordBytes of [100, 1024]) {
      for (const batchRecords of [1, 100]) {
        for (const sync of [false, true]) {
          const directory = join(root, `append-${recordBytes}-${batchRecords}-${sync}`);
          let result: AppendResult;
          if (sync) {
            const pair = await measureSyncedPair(directory, settings, recordBytes, batchRecords);
            sameSizeFdatasync.set(pair.raw.writeBytes, pair.raw);
            result = pair.log;
          } else if (recordBytes === 1024 && batchRecords === 100) {
            const pair = await measureBatchedPair(directory, settings, recordBytes, batchRecords);
            pairedSequential = pair.raw;
            result = pair.log;
          } else {
            result = await measureAppend(directory, settings, recordBytes, batchRecords, sync);
          }
          console.log(
            `  ${appendLabel(result)}: ${formatNumber(result.recordsPerSecond)} records/s`,
          );
          appends.push(result);
        }
      }
    }
    const log = await fillForReads(join(root, "reads"), settings);
    try {
      reads.push(await measureReads(log, settings, "single"));
      reads.push(await measureReads(log, settings, "range"));
    } finally {
      await log.destroy();
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }

  console.log("\nmachine limits (same directory, same run)");
  console.log(
    formatTable(
      ["measure", "rate", "MB/s", "p50 ms", "p99 ms"],
      [
        [
          `sequential write, ${sequential.chunkBytes / 1024 / 1024} MiB blocks + final fdatasync`,
          "-",
          formatNumber(sequential.megabytesPerSecond, 1),
          "-",
          "-",
        ],
        ...(pairedSequential === undefined
          ? []
          : [
              [
                "sequential write, 1 MiB blocks + fdatasync per slice (paired)",
                "-",
                formatNumber(pairedSequential.megabytesPerSecond, 1),
                "-",
                "-",
              ],
            ]),
        ...[fdatasync, ...sameSizeFdatasync.values()].map((result) => [
          `write ${result.writeBytes} B + fdatasync, one after another${result === fdatasync ? "" : " (paired)"}`,
          `${formatNumber(result.syncsPerSecond)}/s`,
          formatNumber((result.syncsPerSecond * result.writeBytes) / 1e6, 1),
          formatNumber(result.latency.p50Ms, 3),
          formatNumber(result.latency.p99Ms, 3),
        ]),
      ],
    ),
  );
  console.log("\nstorage engine");
  console.log(
    formatTable(
      ["case", "records/s", "MB/s", "p50 ms", "p99 ms"],
      [
        ...appends.map((result) => [
          appendLabel(result),
          formatNumber(result.recordsPerSecond),
          formatNumber(result.megabytesPerSecond, 1),
          formatNumber(result.latency.p50Ms, 3),
          formatNumber(result.latency.p99Ms, 3),
        ]),
        ...reads.map((result) => [
          result.kind === "single" ? "read 100 B, one record per call" : "readRange 100 B × 1000",
          formatNumber(result.recordsPerSecond),
          formatNumber(result.megabytesPerSecond, 1),
          formatNumber(result.latency.p50Ms, 3),
          formatNumber(result.latency.p99Ms, 3),
        ]),
      ],
    ),
  );

  const find = (recordBytes: number, batchRecords: number, sync: boolean) =>
    appends.find(
      (result) =>
        result.recordBytes === recordBytes &&
        result.batchRecords === batchRecords &&
        result.sync === sync,
    )!;
  const batched = find(1024, 100, false);
  const range = reads.find((result) => result.kind === "range")!;
  const syncedRequired = fdatasync.syncsPerSecond / targets.syncedAppendSlowdownMax;
  const goals = [
    {
      goal: "batched appends without sync ≥ 70% of plain write bandwidth",
      where: "1 KiB × 100, no sync",
      measured: batched.megabytesPerSecond,
      target: sequential.megabytesPerSecond * targets.batchedAppendShareOfWrite,
      unit: "MB/s",
    },
    ...(pairedSequential === undefined
      ? []
      : [
          {
            goal: "batched appends without sync ≥ 70% of plain write bandwidth, paired",
            where: "1 KiB × 100 vs raw in the same slices",
            measured: batched.megabytesPerSecond,
            target: pairedSequential.megabytesPerSecond * targets.batchedAppendShareOfWrite,
            unit: "MB/s",
          },
        ]),
    {
      goal: "range reads ≥ 1,000,000 records/s (100 B)",
      where: "readRange × 1000",
      measured: range.recordsPerSecond,
      target: targets.rangeReadRecordsPerSecond,
      unit: "records/s",
    },
    ...[100, 1024].flatMap((recordBytes) =>
      [1, 100].map((batchRecords) => ({
        goal: "sync per batch ≥ raw fdatasync rate / 1.2",
        where: `${recordBytes >= 1024 ? "1 KiB" : "100 B"} × ${batchRecords}, sync per batch`,
        measured: find(recordBytes, batchRecords, true).recordsPerSecond / batchRecords,
        target: syncedRequired,
        unit: "batches/s",
      })),
    ),
    ...[100, 1024].flatMap((recordBytes) =>
      [1, 100].map((batchRecords) => {
        const raw = sameSizeFdatasync.get(batchBytes(recordBytes, batchRecords))!;
        return {
          goal: "sync per batch ≥ raw fdatasync of the same bytes / 1.2",
          where: `${recordBytes >= 1024 ? "1 KiB" : "100 B"} × ${batchRecords} vs raw ${raw.writeBytes} B`,
          measured: find(recordBytes, batchRecords, true).recordsPerSecond / batchRecords,
          target: raw.syncsPerSecond / targets.syncedAppendSlowdownMax,
          unit: "batches/s",
        };
      }),
    ),
  ].map((goal) => ({
    ...goal,
    ratio: goal.measured / goal.target,
    met: goal.measured >= goal.target,
  }));
  console.log("\ntargets");
  console.log(
    formatTable(
      ["goal", "where", "measured", "target", "unit", "ratio", "met"],
      goals.map((goal) => [
        goal.goal,
        goal.where,
        formatNumber(goal.measured, goal.unit === "MB/s" ? 1 : 0),
        formatNumber(goal.target, goal.unit === "MB/s" ? 1 : 0),
        goal.unit,
        formatNumber(goal.ratio, 2),
        goal.met ? "yes" : "NO",
      ]),
    ),
  );
  const stealPercent = steal();
  console.log(`\nduring the run: ${formatSteal(stealPercent)}`);
  const path = await writeResults("log", {
    machine: { ...machine, stealPercent },
    settings,
    disk: {
      sequential,
      pairedSequential,
      fdatasync,
      sameSizeFdatasync: [...sameSizeFdatasync.values()],
    },
    appends,
    reads,
    goals,
  });
  console.log(`\nresults: ${path}`);
}

await main();

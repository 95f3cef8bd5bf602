// The service under load: real tidelog nodes (1 and 3) as child processes on loopback, produce
// over Connect gRPC, raw grpc-js and Connect JSON/HTTP/1.1, catch-up and tailing consumers, the
// CPU and memory the nodes use, and the machine's own disk limits measured in the same run.
// Prints tables with each figure next to its goal and writes bench/results/cluster.json.
//
//   npm run bench -- cluster            full run (about 10 minutes)
//   npm run bench -- cluster --quick    smoke run (about 1 minute)
//   npm run bench -- cluster --profile  CPU profile of the leader, 3 nodes, 1 KiB, 256 in flight
//   npm run bench -- cluster --only=catch-up|tails|consume   only those sections, on 3 nodes
//                                        (--tails=1000: only that many tails)
//                                        (with --profile: every node under --cpu-prof, summarised)
//   npm run bench -- cluster --only=scaling   3-node/1-node ratios, 1 and 3 nodes in alternating
//                                        slices (about 3 minutes)
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseBenchOptions } from "./lib/bench-options.js";
import { type CatchUpResult, runCatchUp } from "./lib/catch-up.js";
import { checkGoals, scalingRatios } from "./lib/cluster-goals.js";
import {
  catchUpTable,
  diskTable,
  goalTable,
  peakRssTable,
  produceTable,
  ratioTable,
  tailTable,
} from "./lib/cluster-report.js";
import { type ClusterBenchSettings, fullSettings, quickSettings } from "./lib/cluster-settings.js";
import { monotonicMicros, summarizeCpuProfile } from "./lib/cpu-profile-summary.js";
import { measureFdatasync, measureSequentialWrite } from "./lib/disk-limits.js";
import { measureH2RoundTrip } from "./lib/h2-round-trip.js";
import { formatHostConditions, startHostSpan } from "./lib/host-conditions.js";
import { BenchCluster, type BenchNode, type NodeLaunchOptions } from "./lib/node-launcher.js";
import { peakRssMiB } from "./lib/node-usage.js";
import { runPairedScaling } from "./lib/paired-scaling.js";
import { produceCases } from "./lib/produce-cases.js";
import { type ProduceResult, runProduceCase } from "./lib/produce-run.js";
import { formatNumber, formatTable } from "./lib/result-table.js";
import { resultsDirectory, writeResults } from "./lib/results-file.js";
import { runTailLatency, type TailResult } from "./lib/tail-latency.js";

const options = parseBenchOptions();
const settings = options.quick ? quickSettings : fullSettings;

let activeCluster: BenchCluster | undefined;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    void (activeCluster?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  });
}

function progress(message: string): void {
  process.stderr.write(`[cluster bench] ${message}\n`);
}

async function withCluster<T>(
  size: number,
  launch: NodeLaunchOptions,
  work: (cluster: BenchCluster, leader: BenchNode) => Promise<T>,
): Promise<T> {
  progress(`starting ${size} node${size === 1 ? "" : "s"}`);
  const cluster = await BenchCluster.start(size, launch);
  activeCluster = cluster;
  let leader: BenchNode | undefined;
  try {
    leader = await cluster.leader();
    return await work(cluster, leader);
  } finally {
    await cluster.stop(leader);
    activeCluster = undefined;
  }
}

async function measureMachine(run: ClusterBenchSettings) {
  const directory = await mkdtemp(join(tmpdir(), "tidelog-bench-disk-"));
  try {
    progress(`machine limits in ${directory}`);
    const fdatasync = await measureFdatasync(directory, run.disk.fdatasync);
    const sequential = await measureSequentialWrite(directory, run.disk.sequential);
    const roundTrip = await measureH2RoundTrip(run.roundTrip);
    return { fdatasync, sequential, roundTrip };
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

async function runAll(run: ClusterBenchSettings): Promise<void> {
  const startedAt = new Date().toISOString();
  const host = startHostSpan();
  const only = options.only;
  const machine = only === undefined ? await measureMachine(run) : undefined;
  const clusterSizes = only === undefined ? run.clusterSizes : [Math.max(...run.clusterSizes)];
  const profileDirectory =
    only !== undefined && options.profile
      ? resolve(resultsDirectory, "profiles", new Date().toISOString().replace(/[:.]/g, "-"))
      : undefined;
  const launch =
    profileDirectory === undefined
      ? {}
      : { nodeFlags: ["--cpu-prof", `--cpu-prof-dir=${profileDirectory}`] };
  const window = { fromMicros: 0, toMicros: 0 };
  const nodePids: { id: string; pid: number }[] = [];
  const produce: ProduceResult[] = [];
  const peakRss: Record<string, Record<string, number>> = {};
  let catchUp: CatchUpResult | undefined;
  const tails: TailResult[] = [];
  for (const size of clusterSizes) {
    await withCluster(size, launch, async (cluster, leader) => {
      for (const node of cluster.nodes) nodePids.push({ id: node.id, pid: node.pid });
      for (const recordBytes of only === undefined ? run.recordSizes : []) {
        for (const produceCase of produceCases) {
          const result = await runProduceCase(
            { nodes: cluster.nodes, leader },
            produceCase,
            recordBytes,
            run.produce,
          );
          progress(
            `${size} node(s) ${recordBytes} B ${produceCase.key}: ${formatNumber(result.recordsPerSecond)} records/s, p50 ${formatNumber(result.latency.p50Ms, 2)} ms`,
          );
          produce.push(result);
        }
      }
      if (only === undefined)
        peakRss[`${size} node(s), after produce`] = await peakRssMiB(cluster.nodes);
      if (size !== Math.max(...run.clusterSizes)) return;
      window.fromMicros = monotonicMicros();
      if (only === undefined || only === "catch-up" || only === "consume") {
        progress(`catch-up: filling up to ${formatNumber(run.catchUp.recordsTarget)} records`);
        // --only=catch-up profiles the read alone, not the fill.
        catchUp = await runCatchUp(leader, run.catchUp, (phase) => {
          if (only !== "catch-up") return;
          if (phase === "start") window.fromMicros = monotonicMicros();
          else window.toMicros = monotonicMicros();
        });
        progress(`catch-up: ${formatNumber(catchUp.recordsPerSecond)} records/s`);
      }
      for (const count of only === "catch-up" ? [] : (options.tails ?? run.tails.counts)) {
        const result = await runTailLatency(
          { nodes: cluster.nodes, leader },
          { ...run.tails, tails: count },
        );
        progress(`${count} tails: p99 ${formatNumber(result.delivery.p99Ms, 2)} ms`);
        tails.push(result);
      }
      if (only !== "catch-up") window.toMicros = monotonicMicros();
      peakRss[`${size} node(s), after consume`] = await peakRssMiB(cluster.nodes);
    });
  }
  if (profileDirectory !== undefined) await printNodeProfiles(profileDirectory, nodePids, window);
  const ratios = scalingRatios(produce);
  const goals = checkGoals(produce, catchUp, tails);
  const conditions = host();
  const environment = {
    startedAt,
    mode: options.quick ? "quick" : "full",
    node: process.version,
    cpus: cpus().length,
    loadAverageBefore: conditions.loadBefore,
    loadAverageAfter: conditions.loadAfter,
    stealPercent: conditions.stealPercent,
    temporaryDirectory: tmpdir(),
  };
  const sections = [
    `tidelog cluster benchmark (${environment.mode}; ${environment.cpus} CPUs; ${formatHostConditions(conditions)})`,
    ...(machine === undefined
      ? []
      : [diskTable(machine.fdatasync, machine.sequential, machine.roundTrip)]),
    ...(produce.length === 0 ? [] : [produceTable(produce), ratioTable(ratios)]),
    ...(catchUp === undefined ? [] : [catchUpTable(catchUp)]),
    ...(tails.length === 0 ? [] : [tailTable(tails)]),
    peakRssTable(peakRss),
    goalTable(goals),
  ];
  process.stdout.write(`${sections.join("\n\n")}\n`);
  const path = await writeResults(only === undefined ? "cluster" : `cluster-${only}`, {
    environment,
    settings: run,
    machine,
    produce,
    ratios,
    catchUp,
    tails,
    peakRssMiB: peakRss,
    goals,
  });
  process.stdout.write(`\nwrote ${path}\n`);
}

/** Self time of every node during the consume sections (--only with --profile). */
async function printNodeProfiles(
  directory: string,
  nodes: readonly { id: string; pid: number }[],
  window: { fromMicros: number; toMicros: number },
): Promise<void> {
  const names = await readdir(directory);
  for (const node of nodes) {
    const name = names.find((candidate) => candidate.includes(`.${node.pid}.`));
    if (name === undefined) {
      progress(`no profile of ${node.id} (pid ${node.pid}) in ${directory}`);
      continue;
    }
    const summary = await summarizeCpuProfile(join(directory, name), window, 30);
    process.stdout.write(
      [
        `${node.id} CPU profile ${join(directory, name)}: ${formatNumber(summary.totalMs)} ms sampled, ${formatNumber(summary.idleMs)} ms idle`,
        profileTable(summary.byArea),
        profileTable(summary.topFunctions),
      ].join("\n\n") + "\n\n",
    );
  }
}

function profileTable(entries: readonly { name: string; selfMs: number; percent: number }[]) {
  return formatTable(
    ["self time", "ms", "%"],
    entries.map((entry) => [
      entry.name,
      formatNumber(entry.selfMs),
      formatNumber(entry.percent, 1),
    ]),
  );
}

/** CPU-profiles every node of a 3-node cluster under the 1 KiB, 256-in-flight case. */
async function runProfile(run: ClusterBenchSettings): Promise<void> {
  const directory = resolve(
    resultsDirectory,
    "profiles",
    new Date().toISOString().replace(/[:.]/g, "-"),
  );
  const launch = { nodeFlags: ["--cpu-prof", `--cpu-prof-dir=${directory}`] };
  const produceCase = produceCases.find((candidate) => candidate.key === "stream-256")!;
  let leaderPid = 0;
  const window = { fromMicros: 0, toMicros: 0 };
  const result = await withCluster(3, launch, async (cluster, leader) => {
    leaderPid = leader.pid;
    return runProduceCase(
      { nodes: cluster.nodes, leader },
      produceCase,
      1024,
      { ...run.produce, durationMs: run.profileMs },
      (phase) => {
        if (phase === "start") window.fromMicros = monotonicMicros();
        else window.toMicros = monotonicMicros();
      },
    );
  });
  const profileName = (await readdir(directory)).find((name) => name.includes(`.${leaderPid}.`));
  if (profileName === undefined)
    throw new Error(`no profile of the leader (pid ${leaderPid}) in ${directory}`);
  const summary = await summarizeCpuProfile(join(directory, profileName), window);
  const table = profileTable;
  process.stdout.write(
    [
      `leader CPU profile: 3 nodes, 1 KiB, ${produceCase.description}: ${formatNumber(result.recordsPerSecond)} records/s`,
      `profile ${join(directory, profileName)}: ${formatNumber(summary.totalMs)} ms sampled during the measured run, ${formatNumber(summary.idleMs)} ms of it idle`,
      table(summary.byArea),
      table(summary.topFunctions),
    ].join("\n\n") + "\n",
  );
  const path = await writeResults("cluster-profile", {
    result,
    profile: join(directory, profileName),
    summary,
  });
  process.stdout.write(`\nwrote ${path}\n`);
}

/** The 3-node/1-node ratios with both clusters up, alternating in slices. */
async function runScaling(run: ClusterBenchSettings): Promise<void> {
  const startedAt = new Date().toISOString();
  const host = startHostSpan();
  progress("starting 1 node and 3 nodes");
  const one = await BenchCluster.start(1, {});
  let three: BenchCluster | undefined;
  let leaders: BenchNode[] = [];
  try {
    three = await BenchCluster.start(3, {});
    leaders = [await one.leader(), await three.leader()];
    const ratios = await runPairedScaling(
      { cluster: one, leader: leaders[0]! },
      { cluster: three, leader: leaders[1]! },
      run.scaling,
      progress,
    );
    const conditions = host();
    process.stdout.write(
      `tidelog paired scaling (${options.quick ? "quick" : "full"}; ${cpus().length} CPUs; ${formatHostConditions(conditions)}; ${run.scaling.slices} slices of ${run.scaling.sliceMs} ms per side)\n\n${ratioTable(ratios)}\n`,
    );
    const path = await writeResults("cluster-scaling", {
      environment: {
        startedAt,
        node: process.version,
        cpus: cpus().length,
        loadBefore: conditions.loadBefore,
        loadAfter: conditions.loadAfter,
        stealPercent: conditions.stealPercent,
      },
      settings: run.scaling,
      ratios,
    });
    process.stdout.write(`\nwrote ${path}\n`);
  } finally {
    await three?.stop(leaders[1]);
    await one.stop(leaders[0]);
  }
}

await (options.profile && options.only === undefined
  ? runProfile(settings)
  : options.only === "scaling"
    ? runScaling(settings)
    : runAll(settings));

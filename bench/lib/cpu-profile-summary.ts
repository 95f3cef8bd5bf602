// Reads a V8 .cpuprofile (written by `node --cpu-prof`) and sums self time by function and by
// where the code lives (our src/, a dependency, Node's internals, GC, idle).
import { readFile } from "node:fs/promises";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  /** Microseconds of the monotonic clock (CLOCK_MONOTONIC, as process.hrtime on Linux). */
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  name: string;
  selfMs: number;
  /** Share of the non-idle samples, in percent. */
  percent: number;
}

export interface ProfileSummary {
  totalMs: number;
  idleMs: number;
  topFunctions: ProfileEntry[];
  byArea: ProfileEntry[];
}

/** A span of the monotonic clock in microseconds: `monotonicMicros()` at its start and end. */
export interface MonotonicWindow {
  fromMicros: number;
  toMicros: number;
}

/** The monotonic clock V8 stamps profile samples with, in microseconds. */
export function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** Sums a profile's self time, only over samples inside `window` when one is given. */
export async function summarizeCpuProfile(
  path: string,
  window?: MonotonicWindow,
  top = 25,
): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(path, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfMicros = new Map<number, number>();
  let sampledAt = profile.startTime;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    sampledAt += delta;
    if (window !== undefined && (sampledAt < window.fromMicros || sampledAt > window.toMicros))
      return;
    selfMicros.set(id, (selfMicros.get(id) ?? 0) + delta);
  });
  const functions = new Map<string, number>();
  const areas = new Map<string, number>();
  let totalMicros = 0;
  let idleMicros = 0;
  for (const [id, micros] of selfMicros) {
    const frame = byId.get(id)!.callFrame;
    totalMicros += micros;
    if (frame.functionName === "(idle)") {
      idleMicros += micros;
      continue;
    }
    const name = `${frame.functionName || "(anonymous)"} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`;
    functions.set(name, (functions.get(name) ?? 0) + micros);
    const area = areaOf(frame.functionName, frame.url);
    areas.set(area, (areas.get(area) ?? 0) + micros);
  }
  const busyMicros = totalMicros - idleMicros;
  const entries = (map: Map<string, number>) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .map(([name, micros]) => ({
        name,
        selfMs: micros / 1000,
        percent: (micros / busyMicros) * 100,
      }));
  return {
    totalMs: totalMicros / 1000,
    idleMs: idleMicros / 1000,
    topFunctions: entries(functions).slice(0, top),
    byArea: entries(areas),
  };
}

function shortUrl(url: string): string {
  const modules = url.lastIndexOf("node_modules/");
  if (modules >= 0) return url.slice(modules + "node_modules/".length);
  const dist = url.lastIndexOf("/dist/");
  if (dist >= 0) return url.slice(dist + "/dist/".length);
  return url.replace(/^file:\/\//, "");
}

function areaOf(functionName: string, url: string): string {
  if (url === "") return functionName.startsWith("(") ? functionName : "(native)";
  if (url.startsWith("node:")) return "node internals";
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (modules !== null) return modules[1]!;
  const source = /\/dist\/(src\/[^/]+)\//.exec(url);
  if (source !== null) return source[1]!;
  return shortUrl(url);
}

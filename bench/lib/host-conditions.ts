// What the host was doing during a run: the load averages before and after, and the share of CPU
// time the hypervisor gave to other guests (`steal` in /proc/stat) over the span. On a shared
// virtual machine the steal is the figure that says whether a run met a quiet or a crowded host:
// while other guests take the cores, every latency here grows and the CPU seconds charged to the
// nodes grow with it (the guest counts the time it was descheduled as its own).
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";

interface CpuTimes {
  steal: number;
  total: number;
}

function readCpuTimes(): CpuTimes | undefined {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!;
    // cpu user nice system idle iowait irq softirq steal guest guest_nice
    const fields = line.trim().split(/\s+/).slice(1).map(Number);
    if (fields.length < 8 || fields.some((value) => !Number.isFinite(value))) return undefined;
    // guest and guest_nice are already counted in user and nice.
    const total = fields.slice(0, 8).reduce((sum, value) => sum + value, 0);
    return { steal: fields[7]!, total };
  } catch {
    return undefined;
  }
}

/** Starts a span; the returned function gives the steal percentage since (undefined off Linux). */
export function startStealSpan(): () => number | undefined {
  const before = readCpuTimes();
  return () => {
    const after = readCpuTimes();
    if (before === undefined || after === undefined || after.total <= before.total)
      return undefined;
    return (100 * (after.steal - before.steal)) / (after.total - before.total);
  };
}

/** "CPU steal 4.2%" (or "CPU steal unknown") for a report's header line. */
export function formatSteal(percent: number | undefined): string {
  return `CPU steal ${percent === undefined ? "unknown" : `${percent.toFixed(1)}%`}`;
}

export interface HostConditions {
  loadBefore: number[];
  loadAfter: number[];
  stealPercent: number | undefined;
}

/** Starts a span; the returned function gives the host's conditions over it. */
export function startHostSpan(): () => HostConditions {
  const loadBefore = loadavg();
  const steal = startStealSpan();
  return () => ({ loadBefore, loadAfter: loadavg(), stealPercent: steal() });
}

/** "load 1.2 0.9 0.8 → 2.0 1.1 0.9; CPU steal 4.2%" for a report's header line. */
export function formatHostConditions({
  loadBefore,
  loadAfter,
  stealPercent,
}: HostConditions): string {
  const load = (values: number[]) => values.map((value) => value.toFixed(1)).join(" ");
  return `load ${load(loadBefore)} → ${load(loadAfter)}; ${formatSteal(stealPercent)}`;
}

// CPU time and peak resident memory of another process, read from /proc (Linux only).
import { readFile } from "node:fs/promises";

/** Kernel clock ticks per second for /proc/<pid>/stat times (USER_HZ: 100 on Linux). */
const clockTicksPerSecond = 100;

/** User + system CPU seconds the process has used so far (/proc/<pid>/stat utime + stime). */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) is in parentheses and may hold spaces: split after it.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 once pid and comm are dropped.
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / clockTicksPerSecond;
}

/** The process's peak resident set size in bytes (/proc/<pid>/status VmHWM). */
export async function peakRssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const match = /^VmHWM:\s+(\d+)\s+kB$/m.exec(status);
  return match === null ? Number.NaN : Number(match[1]) * 1024;
}

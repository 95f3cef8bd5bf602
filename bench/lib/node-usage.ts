// CPU used by a set of nodes (and by this benchmark process, the client) over a span of work.
import { cpuSeconds, peakRssBytes } from "./process-usage.js";

export interface CpuSpan {
  /** CPU seconds of each node, by node id. */
  nodes: Record<string, number>;
  /** CPU seconds of the benchmark process itself (the clients). */
  client: number;
}

export interface NodeProcessInfo {
  id: string;
  pid: number;
}

/** Starts measuring; the returned function ends the span and gives the CPU used during it. */
export async function startCpuSpan(
  nodes: readonly NodeProcessInfo[],
): Promise<() => Promise<CpuSpan>> {
  const before = await Promise.all(nodes.map((node) => cpuSeconds(node.pid)));
  const clientBefore = process.cpuUsage();
  return async () => {
    const client = process.cpuUsage(clientBefore);
    const after = await Promise.all(nodes.map((node) => cpuSeconds(node.pid)));
    return {
      nodes: Object.fromEntries(nodes.map((node, i) => [node.id, after[i]! - before[i]!])),
      client: (client.user + client.system) / 1e6,
    };
  };
}

/** Peak RSS in MiB of each node so far, by node id. */
export async function peakRssMiB(
  nodes: readonly NodeProcessInfo[],
): Promise<Record<string, number>> {
  const peaks = await Promise.all(nodes.map((node) => peakRssBytes(node.pid)));
  return Object.fromEntries(nodes.map((node, i) => [node.id, peaks[i]! / (1024 * 1024)]));
}

// Test harness: the end of every cluster test. Waits until the members converge (at least every
// acknowledged record is there), reads every member's topics, runs the history checker, and fails
// with the problems, the seed and every node's stderr; prints a one-line summary otherwise.
import assert from "node:assert/strict";
import type { Cluster } from "./cluster.js";
import type { CheckReport, History } from "./history.js";

export async function verifyHistory(
  cluster: Cluster,
  history: History,
  options: { topics: string[]; seed: number; ids?: string[]; label: string; faults: number },
): Promise<CheckReport> {
  const minimum = new Map<string, number>();
  for (const operation of history.produceOperations) {
    if (operation.outcome.kind !== "acknowledged") continue;
    const top = Math.max(...operation.outcome.offsets) + 1;
    minimum.set(operation.topic, Math.max(minimum.get(operation.topic) ?? 0, top));
  }
  const ids = options.ids ?? cluster.ids;
  await cluster.waitConverged(options.topics, { ids, minimum, timeoutMs: 30_000 });
  const logs = await cluster.readAll(options.topics, ids);
  const report = history.check(logs);
  const summary =
    `[${options.label}] seed ${options.seed}: ${report.acknowledgedRequests} requests / ` +
    `${report.acknowledgedRecords} records acknowledged, ${report.rejectedRequests} rejected, ` +
    `${report.unknownRequests} unknown (${report.unknownWritten} written), ${report.reads} reads ` +
    `(${report.readRecords} records), ${report.recordsChecked} records checked on ` +
    `${ids.length} nodes, ${options.faults} faults, problems ${report.problems.length}`;
  assert.deepEqual(
    report.problems,
    [],
    `${summary}\nerrors: ${history.errorSummary().slice(0, 10).join("\n")}\n${cluster.logs()}`,
  );
  console.log(summary);
  const errors = history.errorSummary().slice(0, 4);
  if (errors.length > 0) console.log(`[${options.label}] errors seen: ${errors.join(" | ")}`);
  return report;
}

// Command-line options shared by the benchmarks: `--quick` (a smoke run: short durations, small
// counts) and `--profile` (CPU-profile the nodes during one scenario instead of the full run).
import { parseArgs } from "node:util";

export interface BenchOptions {
  /** Short durations and small counts, so that a run proves the code works in about a minute. */
  quick: boolean;
  /** Run only the profiled scenario, with the nodes under `node --cpu-prof`. */
  profile: boolean;
}

export function parseBenchOptions(argv: readonly string[] = process.argv.slice(2)): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: false,
    options: {
      quick: { type: "boolean", default: false },
      profile: { type: "boolean", default: false },
    },
  });
  return { quick: values.quick === true, profile: values.profile === true };
}

// Command-line options shared by the benchmarks: `--quick` (a smoke run: short durations, small
// counts), `--profile` (CPU-profile the nodes during one scenario instead of the full run) and,
// for the cluster benchmark, `--only=catch-up|tails|consume` (only those sections, on 3 nodes),
// `--only=scaling` (the 3-node/1-node ratios, measured in pairs) and `--tails=1000` (only those
// tail counts).
import { parseArgs } from "node:util";

export type OnlySection = "catch-up" | "tails" | "consume" | "scaling";

export interface BenchOptions {
  /** Short durations and small counts, so that a run proves the code works in about a minute. */
  quick: boolean;
  /** Run only the profiled scenario, with the nodes under `node --cpu-prof`. */
  profile: boolean;
  /**
   * Run only the consume sections (catch-up, tails, or both) on 3 nodes, without produce cases;
   * or only the paired scaling ratios.
   */
  only: OnlySection | undefined;
  /** Tail counts to run instead of the settings' (`--tails=1000` or `--tails=1,100`). */
  tails: number[] | undefined;
}

const onlySections: readonly OnlySection[] = ["catch-up", "tails", "consume", "scaling"];

export function parseBenchOptions(argv: readonly string[] = process.argv.slice(2)): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: false,
    options: {
      quick: { type: "boolean", default: false },
      profile: { type: "boolean", default: false },
      only: { type: "string" },
      tails: { type: "string" },
    },
  });
  const only = values.only;
  if (only !== undefined && !onlySections.includes(only as OnlySection)) {
    throw new Error(`--only takes one of ${onlySections.join(", ")}; got ${String(only)}`);
  }
  const tails = typeof values.tails === "string" ? values.tails.split(",").map(Number) : undefined;
  if (tails?.some((count) => !Number.isInteger(count) || count < 1)) {
    throw new Error(`--tails takes counts separated by commas; got ${String(values.tails)}`);
  }
  return {
    tails,
    quick: values.quick === true,
    profile: values.profile === true,
    only: only as OnlySection | undefined,
  };
}

// Writes a benchmark's results as JSON under bench/results/ (ignored by git).
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

export const resultsDirectory = "bench/results";

/** Writes `results` to bench/results/<name>.json and returns the path. */
export async function writeResults(name: string, results: unknown): Promise<string> {
  await mkdir(resultsDirectory, { recursive: true });
  const path = join(resultsDirectory, `${name}.json`);
  await writeFile(path, `${JSON.stringify(results, null, 2)}\n`);
  return path;
}

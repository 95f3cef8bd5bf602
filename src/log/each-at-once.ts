// Runs an async step for every item with at most `limit` under way at once: for batches of small
// file operations (opening, syncing or removing many topics), where one at a time leaves the
// process waiting on the thread pool, and all at once would open too many files.

/** Runs `step` for each item, at most `limit` at once; rejects with the first failure. */
export async function eachAtOnce<T>(
  items: readonly T[],
  limit: number,
  step: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const index = next++;
      try {
        await step(items[index]!, index);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  const workers = Array.from({ length: Math.min(limit, items.length) }, worker);
  // Every worker settles before this returns, so no step runs on after a failure is reported.
  const results = await Promise.allSettled(workers);
  const failure = results.find((result) => result.status === "rejected");
  if (failure !== undefined) throw (failure as PromiseRejectedResult).reason;
}

// A closed loop of unary calls: `inflight` workers, each calling again as soon as its previous
// call answered, until the plan's time or count bound.
import { LatencySamples } from "./latency-samples.js";
import type { LoadOutcome, LoadPlan } from "./load-plan.js";

export async function runClosedLoop(
  plan: LoadPlan,
  call: () => Promise<void>,
): Promise<LoadOutcome> {
  const latency = new LatencySamples();
  const began = performance.now();
  const deadline = began + plan.durationMs;
  let started = 0;
  let finishedAt = began;
  const worker = async () => {
    while (started < plan.requestsMax && performance.now() < deadline) {
      started++;
      const start = performance.now();
      await call();
      finishedAt = performance.now();
      latency.add(finishedAt - start);
    }
  };
  await Promise.all(Array.from({ length: plan.inflight }, worker));
  return { requests: latency.count, seconds: (finishedAt - began) / 1000, latency };
}

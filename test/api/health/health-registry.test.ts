import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { HealthRegistry, ServingStatus } from "../../../src/api/health/index.js";

/**
 * Reads a watch without losing values: a read that times out ("pending") leaves its next() call
 * outstanding, and the following read takes its result.
 */
function reader(
  iterator: AsyncIterator<ServingStatus>,
): () => Promise<ServingStatus | "pending" | "done"> {
  let outstanding: Promise<IteratorResult<ServingStatus>> | undefined;
  return async () => {
    outstanding ??= iterator.next();
    const timeout = new Promise<"pending">((resolve) => setTimeout(() => resolve("pending"), 50));
    const result = await Promise.race([outstanding, timeout]);
    if (result === "pending") return "pending";
    outstanding = undefined;
    return result.done ? "done" : result.value;
  };
}

describe("HealthRegistry", () => {
  test("reports what was set, and nothing for unknown services", () => {
    const registry = new HealthRegistry();
    assert.equal(registry.getStatus(""), undefined);
    registry.setStatus("", ServingStatus.SERVING);
    registry.setStatus("tidelog.v1.LogService", ServingStatus.NOT_SERVING);
    assert.equal(registry.getStatus(""), ServingStatus.SERVING);
    assert.deepEqual(
      [...registry.statuses()],
      [
        ["", ServingStatus.SERVING],
        ["tidelog.v1.LogService", ServingStatus.NOT_SERVING],
      ],
    );
    registry.clearStatus("tidelog.v1.LogService");
    assert.equal(registry.getStatus("tidelog.v1.LogService"), undefined);
  });

  test("refuses SERVICE_UNKNOWN and over-long names", () => {
    const registry = new HealthRegistry();
    assert.throws(() => registry.setStatus("", ServingStatus.SERVICE_UNKNOWN), RangeError);
    assert.throws(
      () => registry.setStatus("x".repeat(513), ServingStatus.SERVING),
      (error: unknown) => error instanceof ConnectError && error.code === Code.InvalidArgument,
    );
  });

  test("a watch sees the current status, then changes, and ends on abort", async () => {
    const registry = new HealthRegistry();
    const abort = new AbortController();
    const watch = registry.watch("svc", abort.signal);
    const read = reader(watch);
    assert.equal(await read(), ServingStatus.SERVICE_UNKNOWN);
    assert.equal(registry.watcherCount, 1);
    assert.equal(await read(), "pending");
    registry.setStatus("svc", ServingStatus.SERVING);
    assert.equal(await read(), ServingStatus.SERVING);
    registry.setStatus("svc", ServingStatus.SERVING); // not a change: nothing sent
    registry.setStatus("other", ServingStatus.NOT_SERVING); // another service: nothing sent
    assert.equal(await read(), "pending");
    registry.clearStatus("svc");
    assert.equal(await read(), ServingStatus.SERVICE_UNKNOWN);
    abort.abort();
    assert.equal(await read(), "done");
    assert.equal(registry.watcherCount, 0);
  });

  test("a slow watcher sees only the newest status, never a backlog", async () => {
    const registry = new HealthRegistry();
    registry.setStatus("svc", ServingStatus.SERVING);
    const watch = registry.watch("svc", new AbortController().signal);
    const read = reader(watch);
    assert.equal(await read(), ServingStatus.SERVING);
    for (let flip = 0; flip < 1001; flip += 1) {
      registry.setStatus("svc", flip % 2 === 0 ? ServingStatus.NOT_SERVING : ServingStatus.SERVING);
    }
    assert.equal(await read(), ServingStatus.NOT_SERVING);
    assert.equal(await read(), "pending");
    registry.close();
    assert.equal(await read(), "done");
    assert.equal(registry.watcherCount, 0);
  });

  test("watchers are bounded: past watchersMax, RESOURCE_EXHAUSTED", async () => {
    const registry = new HealthRegistry({ watchersMax: 1 });
    const first = registry.watch("", new AbortController().signal);
    await first.next();
    const second = registry.watch("", new AbortController().signal);
    await assert.rejects(
      second.next(),
      (error: unknown) => error instanceof ConnectError && error.code === Code.ResourceExhausted,
    );
    await first.return();
    const third = registry.watch("", new AbortController().signal);
    assert.equal(await reader(third)(), ServingStatus.SERVICE_UNKNOWN);
    await third.return();
  });

  test("shutdown marks everything NOT_SERVING for good; close ends every watch", async () => {
    const registry = new HealthRegistry();
    registry.setStatus("", ServingStatus.SERVING);
    registry.setStatus("svc", ServingStatus.SERVING);
    const watch = registry.watch("", new AbortController().signal);
    const read = reader(watch);
    assert.equal(await read(), ServingStatus.SERVING);
    registry.shutdown();
    assert.equal(await read(), ServingStatus.NOT_SERVING);
    registry.setStatus("svc", ServingStatus.SERVING);
    assert.equal(registry.getStatus("svc"), ServingStatus.NOT_SERVING);
    assert.equal(await read(), "pending");
    registry.close();
    assert.equal(await read(), "done");
    assert.equal(registry.watcherCount, 0);
    await assert.rejects(
      registry.watch("", new AbortController().signal).next(),
      (error: unknown) => error instanceof ConnectError && error.code === Code.Unavailable,
    );
  });
});

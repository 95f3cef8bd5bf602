// Produces values through one member and checks that they were acknowledged at the offsets right
// after those acknowledged before (one producer at a time per topic), keeping them in `acked`:
// afterwards `acked[offset]` is what every replica must hold there.
import assert from "node:assert/strict";
import type { Cluster } from "./cluster.js";

export async function produceInOrder(
  cluster: Cluster,
  via: string,
  topic: string,
  values: readonly string[],
  acked: string[],
): Promise<void> {
  const response = await cluster
    .client(via)
    .log.produce(
      { topic, records: values.map((value) => ({ value: Buffer.from(value) })) },
      { timeoutMs: 20_000 },
    );
  assert.deepEqual(
    response.offsets.map(Number),
    values.map((_, i) => acked.length + i),
  );
  acked.push(...values);
}

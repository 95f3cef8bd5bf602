// What one ProduceStream applies is a prefix of its requests. Requests pipelined to a leader that
// is stopped dead past the election timeout: on SIGCONT it steps down, its pending entries fail,
// and the stream ends with the first failure. Requests it read after stepping down must not be
// forwarded one by one to the new leader (they committed while the earlier ones failed: a gap,
// found by an outside probe). The log then holds the stream's requests 0..p-1 and no other.
import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { ConnectError } from "@connectrpc/connect";
import { Cluster } from "../harness/cluster.js";

const topic = "prefix";
const inflight = 32;
const requestsMax = 5_000;
const pauseMs = 2_500;
const rounds = 2;

test("a ProduceStream cut by a leader's stall applies a prefix of its requests", async () => {
  await Cluster.run({ size: 3 }, async (cluster) => {
    for (let round = 0; round < rounds; round++) {
      const leader = await cluster.waitForLeader();
      const tag = `r${round}-`;
      let sent = 0;
      let answered = 0;
      let wake: (() => void) | undefined;
      let stopped = false;
      async function* requests() {
        while (!stopped && sent < requestsMax) {
          while (sent - answered >= inflight && !stopped)
            await new Promise<void>((resolve) => (wake = resolve));
          if (stopped) return;
          yield { topic, records: [{ value: new TextEncoder().encode(`${tag}${sent++}`) }] };
        }
      }
      let failure: ConnectError | undefined;
      const streaming = (async () => {
        try {
          for await (const _ of cluster.client(leader).log.produceStream(requests())) {
            answered++;
            wake?.();
          }
        } catch (error) {
          failure = ConnectError.from(error);
        } finally {
          stopped = true;
          wake?.();
        }
      })();
      while (answered < 200) await sleep(10);
      cluster.pause(leader);
      await sleep(pauseMs);
      cluster.resume(leader);
      await streaming;
      assert.ok(failure !== undefined, "the stream ended without an error across the stall");
      // Every replica holds the same log; read the stream's requests from it.
      await cluster.waitConverged([topic]);
      const values = await cluster.readLog(leader, topic);
      const present = values
        .filter((value) => value.startsWith(tag))
        .map((value) => Number(value.slice(tag.length)));
      const prefix = present.length;
      assert.deepEqual(
        present,
        Array.from({ length: prefix }, (_, i) => i),
        `the log holds requests ${present.slice(0, 5)}…, not a prefix of the stream`,
      );
      assert.ok(prefix >= answered, `${answered} answered but only ${prefix} in the log`);
      console.log(
        `[stream prefix] round ${round}: ${sent} sent, ${answered} answered, ${prefix} applied (a prefix); ended with ${failure.code} ${failure.rawMessage}`,
      );
    }
  });
});

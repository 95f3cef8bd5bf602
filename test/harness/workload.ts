// Test harness: concurrent producers and consumers against a Cluster, recording everything into a
// History. Producers send through any member (followers forward to the leader); every value is
// unique and never resent, so the checker can tell a duplicate from a retry. Every loop is bounded
// by a count and a deadline; `stop()` ends them early.
import { setTimeout as sleep } from "node:timers/promises";
import type { Cluster } from "./cluster.js";
import type { History } from "./history.js";

export interface WorkloadOptions {
  topics: string[];
  producers: number;
  consumers: number;
  /** Requests per producer at most. */
  requestsMax: number;
  /** The workload ends by itself after this long. */
  durationMs: number;
  /** Records per produce request: 1 to this many. */
  recordsPerRequestMax: number;
  /** Deadline of one produce or consume call. */
  callTimeoutMs: number;
  /** Pause between one producer's requests (keeps two clusters on two cores responsive). */
  producerPauseMs: number;
  seed: number;
  /**
   * The members to send through (called per request); default: every member neither removed nor
   * paused (a client that timed out on a node moves on, as these producers would all end up
   * waiting on the paused node otherwise; calls in flight when it stopped still wait).
   */
  targets?: () => string[];
}

export const defaultWorkload: Omit<WorkloadOptions, "seed"> = {
  topics: ["orders", "events"],
  producers: 4,
  consumers: 2,
  requestsMax: 5_000,
  durationMs: 60_000,
  recordsPerRequestMax: 3,
  callTimeoutMs: 5_000,
  producerPauseMs: 5,
};

export class Workload {
  private stopped = false;
  private readonly running: Promise<void>;
  private readonly random: () => number;
  private readonly options: WorkloadOptions;

  private constructor(
    private readonly cluster: Cluster,
    private readonly history: History,
    options: Partial<WorkloadOptions> & { seed: number },
  ) {
    this.options = { ...defaultWorkload, ...options };
    this.random = seededRandom(this.options.seed);
    const loops: Promise<void>[] = [];
    for (let i = 0; i < this.options.producers; i++) loops.push(this.produceLoop(`p${i}`));
    for (let i = 0; i < this.options.consumers; i++) loops.push(this.consumeLoop());
    this.running = Promise.all(loops).then(() => undefined);
    // Producers must not outlive the cluster they write to, even when a test fails midway.
    cluster.onClose(() => this.stop());
  }

  static start(
    cluster: Cluster,
    history: History,
    options: Partial<WorkloadOptions> & { seed: number },
  ): Workload {
    return new Workload(cluster, history, options);
  }

  /** Ends the loops and waits for the calls in flight to settle. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  /** Waits until `count` more requests were acknowledged (bounded by `timeoutMs`). */
  async waitForAcknowledged(count: number, timeoutMs: number): Promise<void> {
    const target = this.acknowledgedRequests() + count;
    const deadline = Date.now() + timeoutMs;
    while (this.acknowledgedRequests() < target) {
      if (Date.now() > deadline || this.stopped)
        throw new Error(
          `only ${this.acknowledgedRequests()} of ${target} requests acknowledged after ${timeoutMs} ms; errors: ${this.history.errorSummary().slice(0, 5).join("; ")}\nrecent requests:\n${this.recentRequests(timeoutMs + 5_000)}\n${this.cluster.logs()}`,
        );
      await sleep(50);
    }
  }

  /** The requests sent in the last `windowMs`, one line each (for failure messages). */
  recentRequests(windowMs: number): string {
    const since = performance.now() - windowMs;
    return this.history.produceOperations
      .filter((operation) => operation.sentAtMs >= since)
      .map((operation) => {
        const { outcome } = operation;
        const end =
          outcome.kind === "acknowledged"
            ? outcome.ackAtMs
            : outcome.kind === "pending"
              ? Number.NaN
              : outcome.endAtMs;
        const what =
          outcome.kind === "acknowledged"
            ? `at ${outcome.offsets.join(",")}`
            : outcome.kind === "pending"
              ? ""
              : outcome.error;
        return `  ${operation.producer} via ${operation.via} ${operation.topic} +${Math.round(operation.sentAtMs - since)} ms took ${Math.round(end - operation.sentAtMs)} ms: ${outcome.kind} ${what}`;
      })
      .join("\n");
  }

  acknowledgedRequests(): number {
    let count = 0;
    for (const operation of this.history.produceOperations)
      if (operation.outcome.kind === "acknowledged") count++;
    return count;
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)]!;
  }

  private targets(): string[] {
    return (
      this.options.targets?.() ?? this.cluster.ids.filter((id) => !this.cluster.member(id).paused)
    );
  }

  private async produceLoop(producer: string): Promise<void> {
    const deadline = Date.now() + this.options.durationMs;
    for (let request = 0; request < this.options.requestsMax; request++) {
      if (this.stopped || this.cluster.isClosed || Date.now() > deadline) return;
      const targets = this.targets();
      if (targets.length === 0) {
        await sleep(50);
        continue;
      }
      const via = this.pick(targets);
      const topic = this.pick(this.options.topics);
      const count = 1 + Math.floor(this.random() * this.options.recordsPerRequestMax);
      const values = Array.from({ length: count }, (_, i) => `${producer}-${request}-${i}`);
      const operation = this.history.send(producer, via, topic, values);
      try {
        const response = await this.cluster
          .client(via)
          .log.produce(
            { topic, records: values.map((value) => ({ value: Buffer.from(value, "utf8") })) },
            { timeoutMs: this.options.callTimeoutMs },
          );
        this.history.acknowledge(operation, response.offsets.map(Number));
      } catch (error) {
        this.history.fail(operation, error);
        await sleep(50);
      }
      if (this.options.producerPauseMs > 0) await sleep(this.options.producerPauseMs);
    }
  }

  private async consumeLoop(): Promise<void> {
    const deadline = Date.now() + this.options.durationMs;
    for (let round = 0; round < this.options.requestsMax; round++) {
      if (this.stopped || this.cluster.isClosed || Date.now() > deadline) return;
      const via = this.pick(this.targets());
      const topic = this.pick(this.options.topics);
      try {
        const client = this.cluster.client(via).log;
        const tail = await client.consume(
          { topic, offset: 0n, maxRecords: 1 },
          { timeoutMs: this.options.callTimeoutMs },
        );
        const end = Number(tail.highWatermark);
        const offset = Math.floor(this.random() * end);
        const response = await client.consume(
          { topic, offset: BigInt(offset), maxRecords: 50 },
          { timeoutMs: this.options.callTimeoutMs },
        );
        this.history.read(
          via,
          topic,
          response.records.map((record) => ({
            offset: Number(record.offset),
            value: Buffer.from(record.value).toString("utf8"),
          })),
        );
      } catch {
        // Unknown topic yet, a node down or paused: reads are best effort.
      }
      await sleep(20);
    }
  }
}

/** mulberry32: a small seeded generator, so a failing run can be replayed by its seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seed of this run: TIDELOG_TEST_SEED, or a fresh one (print it in failure messages). */
export function testSeed(): number {
  const fromEnvironment = Number(process.env.TIDELOG_TEST_SEED);
  return Number.isSafeInteger(fromEnvironment) && fromEnvironment > 0
    ? fromEnvironment
    : Math.floor(Math.random() * 2 ** 31) + 1;
}

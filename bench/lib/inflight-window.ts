import type { Writable } from "node:stream";
import { LatencySamples } from "./latency-samples.js";
import type { LoadOutcome, LoadPlan } from "./load-plan.js";

// The window of a pipelined stream: at most `capacity` requests unanswered, and the send time of
// each, so that answers (which come back in request order) give each request's ack latency.

export class InflightWindow {
  private readonly sendTimes: Float64Array;
  private head = 0;
  private size = 0;
  private wake: (() => void) | undefined;
  private closed = false;

  constructor(readonly capacity: number) {
    this.sendTimes = new Float64Array(capacity);
  }

  get inflight(): number {
    return this.size;
  }

  /** Waits for room in the window; false once the window is closed (stop sending). */
  async acquire(): Promise<boolean> {
    while (this.size >= this.capacity && !this.closed)
      await new Promise<void>((resolve) => (this.wake = resolve));
    return !this.closed;
  }

  /** Records a request sent at `time` (ms); the caller acquired room first. */
  sent(time: number): void {
    if (this.size >= this.capacity) throw new Error("InflightWindow: sent() without room");
    this.sendTimes[(this.head + this.size) % this.capacity] = time;
    this.size++;
  }

  /** Records the oldest request's answer at `time`; returns its latency in ms. */
  acked(time: number): number {
    if (this.size === 0) throw new Error("InflightWindow: an answer with nothing in flight");
    const sentAt = this.sendTimes[this.head]!;
    this.head = (this.head + 1) % this.capacity;
    this.size--;
    this.wakeSender();
    return time - sentAt;
  }

  /** Stops the sender: a pending or later acquire() answers false. */
  close(): void {
    this.closed = true;
    this.wakeSender();
  }

  private wakeSender(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/**
 * One pipelined run of a plan: its window, the latency of every answer, and when it began and
 * last got an answer; every client's stream() is built on it.
 */
export class PipelinedRun {
  readonly window: InflightWindow;
  readonly latency = new LatencySamples();
  readonly began = performance.now();
  /** Stop sending after this (a performance.now() time). */
  readonly deadline: number;
  private finishedAt = this.began;

  constructor(readonly plan: LoadPlan) {
    this.window = new InflightWindow(plan.inflight);
    this.deadline = this.began + plan.durationMs;
  }

  /** True while the plan allows the request numbered `sent` (from 0) to be sent. */
  mayStillSend(sent: number): boolean {
    return sent < this.plan.requestsMax && performance.now() < this.deadline;
  }

  /** The oldest request in flight was answered now. */
  acked(): void {
    this.finishedAt = performance.now();
    this.latency.add(this.window.acked(this.finishedAt));
  }

  outcome(): LoadOutcome {
    return {
      requests: this.latency.count,
      seconds: (this.finishedAt - this.began) / 1000,
      latency: this.latency,
    };
  }
}

/**
 * Writes `message` to a pipelined call's `input` whenever the run's window has room (waiting for
 * 'drain' when the stream says so), while the plan allows and the window is open; then ends the
 * input and waits for the answers (`finished`, which must close the window if it fails). Closes
 * the window and calls `cancel` whatever happens.
 */
export async function writeWindowed(
  run: PipelinedRun,
  input: Writable,
  message: unknown,
  finished: Promise<void>,
  cancel: () => void,
): Promise<void> {
  const drained = () =>
    Promise.race([new Promise((resolve) => input.once("drain", resolve)), finished]);
  try {
    for (let sent = 0; run.mayStillSend(sent); sent++) {
      if (!(await run.window.acquire())) break;
      run.window.sent(performance.now());
      if (!input.write(message)) await drained();
    }
    input.end();
    await finished;
  } finally {
    run.window.close();
    cancel();
  }
}

import type { Writable } from "node:stream";

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
 * Writes `message` to a pipelined call's `input` whenever `window` has room (waiting for 'drain'
 * when the stream says so), until `deadline` (a performance.now() time), `requestsMax` requests
 * or a closed window; then ends the input and waits for the answers (`finished`, which must
 * close the window if it fails). Closes the window and calls `cancel` whatever happens.
 */
export async function writeWindowed(
  window: InflightWindow,
  input: Writable,
  message: unknown,
  bounds: { deadline: number; requestsMax: number },
  finished: Promise<void>,
  cancel: () => void,
): Promise<void> {
  const drained = () =>
    Promise.race([new Promise((resolve) => input.once("drain", resolve)), finished]);
  try {
    for (let sent = 0; sent < bounds.requestsMax && performance.now() < bounds.deadline; sent++) {
      if (!(await window.acquire())) break;
      window.sent(performance.now());
      if (!input.write(message)) await drained();
    }
    input.end();
    await finished;
  } finally {
    window.close();
    cancel();
  }
}

// Produce requests for the same topic that arrive before the Raft log can take another batch of
// proposals become one append command, so one Raft entry: one frame in the Raft log, one entry to
// replicate, decode and apply, one append to the topic log, instead of one of each per request.
// When the node is idle that is the requests of one turn of the event loop; while it persists a
// Ready, all that arrive meanwhile (up to the limits). A request's records stay together and in
// arrival order, so each request still gets contiguous offsets, and a request acknowledged before
// another was sent has the lower offsets. The merged entry commits or fails as a whole; every
// request in it gets the entry's outcome.
import { type RecordInput, storedRecordBytes } from "./record-codec.js";

export interface CoalescerLimits {
  /** Records in one merged entry; a request with more goes alone. */
  recordsMax: number;
  /** Stored bytes of the records (record-codec.ts) in one merged entry; likewise. */
  bytesMax: number;
}

/**
 * Proposes one append of `records` to `topic` (`sizes`: their storedRecordBytes, measured once
 * here); resolves with the offset of the first.
 */
export type ProposeAppend = (
  topic: string,
  records: readonly RecordInput[],
  sizes: readonly number[],
) => Promise<number>;

interface Pending {
  topic: string;
  records: RecordInput[];
  sizes: number[];
  bytes: number;
  waiters: { first: number; resolve: (base: number) => void; reject: (error: unknown) => void }[];
}

/**
 * Calls `flush` once, when the batches gathered so far should be proposed (RaftNode's
 * beforeNextProposals; setImmediate where there is no Raft loop to wait for).
 */
export type ScheduleFlush = (flush: () => void) => void;

export class ProduceCoalescer {
  /** Batches not yet proposed, per topic; each is proposed at the next scheduled flush. */
  private readonly open = new Map<string, Pending>();
  private flushScheduled = false;

  constructor(
    private readonly propose: ProposeAppend,
    private readonly limits: CoalescerLimits,
    private readonly scheduleFlush: ScheduleFlush = setImmediate,
  ) {}

  /** Resolves with the offset of the first of `records` once their entry is applied. */
  add(topic: string, records: readonly RecordInput[]): Promise<number> {
    const sizes = records.map(storedRecordBytes);
    let bytes = 0;
    for (const size of sizes) bytes += size;
    let batch = this.open.get(topic);
    if (
      batch !== undefined &&
      (batch.records.length + records.length > this.limits.recordsMax ||
        batch.bytes + bytes > this.limits.bytesMax)
    ) {
      this.proposeBatch(batch);
      batch = undefined;
    }
    if (batch === undefined) {
      batch = { topic, records: [], sizes: [], bytes: 0, waiters: [] };
      this.open.set(topic, batch);
    }
    const first = batch.records.length;
    for (const record of records) batch.records.push(record);
    for (const size of sizes) batch.sizes.push(size);
    batch.bytes += bytes;
    const pending = batch;
    const result = new Promise<number>((resolve, reject) => {
      pending.waiters.push({ first, resolve, reject });
    });
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      this.scheduleFlush(() => this.flush());
    }
    return result;
  }

  private flush(): void {
    this.flushScheduled = false;
    for (const batch of [...this.open.values()]) this.proposeBatch(batch);
  }

  private proposeBatch(batch: Pending): void {
    this.open.delete(batch.topic);
    let proposed: Promise<number>;
    try {
      proposed = this.propose(batch.topic, batch.records, batch.sizes);
    } catch (error) {
      proposed = Promise.reject(error);
    }
    proposed.then(
      (base) => {
        for (const waiter of batch.waiters) waiter.resolve(base + waiter.first);
      },
      (error: unknown) => {
        for (const waiter of batch.waiters) waiter.reject(error);
      },
    );
  }
}

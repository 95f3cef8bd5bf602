// A log: ordered segments in one directory, the newest active. Records are addressed by absolute
// offset; a read finds its segment by binary search.
//
// Writes are serialised through one chain (`exclusive`): appends are queued and coalesced into
// one positioned write per group, then indexed; truncations, rolls and close take turns with
// them. Reads run concurrently and only see records whose write has returned. `sync()` is the
// durability point: it resolves once everything appended before the call is on disk.
import { mkdir, readdir, rm } from "node:fs/promises";
import { assert } from "../assert.js";
import { TidelogError } from "../errors.js";
import { batchBufferPool } from "./buffer-pool.js";
import {
  batchBytes,
  batchLayoutFault,
  batchRecordsMax,
  copyPayloads,
  framePayloadBytesMax,
  type PayloadWriter,
  writeBatch,
} from "./frame.js";
import { fsyncDirectory } from "./fsync-directory.js";
import { type LogOptions, resolveLogOptions } from "./log-options.js";
import { Segment, type StoredRecord } from "./segment.js";
import { SerialExecutor } from "./serial-executor.js";
import { readStartOffset, writeStartOffset } from "./start-offset.js";

export type { StoredRecord } from "./segment.js";

export interface ReadOptions {
  /** At most this many records (≥ 1). */
  maxRecords: number;
  /** About this many payload bytes; at least one record is returned regardless. */
  maxBytes: number;
  /** Read only below this offset (e.g. the committed or synced offset). Defaults to nextOffset. */
  endOffset?: number;
}

export interface RetentionPolicy {
  /** Keep the log at most this large, dropping whole old segments; 0 = unlimited. */
  retentionBytes: number;
  /** Drop sealed segments whose last write is older than this; 0 = unlimited. */
  retentionMs: number;
}

export interface RecoveryReport {
  droppedBytes: number;
  rebuiltEntries: number;
}

interface PendingAppend {
  encoded: Buffer;
  records: number;
  /** `encoded` is the log's own, from batchBufferPool: returned there once written. */
  pooled: boolean;
  resolve: (baseOffset: number) => void;
  reject: (error: unknown) => void;
}

const segmentNamePattern = /^(\d{20})\.store$/;

function checkBatchSize(records: number): void {
  if (records === 0) throw new TidelogError("invalid_argument", "append: no records");
  if (records > batchRecordsMax) {
    throw new TidelogError(
      "resource_exhausted",
      `append: ${records} records exceed the batch limit of ${batchRecordsMax}`,
    );
  }
}

export class Log {
  private readonly segments: Segment[];
  private readonly serial = new SerialExecutor();
  private readonly queue: PendingAppend[] = [];
  private queuedBytes = 0;
  private drainScheduled = false;
  private enqueuedCount = 0;
  private processedCount = 0;
  private processedWaiters: { count: number; resolve: () => void }[] = [];
  private syncedNext: number;
  private syncing: Promise<void> | undefined;
  /** Bytes written since the last fdatasync of the active segment began. */
  private bytesSinceSync = 0;
  /**
   * Suffix truncations so far. An fdatasync that began before one must not count the records
   * written after it as synced (they reuse the offsets it covered).
   */
  private truncations = 0;
  private failure: TidelogError | undefined;
  private closed = false;
  /** The zero fill ahead of the active segment's records, while one is written (never rejects). */
  private zeroFilling: Promise<void> | undefined;
  /** A zero fill failed (a full disk): none until the next segment. */
  private zeroFillStopped = false;
  /** close() was called: no sync of zeros may start (close syncs and closes the segments). */
  private closeCalled = false;
  private readonly listeners = new Set<() => void>();
  /** Deletion of the segments truncatePrefix dropped (never rejects: see removalFailure). */
  private removal: Promise<void> = Promise.resolve();
  /** Deletions queued or running on `removal`. */
  private removing = 0;
  private removalFailure: TidelogError | undefined;

  private constructor(
    readonly directory: string,
    private optionsValue: LogOptions,
    segments: Segment[],
    readonly recovery: RecoveryReport,
  ) {
    this.segments = segments;
    this.syncedNext = this.nextOffset;
  }

  get options(): LogOptions {
    return this.optionsValue;
  }

  /**
   * Sets the segment size from now on: the active segment rolls once it reaches it (at once if
   * it is past it), as Kafka applies a changed segment.bytes. Sealed segments stay as they are.
   */
  setSegmentBytesMax(segmentBytesMax: number): void {
    this.optionsValue = { ...this.optionsValue, segmentBytesMax };
    this.active.setStoreBytesMax(segmentBytesMax);
  }

  /** Opens the log in `directory`, creating it, and recovering every segment (see segment.ts). */
  static async open(directory: string, options: Partial<LogOptions> = {}): Promise<Log> {
    const resolved = resolveLogOptions(options);
    await mkdir(directory, { recursive: true });
    const baseOffsets = (await readdir(directory))
      .map((name) => segmentNamePattern.exec(name)?.[1])
      .filter((match): match is string => match !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    const limits = {
      storeBytesMax: resolved.segmentBytesMax,
      indexBytesMax: resolved.indexBytesMax,
    };
    const segments: Segment[] = [];
    const report: RecoveryReport = { droppedBytes: 0, rebuiltEntries: 0 };
    try {
      for (const [i, baseOffset] of baseOffsets.entries()) {
        const sealed = i < baseOffsets.length - 1;
        const { segment, recovery } = await Segment.open(directory, baseOffset, limits, sealed);
        report.droppedBytes += recovery.droppedBytes;
        report.rebuiltEntries += recovery.rebuiltEntries;
        const previous = segments.at(-1);
        if (previous !== undefined && previous.nextOffset !== baseOffset) {
          await segment.close(); // not in `segments` yet: the catch below would leak it
          throw new TidelogError(
            "data_loss",
            `log ${directory}: segment ${previous.baseOffset} ends at ${previous.nextOffset} but the next starts at ${baseOffset}; a sealed segment is damaged`,
            { directory, segment: previous.baseOffset },
          );
        }
        segments.push(segment);
      }
      const recordedStart = resolved.keepsStartOffset
        ? await readStartOffset(directory)
        : undefined;
      if (recordedStart !== undefined) {
        const first = segments[0]?.baseOffset;
        if (first === undefined || first > recordedStart) {
          throw new TidelogError(
            "data_loss",
            `log ${directory}: its start is recorded at ${recordedStart}, but ${first === undefined ? "it has no segment" : `its records start at ${first}`}: segments are missing`,
            { directory },
          );
        }
        // Segments below the start: their deletion was cut short by a crash.
        while (segments.length > 1 && segments[0]!.nextOffset <= recordedStart) {
          await segments.shift()!.remove();
        }
      }
      if (segments.length === 0) {
        const { segment } = await Segment.open(directory, resolved.initialOffset, limits);
        segments.push(segment);
        await fsyncDirectory(directory);
      }
      if (resolved.keepsStartOffset && recordedStart !== segments[0]!.baseOffset) {
        await writeStartOffset(directory, segments[0]!.baseOffset);
      }
      // syncedOffset starts at nextOffset, so make that true: after a crash the recovered tail
      // may exist only in the page cache (written, never fsynced), as may recovery's own cut.
      await segments.at(-1)!.sync();
    } catch (error) {
      await Promise.allSettled(segments.map((segment) => segment.close()));
      throw error;
    }
    return new Log(directory, resolved, segments, report);
  }

  /** The offset of the oldest retained record (equals nextOffset when empty). */
  get lowestOffset(): number {
    return this.segments[0]!.baseOffset;
  }

  /** The offset the next appended record will get. */
  get nextOffset(): number {
    return this.active.nextOffset;
  }

  /** Records below this offset are durable (fsynced). */
  get syncedOffset(): number {
    return this.syncedNext;
  }

  get sizeBytes(): number {
    let total = 0;
    for (const segment of this.segments) total += segment.sizeBytes;
    return total;
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  /** Calls `listener` after every write and sync (offsets may have advanced). */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Appends `payloads` as one atomic, contiguous batch; resolves with the offset of the first once
   * written (not yet durable: see sync). Fails with resource_exhausted when a payload or the batch
   * is too large or the queue is full, and with the mapped fs error (disk full: resource_exhausted)
   * when the write fails, in which case nothing of the batch remains. The payloads are copied
   * before append returns: the caller may reuse their memory at once.
   */
  append(payloads: readonly Uint8Array[]): Promise<number> {
    return this.appendWritten(
      payloads.map((payload) => payload.length),
      copyPayloads(payloads),
    );
  }

  /**
   * As append, for payloads of `lengths` bytes that `writePayload` writes straight into their
   * frames (no buffer of their own first), before appendWritten returns.
   */
  appendWritten(lengths: readonly number[], writePayload: PayloadWriter): Promise<number> {
    try {
      this.checkUsable();
      checkBatchSize(lengths.length);
      for (const length of lengths) {
        if (length > framePayloadBytesMax) {
          throw new TidelogError(
            "resource_exhausted",
            `append: a record of ${length} bytes exceeds ${framePayloadBytesMax}`,
          );
        }
      }
      const bytes = batchBytes(lengths);
      this.checkQueueRoom(bytes);
      const encoded = batchBufferPool.acquire(bytes);
      try {
        writeBatch(encoded, 0, lengths, writePayload);
      } catch (error) {
        batchBufferPool.release(encoded);
        throw error;
      }
      return this.enqueue(encoded, lengths.length, true);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * As append, for a batch already laid out as frames (log/frame.ts, writeBatch), e.g. by the
   * leader that proposed it: the bytes are written as they are, so they must not change until the
   * promise settles. Fails with invalid_argument when they are not one batch of `count` frames;
   * their CRCs are the writer's (readers check them).
   */
  appendFrames(frames: Buffer, count: number): Promise<number> {
    try {
      this.checkUsable();
      checkBatchSize(count);
      const fault = batchLayoutFault(frames, count);
      if (fault !== undefined) throw new TidelogError("invalid_argument", `append: ${fault}`);
      this.checkQueueRoom(frames.length);
      return this.enqueue(frames, count, false);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private checkQueueRoom(bytes: number): void {
    if (this.queuedBytes + bytes > this.options.appendQueueBytesMax) {
      throw new TidelogError("resource_exhausted", "append: the write queue is full");
    }
  }

  private enqueue(encoded: Buffer, records: number, pooled: boolean): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.queue.push({ encoded, records, pooled, resolve, reject });
      this.queuedBytes += encoded.length;
      this.enqueuedCount++;
      if (!this.drainScheduled) {
        this.drainScheduled = true;
        void this.exclusive(() => this.drain());
      }
    });
  }

  /** Resolves when every append issued before the call is durable. */
  async sync(): Promise<void> {
    this.checkUsable();
    if (this.processedCount < this.enqueuedCount) await this.waitProcessed(this.enqueuedCount);
    const target = this.nextOffset;
    while (this.syncedNext < target && this.nextOffset >= target) {
      this.checkUsable();
      await this.startSync();
    }
  }

  /**
   * Starts an fdatasync of the active segment covering every write that has returned, unless one
   * is running already; resolves when the running one ends. A failure poisons the log.
   */
  private startSync(): Promise<void> {
    this.syncing ??= this.runSync();
    return this.syncing;
  }

  private async runSync(): Promise<void> {
    const covered = this.nextOffset;
    const segment = this.active;
    const truncations = this.truncations;
    this.bytesSinceSync = 0;
    try {
      await segment.sync();
      if (this.truncations === truncations) {
        this.syncedNext = Math.max(this.syncedNext, Math.min(covered, this.nextOffset));
      }
      this.notify();
    } catch (error) {
      // A failed fsync leaves the page cache in an unknown state: the log refuses further use.
      this.failure = new TidelogError(
        "data_loss",
        `fsync failed in ${this.directory}; the log is closed`,
        {},
        { cause: error },
      );
      throw this.failure;
    } finally {
      this.syncing = undefined;
    }
  }

  /** Reads the record at `offset`. */
  async read(offset: number): Promise<StoredRecord> {
    const [record] = await this.readRange(offset, { maxRecords: 1, maxBytes: 1 });
    assert(record !== undefined, "readRange returns at least one record");
    return record;
  }

  /**
   * Reads records from `offset` in order, across segments. Throws out_of_range (with details
   * requested/lowest/next) when `offset` is below the lowest retained offset or at/after the end.
   */
  async readRange(offset: number, options: ReadOptions): Promise<StoredRecord[]> {
    this.checkUsable();
    const end = Math.min(options.endOffset ?? this.nextOffset, this.nextOffset);
    if (!Number.isSafeInteger(offset) || offset < this.lowestOffset || offset >= end) {
      throw new TidelogError(
        "out_of_range",
        `offset ${offset} is outside [${this.lowestOffset}, ${end})`,
        {
          requested: offset,
          lowest: this.lowestOffset,
          next: end,
        },
      );
    }
    const records: StoredRecord[] = [];
    let bytes = 0;
    let at = offset;
    while (
      at < end &&
      records.length < options.maxRecords &&
      (records.length === 0 || bytes < options.maxBytes)
    ) {
      const segment = this.segmentFor(at);
      if (segment === undefined || at >= segment.nextOffset) break;
      const batch = await segment.read(
        at,
        end,
        options.maxRecords - records.length,
        Math.max(1, options.maxBytes - bytes),
      );
      for (const record of batch) {
        records.push(record);
        bytes += record.payload.length;
      }
      at = records.at(-1)!.offset + 1;
    }
    return records;
  }

  /** Drops whole sealed segments to honour the policy; returns how many were removed. */
  async applyRetention(policy: RetentionPolicy, nowMs: number = Date.now()): Promise<number> {
    return this.exclusive(async () => {
      if (this.closed) return 0;
      let removed = 0;
      let size = this.sizeBytes;
      while (removed < this.segments.length - 1) {
        const oldest = this.segments[removed]!;
        // As Kafka's retention.bytes: drop the oldest segment only if the rest still holds at
        // least the retention, so a topic keeps at least its last retentionBytes (and where
        // segments roll, which a replay may move, cannot make it keep less).
        const overSize =
          policy.retentionBytes > 0 && size - oldest.sizeBytes >= policy.retentionBytes;
        const tooOld =
          policy.retentionMs > 0 && nowMs - oldest.lastWriteTimeMs > policy.retentionMs;
        if (!overSize && !tooOld) break;
        size -= oldest.sizeBytes;
        removed++;
      }
      if (removed > 0) {
        await this.recordStart(this.segments[removed]!.baseOffset);
        for (const oldest of this.segments.splice(0, removed)) await oldest.remove();
        await fsyncDirectory(this.directory);
        this.notify();
      }
      return removed;
    });
  }

  /**
   * Drops every sealed segment whose records all lie below `offset` (prefix truncation), and
   * resolves once they have left the log. Their files are deleted after, outside the write chain
   * and without the caller waiting: unlinking a 64 MiB segment took 25–45 ms, which appends (and
   * the Raft loop compacting) would otherwise wait for. What could open a segment of the same name
   * (a suffix truncation below lowestOffset) or remove the directory (close, destroy) waits for
   * the deletion first. A failed deletion is reported by the next prefix truncation; until then,
   * and after a crash, old segments lie below lowestOffset, which is harmless.
   */
  async truncatePrefix(offset: number): Promise<number> {
    if (this.removing > 0) await this.removal; // one at a time (they come a snapshot apart)
    const dropped = await this.exclusive(async () => {
      this.checkUsable();
      if (this.removalFailure !== undefined) throw this.removalFailure;
      let count = 0;
      while (count < this.segments.length - 1 && this.segments[count]!.nextOffset <= offset) {
        count++;
      }
      if (count === 0) return [];
      await this.recordStart(this.segments[count]!.baseOffset);
      const below = this.segments.splice(0, count);
      this.notify();
      return below;
    });
    if (dropped.length > 0) {
      this.removing++;
      this.removal = this.removal.then(async () => {
        try {
          for (const segment of dropped) await segment.remove();
          await fsyncDirectory(this.directory);
        } catch (error) {
          this.removalFailure ??= new TidelogError(
            "internal",
            `deleting truncated segments of ${this.directory} failed`,
            {},
            { cause: error },
          );
        } finally {
          this.removing--;
        }
      });
    }
    return dropped.length;
  }

  /**
   * Drops every record at or after `offset` (suffix truncation, e.g. a Raft conflict). When
   * `offset` is below the lowest offset the log becomes empty and continues at `offset`.
   */
  async truncateSuffix(offset: number): Promise<void> {
    assert(Number.isSafeInteger(offset) && offset >= 0, "truncateSuffix: bad offset");
    await this.exclusive(async () => {
      this.checkUsable();
      if (offset >= this.nextOffset) return;
      await this.removal; // a dropped segment may have the name of the one opened below
      await this.zeroFilling;
      this.truncations++;
      while (this.segments.length > 1 && this.active.baseOffset >= offset) {
        await this.segments.pop()!.remove();
      }
      // Now active.baseOffset < offset ≤ active.nextOffset, unless one segment starts above offset.
      if (this.active.baseOffset > offset) {
        // Open the replacement before removing the old segment: readers must never see an empty
        // segment list (lowestOffset and nextOffset read it without waiting for this chain).
        const { segment } = await Segment.open(this.directory, offset, this.limits());
        const replaced = this.segments.splice(0, 1, segment)[0]!;
        await replaced.remove();
        await this.recordStart(offset);
      } else {
        await this.active.truncateFrom(offset);
        await this.active.sync();
      }
      await fsyncDirectory(this.directory);
      this.syncedNext = Math.min(this.syncedNext, this.nextOffset);
      this.notify();
    });
  }

  /**
   * Streams the whole log from `fromOffset` (default: lowest) in batches, for snapshots. Only the
   * records present when each batch is read are included; the caller bounds the end.
   */
  async *stream(
    options: { fromOffset?: number; endOffset?: number; batchBytes?: number } = {},
  ): AsyncGenerator<StoredRecord[]> {
    let at = Math.max(options.fromOffset ?? this.lowestOffset, this.lowestOffset);
    const end = options.endOffset ?? this.nextOffset;
    while (at < end) {
      const batch = await this.readRange(at, {
        maxRecords: batchRecordsMax,
        maxBytes: options.batchBytes ?? 1024 * 1024,
        endOffset: end,
      });
      yield batch;
      at = batch.at(-1)!.offset + 1;
    }
  }

  /**
   * Rebuilds a log in an empty `directory` from a stream such as `stream()` produced: the first
   * record's offset becomes the lowest offset. Records must be contiguous.
   */
  static async restore(
    directory: string,
    source: AsyncIterable<readonly StoredRecord[]>,
    options: Partial<LogOptions> = {},
  ): Promise<Log> {
    await rm(directory, { recursive: true, force: true });
    let log: Log | undefined;
    try {
      for await (const batch of source) {
        if (batch.length === 0) continue;
        log ??= await Log.open(directory, { ...options, initialOffset: batch[0]!.offset });
        for (let start = 0; start < batch.length; ) {
          const expected = log.nextOffset;
          if (batch[start]!.offset !== expected) {
            throw new TidelogError(
              "invalid_argument",
              `restore: expected offset ${expected}, got ${batch[start]!.offset}`,
            );
          }
          const slice = batch.slice(start, start + batchRecordsMax);
          await log.append(slice.map((record) => record.payload));
          start += slice.length;
        }
      }
      log ??= await Log.open(directory, options);
      await log.sync();
      return log;
    } catch (error) {
      await log?.close();
      throw error;
    }
  }

  /** Writes queued appends, syncs, and closes every segment (trimming indexes). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closeCalled = true;
    await this.exclusive(async () => {
      await this.removal;
      await this.zeroFilling;
      await this.syncing?.catch(() => undefined);
      if (this.failure === undefined) {
        try {
          // Zeros left past the records are harmless (recovery cuts them); a clean close trims.
          await this.active.trim().catch(() => undefined);
          await this.active.sync();
          this.syncedNext = this.nextOffset;
        } catch (error) {
          // What was not synced is not durable: say so instead of claiming it is.
          this.failure = new TidelogError(
            "data_loss",
            `fsync failed while closing ${this.directory}`,
            {},
            { cause: error },
          );
        }
      }
      this.closed = true;
      for (const segment of this.segments) await segment.close();
    });
    this.notify();
  }

  /** Closes and deletes the whole directory. */
  async destroy(): Promise<void> {
    await this.close();
    await rm(this.directory, { recursive: true, force: true });
  }

  /** Records `offset` as the lowest, before the segments below it go (start-offset.ts). */
  private async recordStart(offset: number): Promise<void> {
    if (this.options.keepsStartOffset) await writeStartOffset(this.directory, offset);
  }

  private get active(): Segment {
    return this.segments.at(-1)!;
  }

  private limits() {
    return {
      storeBytesMax: this.options.segmentBytesMax,
      indexBytesMax: this.options.indexBytesMax,
    };
  }

  private segmentFor(offset: number): Segment | undefined {
    let low = 0;
    let high = this.segments.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >>> 1;
      if (this.segments[middle]!.baseOffset <= offset) low = middle;
      else high = middle - 1;
    }
    const segment = this.segments[low];
    return segment !== undefined && segment.baseOffset <= offset ? segment : undefined;
  }

  private checkUsable(): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.closed) throw new TidelogError("unavailable", `log ${this.directory} is closed`);
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    return this.serial.run(work);
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      if (this.closed || this.failure !== undefined) {
        this.settle(
          this.queue.splice(0),
          this.failure ?? new TidelogError("unavailable", "log closed"),
        );
        break;
      }
      let segment = this.active;
      const first = this.queue[0]!;
      if (segment.wouldOverflow(first.encoded.length, first.records)) {
        if (segment.count === 0) {
          this.settle(
            this.queue.splice(0, 1),
            new TidelogError(
              "resource_exhausted",
              "append: the batch does not fit in an empty segment",
            ),
          );
          continue;
        }
        try {
          segment = await this.roll();
        } catch (error) {
          this.settle(this.queue.splice(0), error);
          break;
        }
      }
      const group: PendingAppend[] = [];
      let groupBytes = 0;
      let groupRecords = 0;
      for (const item of this.queue) {
        const bytes = groupBytes + item.encoded.length;
        const records = groupRecords + item.records;
        if (
          group.length > 0 &&
          (bytes > this.options.writeBytesMax || segment.wouldPassLimits(bytes, records))
        )
          break;
        group.push(item);
        groupBytes = bytes;
        groupRecords = records;
      }
      this.queue.splice(0, group.length);
      // One positioned writev of the group's batches: no copy into a joint buffer.
      const encoded = group.map((item) => item.encoded);
      try {
        // Appends stay below the zeros written so far while a fill is writing more.
        if (this.zeroFilling !== undefined && segment.sizeBytes + groupBytes > segment.filledSize)
          await this.zeroFilling;
        let base = await segment.append(encoded, groupRecords);
        this.maybeZeroFill(segment);
        this.bytesSinceSync += groupBytes;
        if (
          this.options.backgroundSyncBytes > 0 &&
          this.bytesSinceSync >= this.options.backgroundSyncBytes &&
          this.syncing === undefined
        ) {
          // Flush as the data comes: the disk writes it back while appends go on, and the next
          // sync or roll finds little left to do. A failure poisons the log (see startSync).
          this.startSync().catch(() => undefined);
        }
        this.queuedBytes -= groupBytes;
        this.processedCount += group.length;
        for (const item of group) {
          item.resolve(base);
          base += item.records;
          // Written: the store holds no reference to the buffer any more.
          if (item.pooled) batchBufferPool.release(item.encoded);
        }
      } catch (error) {
        this.settle(group, error);
      }
      this.wakeProcessed();
      this.notify();
    }
    this.drainScheduled = false;
  }

  /** Rejects appends taken off the queue; they count as processed. */
  private settle(items: PendingAppend[], error: unknown): void {
    for (const item of items) {
      this.queuedBytes -= item.encoded.length;
      this.processedCount++;
      item.reject(error);
      // Never written, or its write has settled (failed): the buffer is unused.
      if (item.pooled) batchBufferPool.release(item.encoded);
    }
    this.wakeProcessed();
  }

  /**
   * Writes the next zeros ahead of the active segment's records once fewer than half a fill are
   * left, then syncs them in the background (after a sync already running: that one may not cover
   * them), so that the block allocation is committed before an append's fdatasync needs it.
   */
  private maybeZeroFill(segment: Segment): void {
    const step = this.options.zeroFillBytes;
    if (step === 0 || this.zeroFilling !== undefined || this.zeroFillStopped) return;
    if (segment.filledSize - segment.sizeBytes >= step / 2) return;
    const end = Math.min(segment.filledSize + step, this.options.segmentBytesMax);
    if (end <= segment.filledSize) return;
    this.zeroFilling = this.zeroFill(segment, end).then(
      () => {
        this.zeroFilling = undefined;
        void this.syncZeros();
      },
      () => {
        // A (nearly) full disk: appends will find out for themselves; no more zeros here.
        this.zeroFilling = undefined;
        this.zeroFillStopped = true;
      },
    );
  }

  /** Zeros up to `end`, unless the disk has no room for them (zeroFillRoom). */
  private async zeroFill(segment: Segment, end: number): Promise<void> {
    const written = this.options.zeroFillRoom(end - segment.filledSize);
    if (written === false) throw new Error("no room on the disk for zeros ahead");
    try {
      await segment.zeroFill(end);
    } finally {
      written();
    }
  }

  private async syncZeros(): Promise<void> {
    await this.syncing?.catch(() => undefined);
    if (this.failure !== undefined || this.closeCalled) return;
    // A failure poisons the log (see runSync), as a failed sync of records would.
    await this.startSync().catch(() => undefined);
  }

  /** Seals the active segment (durably, without zeros past its records) and starts a new one. */
  private async roll(): Promise<Segment> {
    const sealed = this.active;
    await this.zeroFilling;
    this.zeroFillStopped = false;
    await sealed.trim();
    await sealed.sync();
    this.bytesSinceSync = 0;
    this.syncedNext = Math.max(this.syncedNext, sealed.nextOffset);
    const { segment } = await Segment.open(this.directory, sealed.nextOffset, this.limits());
    await fsyncDirectory(this.directory);
    this.segments.push(segment);
    return segment;
  }

  private waitProcessed(count: number): Promise<void> {
    if (this.processedCount >= count) return Promise.resolve();
    return new Promise((resolve) => this.processedWaiters.push({ count, resolve }));
  }

  private wakeProcessed(): void {
    if (this.processedWaiters.length === 0) return;
    const ready = this.processedWaiters.filter((waiter) => waiter.count <= this.processedCount);
    this.processedWaiters = this.processedWaiters.filter(
      (waiter) => waiter.count > this.processedCount,
    );
    for (const waiter of ready) waiter.resolve();
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }
}

// A segment: one store and one index, named by the absolute offset of its first record
// (`<baseOffset>.store`, `<baseOffset>.index`, the offset zero-padded to 20 digits so names sort).
//
// Recovery on open never trusts the tail: index entries are checked against the frames they point
// at, frames past the last good entry are validated and indexed, and the first torn or corrupt
// frame ends the segment (store and index are cut there). A trailing batch that is incomplete is
// dropped whole, so a batch is atomic across crashes. Only the last segment may be cut: a sealed
// one was synced whole before the next was created, so a tail it would lose is damage, refused
// (data_loss) with the file left as it is.
import { rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { assert } from "../assert.js";
import { isTidelogError, TidelogError } from "../errors.js";
import { crc32c } from "./crc32c.js";
import { zeros } from "./fd-io.js";
import {
  checkFrameRun,
  frameHeaderBytes,
  frameIsValid,
  framePayloadBytesMax,
  readFrameHeader,
} from "./frame.js";
import { IndexFile } from "./index-file.js";
import { Store } from "./store.js";

export interface SegmentLimits {
  /** The store may grow to this size (one batch may overshoot an empty segment). */
  storeBytesMax: number;
  /** Index file capacity; 12 bytes per record. */
  indexBytesMax: number;
}

export interface StoredRecord {
  offset: number;
  payload: Buffer;
}

/** Bytes read from the store at once while recovering an unindexed tail. */
const recoveryChunkBytes = 1024 * 1024;

/** Scratch for read(): payload bounds of the frames read (grown to the largest read). */
let readPayloadStarts = new Int32Array(1024);
let readPayloadEnds = new Int32Array(1024);

export function segmentFileName(baseOffset: number, extension: "store" | "index"): string {
  return `${String(baseOffset).padStart(20, "0")}.${extension}`;
}

export class Segment {
  private lastWriteMs: number;

  private constructor(
    readonly directory: string,
    readonly baseOffset: number,
    private readonly store: Store,
    private readonly index: IndexFile,
    private limits: SegmentLimits,
    lastWriteMs: number,
  ) {
    this.lastWriteMs = lastWriteMs;
  }

  /**
   * Opens (or creates) a segment and recovers it. A `sealed` one (a later segment follows it) was
   * synced whole before the next was created, so a tail recovery would cut is damage, not a torn
   * write: it is data_loss, and nothing is cut.
   */
  static async open(
    directory: string,
    baseOffset: number,
    limits: SegmentLimits,
    sealed = false,
  ): Promise<{
    segment: Segment;
    recovery: { droppedBytes: number; rebuiltEntries: number };
  }> {
    const store = await Store.open(join(directory, segmentFileName(baseOffset, "store")));
    const index = await IndexFile.open(
      join(directory, segmentFileName(baseOffset, "index")),
      limits.indexBytesMax,
    );
    const { mtimeMs } = await stat(store.path);
    const segment = new Segment(directory, baseOffset, store, index, limits, mtimeMs);
    try {
      const recovery = await segment.recover(sealed);
      return { segment, recovery };
    } catch (error) {
      await segment.close();
      throw error;
    }
  }

  /** Number of records. */
  get count(): number {
    return this.index.count;
  }

  get nextOffset(): number {
    return this.baseOffset + this.index.count;
  }

  get sizeBytes(): number {
    return this.store.size;
  }

  /** Wall-clock time of the last append (the store's mtime after a reopen). */
  get lastWriteTimeMs(): number {
    return this.lastWriteMs;
  }

  /** True when a batch of `bytes` in `records` frames does not fit and the segment is not empty. */
  wouldOverflow(bytes: number, records: number): boolean {
    if (this.count === 0) return records > this.index.capacity;
    return this.wouldPassLimits(bytes, records);
  }

  /** Sets the store size at which the segment is full (a topic's segment size changed). */
  setStoreBytesMax(storeBytesMax: number): void {
    this.limits = { ...this.limits, storeBytesMax };
  }

  /**
   * True when `bytes` more in `records` frames would pass the segment's limits, empty or not: a
   * group of batches written together stops before the batch that would (the first batch of an
   * empty segment may still be larger on its own, see wouldOverflow).
   */
  wouldPassLimits(bytes: number, records: number): boolean {
    return (
      this.store.size + bytes > this.limits.storeBytesMax ||
      this.count + records > this.index.capacity
    );
  }

  /** True when no further record should go here. */
  get isFull(): boolean {
    return this.store.size >= this.limits.storeBytesMax || this.count >= this.index.capacity;
  }

  /**
   * Appends encoded batches (see encodeBatch) holding `records` frames in all and indexes them.
   * The caller serialises appends and checked `wouldOverflow`. The index entries are put in the
   * mapping while the store write is in flight (the write is submitted first) and counted once it
   * returns; a failed write zeroes them. Readers see only counted entries, and recovery checks the
   * newest entries against the store's frames, so an entry ahead of its frame (a crash during the
   * write) is dropped like a torn tail.
   */
  async append(encoded: readonly Buffer[], records: number): Promise<number> {
    const position = this.store.size;
    const writing = this.store.append(encoded);
    try {
      this.index.stageFrames(encoded, position, records);
    } catch (error) {
      // Frames that disagree with the record count (a bug): undo the write as a failed one is.
      await writing.then(
        () => this.store.truncate(position),
        () => undefined,
      );
      throw error;
    }
    try {
      await writing;
    } catch (error) {
      this.index.discardStaged();
      throw error;
    }
    this.index.commitStaged();
    this.lastWriteMs = Date.now();
    return this.baseOffset + this.index.count - records;
  }

  sync(): Promise<void> {
    return this.store.sync();
  }

  /** The store file's size, with the zeros written ahead of the records (see store.ts). */
  get filledSize(): number {
    return this.store.filledSize;
  }

  /** Writes zeros ahead of the records up to `end` bytes (see Store.zeroFill). */
  zeroFill(end: number): Promise<void> {
    return this.store.zeroFill(end);
  }

  /** Cuts the zeros written ahead (before the segment is sealed). */
  trim(): Promise<void> {
    return this.store.trim();
  }

  /**
   * Reads records from `offset` (inside this segment) up to `endOffset` (exclusive), at most
   * `maxRecords` and about `maxBytes` of payload (at least one record is returned). Every frame is
   * CRC-checked: a corrupt one is never served.
   */
  async read(
    offset: number,
    endOffset: number,
    maxRecords: number,
    maxBytes: number,
  ): Promise<StoredRecord[]> {
    const first = offset - this.baseOffset;
    const end = Math.min(endOffset, this.nextOffset) - this.baseOffset;
    assert(first >= 0 && first < end, "segment read outside its records");
    const last = Math.min(end, first + maxRecords);
    const startPosition = this.index.position(first);
    // The span comes from the index: positions are exact, so the bytes to read are known. Take
    // records while the frames before the next one fit in maxBytes; positions increase, so the
    // largest such `stop` in (first, last] is found by binary search.
    let stop = first + 1;
    let high = last;
    while (stop < high) {
      const middle = (stop + high + 1) >>> 1;
      if (this.index.position(middle - 1) - startPosition <= maxBytes) stop = middle;
      else high = middle - 1;
    }
    const endPosition = stop < this.index.count ? this.index.position(stop) : this.store.size;
    let data: Buffer;
    try {
      data = await this.store.read(startPosition, endPosition - startPosition);
    } catch (error) {
      // A cut file: its records are lost as a damaged one is (never served; peers repair it).
      if (!isTidelogError(error, "data_loss")) throw error;
      throw new TidelogError(
        "data_loss",
        `records from offset ${this.baseOffset + first} are missing: ${error.message}`,
        { offset: this.baseOffset + first, path: this.store.path },
      );
    }
    const count = stop - first;
    if (readPayloadStarts.length < count) {
      readPayloadStarts = new Int32Array(count);
      readPayloadEnds = new Int32Array(count);
    }
    const bad = checkFrameRun(data, count, readPayloadStarts, readPayloadEnds);
    if (bad >= 0) {
      throw new TidelogError(
        "data_loss",
        `corrupt record at offset ${this.baseOffset + first + bad} in ${this.store.path}`,
        { offset: this.baseOffset + first + bad, path: this.store.path },
      );
    }
    const records: StoredRecord[] = new Array(count);
    for (let i = 0; i < count; i++) {
      records[i] = {
        offset: this.baseOffset + first + i,
        payload: data.subarray(readPayloadStarts[i]!, readPayloadEnds[i]!),
      };
    }
    return records;
  }

  /** Drops records from `offset` on (offset within [baseOffset, nextOffset]). */
  async truncateFrom(offset: number): Promise<void> {
    const keep = offset - this.baseOffset;
    assert(keep >= 0 && keep <= this.count, "segment truncate outside its records");
    if (keep === this.count) return;
    const position = this.index.position(keep);
    if (keep > 0) await this.closeBatch(keep - 1, position);
    this.index.truncate(keep);
    await this.store.truncate(position);
  }

  /**
   * When a truncation cuts a batch, its last kept frame (relative `last`, ending at `end`) still
   * expects more records, and recovery would drop the kept part as an incomplete batch. Rewrite
   * that frame's header to end the batch, durably before the cut, so no crash between the two can
   * make recovery drop records the truncation kept.
   */
  private async closeBatch(last: number, end: number): Promise<void> {
    const position = this.index.position(last);
    const frame = await this.store.read(position, end - position);
    const header = readFrameHeader(frame, 0);
    assert(header !== undefined, "kept frame has a header");
    if (header.batchRemaining === 0) return;
    frame.writeUInt16LE(0, 10);
    frame.writeUInt32LE(crc32c(frame, 8, frame.length), 4);
    await this.store.rewrite(position + 4, frame.subarray(4, frameHeaderBytes));
    await this.store.sync();
  }

  async close(): Promise<void> {
    await this.store.close();
    await this.index.close();
  }

  /** Closes and deletes both files. */
  async remove(): Promise<void> {
    await this.store.close();
    this.index.release();
    await rm(this.store.path, { force: true });
    await rm(this.index.path, { force: true });
  }

  /** See the file comment. Returns what was dropped and rebuilt, for the log's report. */
  private async recover(
    sealed: boolean,
  ): Promise<{ droppedBytes: number; rebuiltEntries: number }> {
    const storeSize = this.store.size;
    // 1. Trust index entries only while the frame each points at is whole and intact; check from
    //    the newest entry back (the common case: the newest is fine).
    let good = this.index.count;
    while (good > 0) {
      const position = this.index.position(good - 1);
      if (position < storeSize && (await this.frameAt(position, storeSize)) !== undefined) break;
      good--;
    }
    this.index.truncate(good);
    // 2. Walk frames after the last good entry, indexing each valid one.
    let position = good === 0 ? 0 : this.index.position(good - 1);
    if (good > 0) {
      const frame = await this.frameAt(position, storeSize);
      assert(frame !== undefined, "checked above");
      position += frame.length;
    }
    let rebuilt = 0;
    let buffer: Buffer = Buffer.alloc(0);
    let bufferStart = position;
    for (;;) {
      if (position + frameHeaderBytes > storeSize) break;
      if (position + frameHeaderBytes > bufferStart + buffer.length) {
        bufferStart = position;
        buffer = await this.store.read(
          position,
          Math.min(recoveryChunkBytes, storeSize - position),
        );
      }
      let header = readFrameHeader(buffer, position - bufferStart);
      if (header === undefined) break;
      const frameLength = frameHeaderBytes + header.payloadLength;
      if (header.payloadLength > framePayloadBytesMax || position + frameLength > storeSize) break;
      if (position - bufferStart + frameLength > buffer.length) {
        bufferStart = position;
        buffer = await this.store.read(
          position,
          Math.min(Math.max(recoveryChunkBytes, frameLength), storeSize - position),
        );
        header = readFrameHeader(buffer, 0);
        if (header === undefined) break;
      }
      if (!frameIsValid(buffer, position - bufferStart, header)) break;
      if (this.index.count >= this.index.capacity) break;
      this.index.append(position);
      rebuilt++;
      position += frameLength;
    }
    // 3. A trailing batch that still expects records is incomplete: drop it whole.
    if (this.index.count > 0) {
      const lastPosition = this.index.position(this.index.count - 1);
      const header = await this.frameAt(lastPosition, storeSize);
      assert(header !== undefined, "last indexed frame is valid");
      if (header.batchRemaining > 0) {
        const keep = this.index.count - 1 - header.batchPosition;
        assert(keep >= 0, "batch starts before the segment");
        position = keep === 0 ? 0 : this.index.position(keep);
        const dropped = this.index.count - keep;
        this.index.truncate(keep);
        rebuilt = Math.max(0, rebuilt - dropped);
      }
    }
    // Zeros after the last record were written ahead of appends (see store.ts): not a torn tail.
    const droppedBytes = (await this.isZeroFrom(position, storeSize)) ? 0 : storeSize - position;
    if (droppedBytes > 0 && sealed) {
      throw new TidelogError(
        "data_loss",
        `segment ${this.baseOffset} is sealed but its last ${droppedBytes} bytes (from record ${this.baseOffset + this.index.count}) are not whole records; left as it is`,
        { directory: this.directory, segment: this.baseOffset },
      );
    }
    if (position < storeSize) await this.store.truncate(position);
    return { droppedBytes, rebuiltEntries: rebuilt };
  }

  /** True when the store holds only zero bytes in [from, to). */
  private async isZeroFrom(from: number, to: number): Promise<boolean> {
    for (let position = from; position < to; position += zeros.length) {
      const chunk = await this.store.read(position, Math.min(zeros.length, to - position));
      if (!chunk.equals(zeros.subarray(0, chunk.length))) return false;
    }
    return true;
  }

  /** The header of the intact frame at `position`, with its total length; undefined if torn/corrupt. */
  private async frameAt(
    position: number,
    storeSize: number,
  ): Promise<{ length: number; batchPosition: number; batchRemaining: number } | undefined> {
    if (position + frameHeaderBytes > storeSize) return undefined;
    const headerBytes = await this.store.read(position, frameHeaderBytes);
    const header = readFrameHeader(headerBytes, 0);
    if (header === undefined || header.payloadLength > framePayloadBytesMax) return undefined;
    const length = frameHeaderBytes + header.payloadLength;
    if (position + length > storeSize) return undefined;
    const frame = await this.store.read(position, length);
    if (!frameIsValid(frame, 0, header)) return undefined;
    return { length, batchPosition: header.batchPosition, batchRemaining: header.batchRemaining };
  }
}

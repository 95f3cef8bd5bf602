// The index of one segment: fixed-width entries (relative offset u32, store position u64 as two
// little-endian u32 halves), one per record, memory-mapped with mmap-io.
//
// The file is grown before it is mapped further (a mapping must never be touched past the
// file's end: SIGBUS kills the process) and trimmed to the used entries on clean close. It is
// grown by writing zeros, not by ftruncate: a store into a hole of a sparse file needs a block
// then, and on a full disk the kernel answers SIGBUS (an outside probe's node died so, with
// nothing logged); written zeros take their blocks at once, and a full disk is ENOSPC, an error. The
// mapping starts small and doubles as entries come, up to the capacity: V8 counts a mapping's
// whole length as external memory, so mapping each segment's full capacity (10 MiB) at once made
// a node with 2,000 topics spend 11 of its 27 s of restart in GC, and kept it collecting after.
// mmap-io cannot unmap: a mapping lives until its Buffer is collected, so `close()` drops the
// only reference before trimming, and nothing touches the Buffer afterwards.
//
// The index is derived data: the store is the source of truth, and recovery rebuilds entries
// the store has but the index lost. The index is therefore never msync'ed on the hot path.
import { closeSync, constants, fstatSync, openSync } from "node:fs";
import { open, truncate } from "node:fs/promises";
import mmapModule from "@riaskov/mmap-io";
import { assert } from "../assert.js";
import { writeZerosSync } from "./fd-io.js";
import { frameHeaderBytes } from "./frame.js";

// The package is CommonJS with an ES-style `export default` in its typings: at run time the default
// import is the module object itself, which the typings call `default`.
const mmap = mmapModule as unknown as (typeof mmapModule)["default"];

export const indexEntryBytes = 12;
/** The first mapping of an index with fewer entries: 5,461 entries. */
const initialMapBytes = 64 * 1024;

export class IndexFile {
  private mapping: Buffer | undefined;
  /** The mapping as a DataView, for the append path (entries are little-endian u32s). */
  private view: DataView | undefined;
  private entryCount: number;
  /** Entries written after the counted ones whose frames are still being written (stageFrames). */
  private staged = 0;
  /** Entries the current mapping holds. */
  private slots: number;
  /** Entries the index may hold at most (its mapping grows up to this). */
  private readonly slotsMax: number;

  private constructor(
    readonly path: string,
    mapping: Buffer,
    entryCount: number,
    capacityBytes: number,
  ) {
    this.mapping = mapping;
    this.view = new DataView(mapping.buffer, mapping.byteOffset, mapping.length);
    this.entryCount = entryCount;
    this.slots = Math.floor(mapping.length / indexEntryBytes);
    this.slotsMax = Math.max(this.slots, Math.floor(capacityBytes / indexEntryBytes));
  }

  /**
   * Opens (creating if missing) and maps the index at `path` with room for at least
   * `capacityBytes`. The entry count is the longest prefix of well-formed entries: relative
   * offset i at slot i, positions strictly increasing from 0. The caller validates those
   * entries against the store.
   */
  static async open(path: string, capacityBytes: number): Promise<IndexFile> {
    assert(capacityBytes >= indexEntryBytes, "index capacity below one entry");
    const handle = await open(path, constants.O_RDWR | constants.O_CREAT, 0o644);
    try {
      const { size } = await handle.stat();
      const mappedBytes = Math.max(size, Math.min(capacityBytes, initialMapBytes));
      if (size < mappedBytes) writeZerosSync(handle.fd, size, mappedBytes);
      // Read-ahead helps the scan of an existing index (sequential, maybe from disk), but on a new
      // one the first touch would read around it (read_ahead_kb, 8 MiB on our disk: 3–4 ms per
      // segment roll, all holes): appends and position lookups touch pages one at a time.
      const mapping = mmap.map(
        mappedBytes,
        3 as const /* PROT_READ | PROT_WRITE */,
        mmap.MAP_SHARED,
        handle.fd,
        0,
        size === 0 ? mmap.MADV_RANDOM : mmap.MADV_SEQUENTIAL,
      );
      const count = IndexFile.countWellFormed(mapping);
      if (size !== 0) mmap.advise(mapping, mmap.MADV_RANDOM);
      return new IndexFile(path, mapping, count, capacityBytes);
    } finally {
      await handle.close();
    }
  }

  private static countWellFormed(mapping: Buffer): number {
    const slots = Math.floor(mapping.length / indexEntryBytes);
    let previousPosition = -1;
    for (let i = 0; i < slots; i++) {
      const at = i * indexEntryBytes;
      const relative = mapping.readUInt32LE(at);
      const position = mapping.readUInt32LE(at + 4) + mapping.readUInt32LE(at + 8) * 0x1_0000_0000;
      if (relative !== i || position <= previousPosition || (i === 0 && position !== 0)) return i;
      previousPosition = position;
    }
    return slots;
  }

  get count(): number {
    return this.entryCount;
  }

  /** Entries the index can hold at most. */
  get capacity(): number {
    this.live();
    return this.slotsMax;
  }

  /** Store position of the record at relative offset `relative` (< count). */
  position(relative: number): number {
    assert(relative >= 0 && relative < this.entryCount, `index position ${relative} out of range`);
    const mapping = this.live();
    const at = relative * indexEntryBytes;
    return mapping.readUInt32LE(at + 4) + mapping.readUInt32LE(at + 8) * 0x1_0000_0000;
  }

  /** Appends the entry for the next relative offset. */
  append(position: number): void {
    assert(this.staged === 0, "index: entries staged");
    this.ensureSlots(this.entryCount + 1);
    const view = this.view;
    assert(view !== undefined, "index used after close");
    const at = this.entryCount * indexEntryBytes;
    view.setUint32(at, this.entryCount, true);
    view.setUint32(at + 4, position % 0x1_0000_0000, true);
    view.setUint32(at + 8, Math.floor(position / 0x1_0000_0000), true);
    this.entryCount++;
  }

  /**
   * Appends the entries of `records` frames written contiguously from store position `position`
   * (see stageFrames), counted at once.
   */
  appendFrames(buffers: readonly Uint8Array[], position: number, records: number): void {
    this.stageFrames(buffers, position, records);
    this.commitStaged();
  }

  /**
   * Puts the entries of `records` frames about to be written contiguously from store position
   * `position` after the counted ones, without counting them: the segment stages them while the
   * store write is in flight, then commits (the write returned) or discards (it failed) them.
   * Walks `buffers` (encoded batches, see encodeBatch) frame by frame, reading each frame's length
   * from its header.
   */
  stageFrames(buffers: readonly Uint8Array[], position: number, records: number): void {
    assert(this.staged === 0, "index: entries already staged");
    const end = this.entryCount + records;
    this.ensureSlots(end);
    const view = this.view;
    assert(view !== undefined, "index used after close");
    let count = this.entryCount;
    let at = position;
    let consistent = true;
    for (const buffer of buffers) {
      let offset = 0;
      while (offset < buffer.length && count < end) {
        const slot = count * indexEntryBytes;
        view.setUint32(slot, count, true);
        view.setUint32(slot + 4, at % 0x1_0000_0000, true);
        view.setUint32(slot + 8, Math.floor(at / 0x1_0000_0000), true);
        const payloadLength =
          (buffer[offset]! |
            (buffer[offset + 1]! << 8) |
            (buffer[offset + 2]! << 16) |
            (buffer[offset + 3]! << 24)) >>>
          0;
        const frameLength = frameHeaderBytes + payloadLength;
        offset += frameLength;
        at += frameLength;
        count++;
      }
      if (offset !== buffer.length) {
        consistent = false;
        break;
      }
    }
    if (!consistent || count !== end) {
      // Never leave entries that could pass as well formed on a reopen.
      this.live().fill(0, this.entryCount * indexEntryBytes, count * indexEntryBytes);
      assert(false, "index: the frames do not match the record count");
    }
    this.staged = records;
  }

  /** Counts the staged entries: their frames are written. */
  commitStaged(): void {
    this.entryCount += this.staged;
    this.staged = 0;
  }

  /** Zeroes the staged entries (their write failed) so they can never look valid on a reopen. */
  discardStaged(): void {
    const mapping = this.mapping;
    if (mapping !== undefined) {
      mapping.fill(
        0,
        this.entryCount * indexEntryBytes,
        (this.entryCount + this.staged) * indexEntryBytes,
      );
    }
    this.staged = 0;
  }

  /** Keeps the first `count` entries and zeroes the rest so they can never look valid again. */
  truncate(count: number): void {
    assert(count >= 0 && count <= this.entryCount, "index truncate beyond its entries");
    assert(this.staged === 0, "index: entries staged");
    this.live().fill(0, count * indexEntryBytes, this.entryCount * indexEntryBytes);
    this.entryCount = count;
  }

  /** Unmaps (by dropping the reference) and trims the file to the used entries. */
  async close(): Promise<void> {
    if (this.mapping === undefined) return;
    this.mapping = undefined;
    this.view = undefined;
    await truncate(this.path, this.entryCount * indexEntryBytes);
  }

  /** Drops the mapping without trimming (the file is about to be deleted). */
  release(): void {
    this.mapping = undefined;
    this.view = undefined;
  }

  /**
   * Maps room for `slots` entries (at most the capacity: past it is "index full"), doubling the
   * mapping. The file grows first; the old mapping is dropped, and unmapped when collected.
   */
  private ensureSlots(slots: number): void {
    assert(slots <= this.slotsMax, "index full");
    if (slots <= this.slots) return;
    this.live();
    const bytes = Math.min(
      this.slotsMax * indexEntryBytes,
      Math.max(slots * indexEntryBytes, 2 * this.slots * indexEntryBytes),
    );
    const fd = openSync(this.path, constants.O_RDWR);
    try {
      const size = fstatSync(fd).size;
      if (size < bytes) writeZerosSync(fd, size, bytes);
      const mapping = mmap.map(
        bytes,
        3 as const /* PROT_READ | PROT_WRITE */,
        mmap.MAP_SHARED,
        fd,
        0,
        mmap.MADV_RANDOM,
      );
      this.mapping = mapping;
      this.view = new DataView(mapping.buffer, mapping.byteOffset, mapping.length);
      this.slots = Math.floor(mapping.length / indexEntryBytes);
    } finally {
      closeSync(fd);
    }
  }

  private live(): Buffer {
    assert(this.mapping !== undefined, "index used after close");
    return this.mapping;
  }
}

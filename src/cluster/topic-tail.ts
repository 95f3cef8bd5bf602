// The shared read side of each topic on this node. Every consumer of a topic opens a TailReader;
// the topic's readers share:
//
// - one wake-up: one log listener per topic (not one per waiting stream), and one abort listener
//   per reader for its whole life (not one per wait). A commit resolves the waiting readers'
//   promises in one pass.
// - one read and one encoding of what was committed: the first reader past the cached end reads
//   the new records from the log once and transcodes them into Record wire bytes
//   (record-transcoder.ts encodeRecordsWire); every caught-up reader then answers with a slice of
//   the same bytes. The cache keeps the most recently committed chunks, bounded in bytes per topic
//   and across the node (oldest chunks go first, the topics' turns in order), and lives only
//   while the topic has readers. Readers behind the cache, or of an evicted range, read the log
//   directly (and transcode) without caching.
// - one encoding per answer for the followers: a caught-up reader may follow the topic instead of
//   waiting (TailReader.follow). Each commit, once read into the cache, is then pushed to every
//   follower in one pass, without a promise or a read per reader: followers at the same offset
//   with the same limits and the same encoder share one answer, encoded once (a tailing gRPC
//   stream's framed message, server/fast-grpc-routes.ts). A follower that can take no more, or falls
//   behind the cache, stops following and reads (and waits) again.
//
// Committed records never change at an offset while the topic object lives; a deleted (or
// recreated) topic, or topics swapped in by a snapshot, get a new Topic object, and the old tail
// is dropped and its readers woken.
import { assert } from "../assert.js";
import { TidelogError } from "../errors.js";
import { BufferPool } from "../log/buffer-pool.js";
import type { Topic } from "../log/topic-registry.js";
import type { ConsumeLimits } from "./broker.js";
import { encodeRecordsWire, type RecordsWire } from "./record-transcoder.js";
import type { TopicStateMachine } from "./topic-state-machine.js";

/** Records as `repeated Record records = 1` wire bytes (tags included). */
export interface WireSlice {
  bytes: Buffer;
  records: number;
  /** The offset after the last record in the slice. */
  nextOffset: number;
  /**
   * Present when `bytes` lie in a reused buffer (TopicTails.answerBuffers): call it once, when
   * nothing reads the bytes any more (the answer was serialized); later answers overwrite them.
   */
  release?: () => void;
}

export interface TailOptions {
  /** Encoded bytes a topic's cache may hold (its newest chunk is kept even when larger). */
  cacheBytesMax: number;
  /** Encoded bytes all topics' caches may hold together (newest chunks included). */
  nodeCacheBytesMax: number;
  /** Bounds of one read of newly committed records into the cache. */
  fetchRecordsMax: number;
  fetchBytesMax: number;
}

export const defaultTailOptions: TailOptions = {
  cacheBytesMax: 8 * 1024 * 1024,
  nodeCacheBytesMax: 64 * 1024 * 1024,
  fetchRecordsMax: 10_000,
  fetchBytesMax: 4 * 1024 * 1024,
};

interface Chunk extends RecordsWire {
  first: number;
  end: number;
}

/** Bytes the answer pool keeps for reuse, and the smallest answer buffer it hands out. */
const answerBuffersHeldBytesMax = 32 * 1024 * 1024;
const answerBytesMin = 64 * 1024;

/** Reads from the log and transcodes, without the cache; into a reused buffer with `buffers`. */
async function readWire(
  topic: Topic,
  offset: number,
  limits: ConsumeLimits,
  buffers?: BufferPool,
): Promise<WireSlice> {
  const stored = await topic.log.readRange(offset, limits);
  if (buffers === undefined) {
    const wire = encodeRecordsWire(stored);
    return { bytes: wire.bytes, records: stored.length, nextOffset: offset + stored.length };
  }
  let taken: Buffer | undefined;
  const wire = encodeRecordsWire(stored, (bytes) => {
    // Small answers too come from the pool (its own memory starts at 4 KiB), so that a catch-up
    // of small pages reuses its buffers as well.
    taken = buffers.acquire(Math.max(bytes, answerBytesMin));
    return taken;
  });
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    buffers.release(taken!);
  };
  return { bytes: wire.bytes, records: stored.length, nextOffset: offset + stored.length, release };
}

/** Encodes one answer for followers; see TailReader.follow. */
export type AnswerEncoder<A> = (slice: WireSlice, highWatermark: number) => A;

/**
 * What a follower did with an answer pushed to it: took it and can take more, took it but can
 * take no more now, or did not take it (its follow ends before that answer).
 */
export type Delivery = "more" | "full" | "declined";

/** A reader following its topic (TailReader.follow). */
interface Follower {
  /** The next offset to push. */
  offset: number;
  readonly limits: ConsumeLimits;
  readonly encode: AnswerEncoder<unknown>;
  /** `bytes`: the records' wire bytes the answer was made from. */
  readonly deliver: (answer: unknown, bytes: number) => Delivery;
  /** Ends the follow (the promise resolves with `offset`). */
  readonly stop: (offset: number) => void;
  readonly fail: (error: unknown) => void;
}

/** An answer of one push round and what it was made for. */
interface SharedAnswer {
  maxRecords: number;
  maxBytes: number;
  encode: AnswerEncoder<unknown>;
  nextOffset: number;
  encoded: unknown;
  bytes: number;
}

/**
 * The answers of one push round, shared by followers at the same offset with the same limits and
 * encoder: by offset, then searched among the few made at that offset (at most one per follower).
 */
class SharedAnswers {
  private readonly byOffset = new Map<number, SharedAnswer[]>();

  find(follower: Follower): SharedAnswer | undefined {
    const { limits, encode } = follower;
    const made = this.byOffset.get(follower.offset);
    if (made === undefined) return undefined;
    for (const answer of made) {
      if (
        answer.encode === encode &&
        answer.maxRecords === limits.maxRecords &&
        answer.maxBytes === limits.maxBytes
      )
        return answer;
    }
    return undefined;
  }

  add(follower: Follower, slice: WireSlice, encoded: unknown): SharedAnswer {
    const answer: SharedAnswer = {
      maxRecords: follower.limits.maxRecords,
      maxBytes: follower.limits.maxBytes,
      encode: follower.encode,
      nextOffset: slice.nextOffset,
      encoded,
      bytes: slice.bytes.length,
    };
    const made = this.byOffset.get(follower.offset);
    if (made === undefined) this.byOffset.set(follower.offset, [answer]);
    else made.push(answer);
    return answer;
  }
}

/** The readers, cache and wake-up of one topic (one Topic object). */
class TopicTail {
  private readonly chunks: Chunk[] = [];
  cachedBytes = 0;
  /** Chunks cover [chunks[0].first, cacheEnd) contiguously; empty until the first fetch. */
  private cacheEnd: number;
  private fetching: Promise<void> | undefined;
  readonly waiting = new Set<TailReader>();
  /** Readers that follow the topic: commits are pushed to them (push()). */
  private readonly followers = new Set<Follower>();
  private pushing = false;
  /** The log's next offset when the last push run left every follower there. */
  private pushedThrough = -1;
  readers = 0;
  private readonly unsubscribe: () => void;
  dropped = false;

  constructor(
    readonly topic: Topic,
    private readonly options: TailOptions,
    /** Told of every change of the cached bytes (the node-wide account). */
    private readonly account: (deltaBytes: number) => void,
  ) {
    this.cacheEnd = topic.log.nextOffset;
    this.unsubscribe = topic.log.subscribe(() => this.wake());
  }

  get lowestOffset(): number {
    return this.topic.log.lowestOffset;
  }

  get nextOffset(): number {
    return this.topic.log.nextOffset;
  }

  /**
   * Wakes the readers waiting below the log's next offset (all of them when dropped), and pushes
   * what was committed to the followers.
   */
  wake(): void {
    if (this.followers.size > 0 && this.topic.log.nextOffset !== this.pushedThrough)
      this.startPush();
    if (this.waiting.size === 0) return;
    const next = this.dropped ? Number.POSITIVE_INFINITY : this.topic.log.nextOffset;
    for (const reader of this.waiting) {
      if (reader.waitOffset < next) {
        this.waiting.delete(reader);
        reader.release();
      }
    }
  }

  /** Ends every follow (each resolves with its offset) and wakes every waiting reader. */
  releaseAll(): void {
    for (const follower of this.followers) this.unfollow(follower);
    for (const reader of this.waiting) reader.release();
  }

  drop(): void {
    if (this.dropped) return;
    this.dropped = true;
    this.unsubscribe();
    this.chunks.length = 0;
    this.account(-this.cachedBytes);
    this.cachedBytes = 0;
    for (const follower of this.followers) this.unfollow(follower);
    this.wake();
  }

  /** Starts pushing commits to `follower`, from its offset (committed records first, if any). */
  follow(follower: Follower): void {
    if (this.dropped) {
      follower.stop(follower.offset);
      return;
    }
    this.followers.add(follower);
    if (follower.offset < this.topic.log.nextOffset) this.startPush();
  }

  /**
   * Ends `follower`'s follow: it resolves with the offset it reached (pushed up to), or rejects
   * with `error.cause` (boxed, so that whatever was thrown, undefined included, fails it).
   */
  unfollow(follower: Follower, error?: { cause: unknown }): void {
    if (!this.followers.delete(follower)) return;
    if (error === undefined) follower.stop(follower.offset);
    else follower.fail(error.cause);
  }

  private startPush(): void {
    if (this.pushing) return;
    this.pushing = true;
    void this.push();
  }

  /**
   * Pushes the committed records to every follower behind the log's end, from the cache, until
   * all have them; one run at a time. A round goes over every follower after a read of the log
   * (followers may have joined meanwhile), else only over those the last round left behind (by
   * their limits). A follower whose offset the cache no longer holds stops following (it reads
   * the log as a reader does); one whose encoder or delivery throws fails alone.
   */
  private async push(): Promise<void> {
    try {
      let candidates: Iterable<Follower> = this.followers;
      for (;;) {
        if (this.dropped) return;
        const next = this.topic.log.nextOffset;
        const first = this.chunks[0]?.first ?? this.cacheEnd;
        const answers = new SharedAnswers();
        const behind: Follower[] = [];
        let fetchNeeded = false;
        for (const follower of candidates) {
          if (follower.offset >= next || !this.followers.has(follower)) continue;
          if (follower.offset < first) {
            this.unfollow(follower);
          } else if (follower.offset >= this.cacheEnd) {
            fetchNeeded = true;
          } else if (this.pushTo(follower, answers, next) && follower.offset < next) {
            behind.push(follower);
          }
        }
        if (!fetchNeeded) {
          if (behind.length === 0) {
            this.pushedThrough = next;
            return;
          }
          candidates = behind;
          continue;
        }
        const end = this.cacheEnd;
        await this.fetchOnce();
        candidates = this.followers;
        // Nothing more could be read past the cache: the followers read for themselves (and
        // meet the same outcome as any reader).
        if (this.cacheEnd === end && !this.dropped) {
          for (const follower of this.followers) {
            if (follower.offset >= end) this.unfollow(follower);
          }
        }
      }
    } catch (error) {
      for (const follower of this.followers) this.unfollow(follower, { cause: error });
    } finally {
      this.pushing = false;
    }
  }

  /**
   * Delivers the answer at `follower`'s offset (cached), made once per round for all who share
   * it; returns whether the follower still follows.
   */
  private pushTo(follower: Follower, answers: SharedAnswers, next: number): boolean {
    try {
      let answer = answers.find(follower);
      if (answer === undefined) {
        const slice = this.slice(follower.offset, follower.limits);
        const encoded = follower.encode(slice, Math.max(next, slice.nextOffset));
        answer = answers.add(follower, slice, encoded);
      }
      const delivery = follower.deliver(answer.encoded, answer.bytes);
      if (delivery !== "declined") follower.offset = answer.nextOffset;
      if (delivery === "more") return true;
      this.unfollow(follower);
    } catch (error) {
      this.unfollow(follower, { cause: error });
    }
    return false;
  }

  /**
   * Committed records from `offset` (which must be in [lowest, next)) as wire bytes; records
   * behind the cache are read into one of `buffers` when given (see WireSlice.release).
   */
  async read(offset: number, limits: ConsumeLimits, buffers?: BufferPool): Promise<WireSlice> {
    for (;;) {
      const first = this.chunks[0]?.first ?? this.cacheEnd;
      if (offset < first || this.dropped) return readWire(this.topic, offset, limits, buffers);
      if (offset < this.cacheEnd) return this.slice(offset, limits);
      if (offset >= this.topic.log.nextOffset) {
        throw new TidelogError("out_of_range", `offset ${offset} is not committed yet`, {
          requested: offset,
          lowest: this.topic.log.lowestOffset,
          next: this.topic.log.nextOffset,
        });
      }
      await this.fetchOnce();
    }
  }

  /** Reads what was committed past the cache, once for all who ask meanwhile. */
  private fetchOnce(): Promise<void> {
    this.fetching ??= this.fetch().finally(() => {
      this.fetching = undefined;
    });
    return this.fetching;
  }

  /** Reads what was committed past the cache into one new chunk. */
  private async fetch(): Promise<void> {
    const from = this.cacheEnd;
    const stored = await this.topic.log.readRange(from, {
      maxRecords: this.options.fetchRecordsMax,
      maxBytes: this.options.fetchBytesMax,
    });
    if (this.dropped || from !== this.cacheEnd || stored.length === 0) return;
    const wire = encodeRecordsWire(stored);
    this.chunks.push({ ...wire, first: from, end: from + stored.length });
    this.cacheEnd = from + stored.length;
    this.cachedBytes += wire.bytes.length;
    this.account(wire.bytes.length);
    while (this.chunks.length > 1 && this.cachedBytes > this.options.cacheBytesMax) {
      this.evictOldest();
    }
  }

  /** Drops the oldest cached chunk; returns whether there was one. */
  evictOldest(): boolean {
    const oldest = this.chunks.shift();
    if (oldest === undefined) return false;
    this.cachedBytes -= oldest.bytes.length;
    this.account(-oldest.bytes.length);
    return true;
  }

  /** Up to the limits from `offset` (cached), across consecutive chunks. */
  private slice(offset: number, limits: ConsumeLimits): WireSlice {
    let index = this.chunks.length - 1;
    while (this.chunks[index]!.first > offset) index--;
    const parts: Buffer[] = [];
    let records = 0;
    let bytes = 0;
    let at = offset;
    while (
      index < this.chunks.length &&
      records < limits.maxRecords &&
      (records === 0 || bytes < limits.maxBytes)
    ) {
      const chunk = this.chunks[index]!;
      const start = at - chunk.first;
      const startByte = start === 0 ? 0 : chunk.ends[start - 1]!;
      let stop = start;
      // The same rule as Log.readRange: at least one record, then while under both limits.
      while (
        stop < chunk.ends.length &&
        records < limits.maxRecords &&
        (records === 0 || bytes < limits.maxBytes)
      ) {
        bytes += chunk.payloadEnds[stop]! - (stop === 0 ? 0 : chunk.payloadEnds[stop - 1]!);
        stop++;
        records++;
      }
      parts.push(chunk.bytes.subarray(startByte, chunk.ends[stop - 1]));
      at = chunk.first + stop;
      index++;
    }
    return {
      bytes: parts.length === 1 ? parts[0]! : Buffer.concat(parts),
      records,
      nextOffset: at,
    };
  }
}

/** One consumer's handle on a topic's tail: wait for records, read them as wire bytes. */
export class TailReader {
  private tail: TopicTail;
  waitOffset = Number.POSITIVE_INFINITY;
  private pending: (() => void) | undefined;
  private following: Follower | undefined;
  private closed = false;
  private readonly onAbort = () => this.release();

  /** The Raft index that created the topic read (undefined: not known, an older snapshot's). */
  private readonly createdIndex: number | undefined;

  constructor(
    private readonly tails: TopicTails,
    readonly name: string,
    private readonly signal: AbortSignal,
  ) {
    this.tail = tails.attach(name);
    this.createdIndex = tails.createdIndex(name);
    signal.addEventListener("abort", this.onAbort, { once: true });
  }

  /**
   * The topic's current bounds; not_found once it is gone, or replaced by another topic of that
   * name (deleted and created again). The same topic swapped in by a snapshot is followed.
   */
  bounds(): { name: string; lowestOffset: number; nextOffset: number } {
    this.current();
    return {
      name: this.name,
      lowestOffset: this.tail.lowestOffset,
      nextOffset: this.tail.nextOffset,
    };
  }

  /**
   * Committed records from `offset` ([lowest, next)) as Record wire bytes. Call the slice's
   * release(), when it has one, once its bytes were serialized: a catch-up behind the cache then
   * reuses its answer buffers.
   */
  read(offset: number, limits: ConsumeLimits): Promise<WireSlice> {
    return this.current().read(offset, limits, this.tails.answerBuffers);
  }

  /** Resolves once a record at `offset` is committed, the topic is gone, or the signal aborts. */
  wait(offset: number): Promise<void> {
    if (this.signal.aborted || this.closed) return Promise.resolve();
    const tail = this.current();
    if (tail.nextOffset > offset) return Promise.resolve();
    this.waitOffset = offset;
    return new Promise<void>((resolve) => {
      this.pending = resolve;
      tail.waiting.add(this);
    });
  }

  /**
   * Follows the topic from `offset` (normally its committed end, where a reader would wait):
   * every commit is pushed, up to `limits` per answer, through `deliver`, once the tail has read
   * it (one read for all followers, then all of them in one pass), until `deliver` answers "full"
   * (it took that answer but can take no more now) or "declined" (it did not take it), the
   * follower falls behind the cache, the topic is gone, the signal aborts or the reader is
   * closed. `deliver` is told the bytes of records each answer was made from. Resolves with the
   * offset after the last answer taken: read (or wait) from there on; rejects if the log read, `encode` or
   * `deliver` throws. `encode` makes an answer from a slice and the topic's committed end; it
   * must be pure: followers at the same offset with the same limits and the same `encode` share
   * one answer. One follow at a time per reader.
   */
  follow<A>(
    offset: number,
    limits: ConsumeLimits,
    encode: AnswerEncoder<A>,
    deliver: (answer: A, bytes: number) => Delivery,
  ): Promise<number> {
    assert(this.following === undefined, "TailReader.follow: already following");
    if (this.signal.aborted || this.closed) return Promise.resolve(offset);
    const tail = this.current();
    return new Promise<number>((resolve, reject) => {
      const follower: Follower = {
        offset,
        limits,
        encode,
        deliver: deliver as (answer: unknown, bytes: number) => Delivery,
        stop: (reached) => {
          this.following = undefined;
          resolve(reached);
        },
        fail: (error) => {
          this.following = undefined;
          reject(error);
        },
      };
      this.following = follower;
      tail.follow(follower);
    });
  }

  /** Resolves a pending wait or ends a follow (called by the tail, on abort and on close). */
  release(): void {
    if (this.following !== undefined) this.tail.unfollow(this.following);
    this.tail.waiting.delete(this);
    this.waitOffset = Number.POSITIVE_INFINITY;
    const resolve = this.pending;
    this.pending = undefined;
    resolve?.();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.signal.removeEventListener("abort", this.onAbort);
    this.release();
    this.tails.detach(this.tail);
  }

  private current(): TopicTail {
    const refusal = this.tails.refusal();
    if (refusal !== undefined) throw refusal;
    if (this.tail.dropped && !this.closed) {
      // A follower applies a delete, a create and appends in one batch when it catches up: its
      // reader never sees the topic missing, and must not read on into another topic's offsets.
      const createdIndex = this.tails.createdIndex(this.name);
      if (
        this.createdIndex !== undefined &&
        createdIndex !== undefined &&
        createdIndex !== this.createdIndex
      ) {
        throw new TidelogError(
          "not_found",
          `topic ${JSON.stringify(this.name)} was deleted (a topic of that name was created again)`,
          { topic: this.name },
        );
      }
      const next = this.tails.attach(this.name);
      this.tails.detach(this.tail);
      this.tail = next;
    }
    return this.tail;
  }
}

/** The tails of this node's topics that have readers. */
export class TopicTails {
  private readonly tails = new Map<string, TopicTail>();
  /**
   * Answer buffers of the readers' reads behind the caches, reused once released: a catch-up
   * reuses a few warm buffers instead of a fresh 1.2 MB one per answer, whose pages fault on
   * first touch and whose external memory drives the GC (bench/README.md, catch-up).
   */
  readonly answerBuffers = new BufferPool(answerBuffersHeldBytesMax);
  private cachedBytesValue = 0;
  private readonly account = (deltaBytes: number) => {
    this.cachedBytesValue += deltaBytes;
    if (deltaBytes > 0 && this.cachedBytesValue > this.options.nodeCacheBytesMax) this.trim();
  };

  constructor(
    private readonly machine: TopicStateMachine,
    private readonly options: TailOptions = defaultTailOptions,
    /**
     * Why this node serves no reads now (it was removed, say), or undefined: readers fail with it
     * at their next step; refuseAll() wakes them to take it.
     */
    readonly refusal: () => Error | undefined = () => undefined,
  ) {
    // Deleted or replaced topics (also by a snapshot) drop their tail and wake its readers.
    machine.onChange(() => {
      for (const [name, tail] of this.tails) {
        if (machine.registry.get(name) !== tail.topic) {
          this.tails.delete(name);
          tail.drop();
        }
      }
    });
  }

  /**
   * Wakes every waiting and following reader, to meet `refusal()` at its next step: a stream
   * ends with that error instead of waiting for commits that will not come.
   */
  refuseAll(): void {
    for (const tail of this.tails.values()) tail.releaseAll();
  }

  /** The Raft index of the entry that created topic `name`, when known. */
  createdIndex(name: string): number | undefined {
    return this.machine.createdIndex(name);
  }

  /** A reader of `name` (not_found when it does not exist); close it when done. */
  open(name: string, signal: AbortSignal): TailReader {
    return new TailReader(this, name, signal);
  }

  /** Records from `offset` as wire bytes, from the cache when the topic has one. */
  read(name: string, offset: number, limits: ConsumeLimits): Promise<WireSlice> {
    const tail = this.tails.get(name);
    if (tail !== undefined && !tail.dropped) return tail.read(offset, limits);
    return readWire(this.machine.registry.require(name), offset, limits);
  }

  /** @internal */
  attach(name: string): TopicTail {
    const topic = this.machine.registry.require(name);
    let tail = this.tails.get(name);
    if (tail === undefined || tail.topic !== topic) {
      tail?.drop();
      tail = new TopicTail(topic, this.options, this.account);
      this.tails.set(name, tail);
    }
    tail.readers++;
    return tail;
  }

  /** @internal */
  detach(tail: TopicTail): void {
    tail.readers--;
    if (tail.readers > 0) return;
    if (this.tails.get(tail.topic.name) === tail) this.tails.delete(tail.topic.name);
    tail.drop();
  }

  /** Tails with readers (for tests). */
  get size(): number {
    return this.tails.size;
  }

  /** Encoded bytes cached across all topics. */
  get cachedBytes(): number {
    return this.cachedBytesValue;
  }

  /** Evicts oldest chunks, one per topic in turn, until the node-wide bound holds. */
  private trim(): void {
    while (this.cachedBytesValue > this.options.nodeCacheBytesMax) {
      let evicted = false;
      for (const tail of this.tails.values()) {
        if (this.cachedBytesValue <= this.options.nodeCacheBytesMax) return;
        evicted = tail.evictOldest() || evicted;
      }
      if (!evicted) return;
    }
  }
}

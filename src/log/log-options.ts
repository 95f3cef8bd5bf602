// Limits of one log, named with their units. Validated when a log opens.
import { TidelogError } from "../errors.js";

export interface LogOptions {
  /** A segment's store rolls over once it reaches this size. */
  segmentBytesMax: number;
  /** A segment's index capacity (12 bytes per record). */
  indexBytesMax: number;
  /** Offset of the first record when the log is created empty. */
  initialOffset: number;
  /** Encoded bytes waiting to be written; an append beyond it fails with resource_exhausted. */
  appendQueueBytesMax: number;
  /** Queued appends are coalesced into one write of at most this many bytes. */
  writeBytesMax: number;
  /**
   * An fdatasync of the active segment starts in the background once this many bytes were
   * written since the last one began (0: only on sync(), rolls and close).
   */
  backgroundSyncBytes: number;
  /**
   * Zeros are written (and synced in the background) ahead of the active segment's records, this
   * many bytes at a time, so that a synced append changes no file metadata (0: none; see store.ts).
   */
  zeroFillBytes: number;
  /**
   * Takes room for `bytes` more of zeros (above the node's reserve: the disk-space guard), or
   * answers false: a fill it refuses is skipped until the next segment. Taken, it answers what to
   * call once the zeros are written (or failed): until then the guard counts them as coming, so
   * its estimate of free space does not run ahead of the disk.
   */
  zeroFillRoom: (bytes: number) => (() => void) | false;
  /**
   * Whether the log records its lowest offset in a file (start-offset.ts) whenever retention or a
   * truncation moves it, so that a lost first segment is found at open (data_loss) instead of
   * being taken for retention. Topic logs do; the Raft log, whose start the snapshot gives, does not.
   */
  keepsStartOffset: boolean;
}

export const defaultLogOptions: LogOptions = {
  segmentBytesMax: 64 * 1024 * 1024,
  indexBytesMax: 10 * 1024 * 1024,
  initialOffset: 0,
  appendQueueBytesMax: 64 * 1024 * 1024,
  // 1 MiB writes, not 4: with many appends queued, the next write goes to the kernel while the
  // callers of the last one encode their next batches (a 4 MiB group took the whole queue, so
  // encoding and writing took turns). The raw baseline writes 1 MiB blocks too.
  writeBytesMax: 1024 * 1024,
  backgroundSyncBytes: 8 * 1024 * 1024,
  zeroFillBytes: 0,
  zeroFillRoom: () => () => undefined,
  keepsStartOffset: true,
};

export function resolveLogOptions(options: Partial<LogOptions> = {}): LogOptions {
  const resolved = { ...defaultLogOptions, ...options };
  const atLeast = (name: keyof LogOptions, min: number) => {
    const value = resolved[name];
    if (!(Number.isSafeInteger(value) && (value as number) >= min))
      throw new TidelogError("invalid_argument", `log options: ${name} must be ≥ ${min}`);
  };
  atLeast("segmentBytesMax", 64);
  atLeast("indexBytesMax", 12);
  atLeast("initialOffset", 0);
  atLeast("appendQueueBytesMax", 1024);
  atLeast("writeBytesMax", 1024);
  atLeast("backgroundSyncBytes", 0);
  atLeast("zeroFillBytes", 0);
  return resolved;
}

// Positioned I/O on a raw file descriptor, one promise per call, over the callback API of node:fs.
//
// The store's hot path is one write and one fdatasync per synced batch. `FileHandle` wraps each
// call in more promise and bookkeeping layers (reference counting, an async function around the
// request): on tmpfs a write + fdatasync pair of 11,200 B took 7–13 µs longer through it than
// through these calls (6–11 µs more CPU), a fifth of the pair (bench/README.md, "Where the
// 100 B × 100 sync gap went").
import * as fs from "node:fs";

function settle<T>(resolve: (value: T) => void, reject: (error: unknown) => void) {
  return (error: NodeJS.ErrnoException | null, value: T) => {
    if (error === null) resolve(value);
    else reject(error);
  };
}

export function openFd(path: string, flags: number, mode: number): Promise<number> {
  return new Promise((resolve, reject) => fs.open(path, flags, mode, settle(resolve, reject)));
}

export function fileSize(fd: number): Promise<number> {
  return new Promise((resolve, reject) =>
    fs.fstat(fd, (error, stats) => (error === null ? resolve(stats.size) : reject(error))),
  );
}

/**
 * Writes of up to this many bytes (a 1 KiB × 100 batch is 103,600) are made on the calling thread:
 * pwritev into the page cache takes microseconds, while libuv's thread pool costs a hand-off and
 * a wake-up, more than the write itself when a small batch is appended and synced, and far more
 * when the machine is busy. Appends with a sync each went from 0.91–1.13 to 1.06–1.51 of the raw
 * write + fdatasync rate of the same bytes / 1.2 (bench/README.md, "Small writes on the calling
 * thread"). Larger writes (over ~30 µs of copying) still go to the pool, so that one append does
 * not hold the event loop for long.
 */
const inlineWriteBytesMax = 128 * 1024;

/**
 * One pwritev(2): resolves with the bytes written (possibly fewer than asked). Buffers of at most
 * inlineWriteBytesMax together are written before this returns.
 */
export function writevAt(
  fd: number,
  buffers: readonly NodeJS.ArrayBufferView[],
  position: number,
): Promise<number> {
  let bytes = 0;
  for (const buffer of buffers) bytes += buffer.byteLength;
  if (bytes <= inlineWriteBytesMax) {
    try {
      return Promise.resolve(fs.writevSync(fd, buffers, position));
    } catch (error) {
      return Promise.reject(error);
    }
  }
  return new Promise((resolve, reject) =>
    fs.writev(fd, buffers, position, settle(resolve, reject)),
  );
}

/** One pwrite(2) of data[offset, offset + length) at `position`: resolves with the bytes written. */
export function writeAt(
  fd: number,
  data: Uint8Array,
  offset: number,
  length: number,
  position: number,
): Promise<number> {
  return new Promise((resolve, reject) =>
    fs.write(fd, data, offset, length, position, settle(resolve, reject)),
  );
}

/** One pread(2) into buffer[offset, offset + length): resolves with the bytes read. */
export function readAt(
  fd: number,
  buffer: Uint8Array,
  offset: number,
  length: number,
  position: number,
): Promise<number> {
  return new Promise((resolve, reject) =>
    fs.read(fd, buffer, offset, length, position, settle(resolve, reject)),
  );
}

/** Zeros to copy from, never written to: zero fills write at most this much per call. */
export const zeros = Buffer.alloc(1024 * 1024);

/** Writes zeros over [from, to) of `fd` on the calling thread: the blocks are taken, or it throws. */
export function writeZerosSync(fd: number, from: number, to: number): void {
  for (let at = from; at < to; )
    at += fs.writeSync(fd, zeros, 0, Math.min(zeros.length, to - at), at);
}

export function fdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, settle(resolve, reject)));
}

export function ftruncate(fd: number, size: number): Promise<void> {
  return new Promise((resolve, reject) => fs.ftruncate(fd, size, settle(resolve, reject)));
}

export function closeFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.close(fd, settle(resolve, reject)));
}

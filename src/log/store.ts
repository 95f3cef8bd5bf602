// The store of one segment: an append-only file of frames (see frame.ts).
//
// Not safe for concurrent writers: the log serialises appends, truncations and close. Reads may
// run concurrently with appends; they only read below `size`, which grows after a write returns.
//
// The file is a raw descriptor driven through fd-io.ts (not a FileHandle, whose extra layers cost
// ~10 µs per synced batch). What FileHandle did for us is kept: close() waits until every call in
// flight on the descriptor has returned, so none can run on a closed (or reused) descriptor.
//
// The file may run past the records with zeros written ahead (`zeroFill`): an append into blocks
// already written (and synced) changes no file metadata, so its fdatasync flushes data alone,
// without an ext4 journal commit. Readers and recovery see only `size`; a zero tail is no frame
// (recovery cuts it, see segment.ts), and `trim` cuts it before the segment is sealed.
import { constants } from "node:fs";
import { assert } from "../assert.js";
import { TidelogError } from "../errors.js";
import {
  closeFd,
  fdatasync,
  fileSize,
  ftruncate,
  openFd,
  readAt,
  writeAt,
  writevAt,
  zeros,
} from "./fd-io.js";
import { mapFsError } from "./fs-errors.js";

/** Buffers per writev call (IOV_MAX on Linux is 1024). */
const iovecsMax = 1024;

/** `parts` without their first `bytes` bytes. */
function dropBytes(parts: readonly Buffer[], bytes: number): readonly Buffer[] {
  let index = 0;
  while (index < parts.length && bytes >= parts[index]!.length) bytes -= parts[index++]!.length;
  if (index === parts.length) return [];
  const rest = parts.slice(index);
  rest[0] = rest[0]!.subarray(bytes);
  return rest;
}

export class Store {
  /** The open descriptor; -1 once closed. */
  private fd: number;
  private bytes: number;
  /** The file's size: `bytes`, or more when zeros were written ahead. */
  private fileBytes: number;
  /** Calls on the descriptor that have not returned; close() waits for them. */
  private callsInFlight = 0;
  private callsDrained: (() => void) | undefined;
  private closing: Promise<void> | undefined;

  private constructor(
    readonly path: string,
    fd: number,
    size: number,
  ) {
    this.fd = fd;
    this.bytes = size;
    this.fileBytes = size;
  }

  static async open(path: string): Promise<Store> {
    const fd = await openFd(path, constants.O_RDWR | constants.O_CREAT, 0o644).catch((error) => {
      throw mapFsError(error, `open ${path}`);
    });
    try {
      return new Store(path, fd, await fileSize(fd));
    } catch (error) {
      await closeFd(fd).catch(() => undefined);
      throw mapFsError(error, `stat ${path}`);
    }
  }

  /** Bytes written to the file (through the OS, not necessarily durable). */
  get size(): number {
    return this.bytes;
  }

  /** The file's size: `size` plus the zeros written ahead of it. */
  get filledSize(): number {
    return this.fileBytes;
  }

  /**
   * Writes `parts` at the end with positioned writev calls (looping on short writes). On failure the
   * file is cut back to its previous size and the error is rethrown: a failed append leaves no
   * partial frame behind. The first writev is submitted before this returns.
   */
  async append(parts: readonly Buffer[]): Promise<number> {
    const fd = this.begin();
    const position = this.bytes;
    let total = 0;
    for (const part of parts) total += part.length;
    let written = 0;
    try {
      let remaining = parts;
      while (written < total) {
        const batch = remaining.length > iovecsMax ? remaining.slice(0, iovecsMax) : remaining;
        const bytesWritten = await writevAt(fd, batch, position + written);
        assert(bytesWritten > 0, "write returned 0 bytes");
        written += bytesWritten;
        remaining = dropBytes(remaining, bytesWritten);
      }
    } catch (error) {
      await ftruncate(fd, position).catch(() => undefined);
      this.fileBytes = position;
      throw mapFsError(error, `append to ${this.path}`);
    } finally {
      this.end();
    }
    this.bytes = position + total;
    this.fileBytes = Math.max(this.fileBytes, this.bytes);
    return position;
  }

  /**
   * Writes zeros from the file's end up to `end` (not synced), a MiB at a time; `filledSize`
   * grows as each write returns. The caller keeps appends below `filledSize` until this settles.
   * A failure (a full disk) keeps the zeros written so far: the file is not cut, as an append may
   * be writing below them.
   */
  async zeroFill(end: number): Promise<void> {
    const fd = this.begin();
    try {
      while (this.fileBytes < end) {
        const length = Math.min(zeros.length, end - this.fileBytes);
        const written = await writeAt(fd, zeros, 0, length, this.fileBytes);
        assert(written > 0, "write returned 0 bytes");
        this.fileBytes += written;
      }
    } catch (error) {
      throw mapFsError(error, `zero-fill ${this.path}`);
    } finally {
      this.end();
    }
  }

  /** Cuts zeros written ahead, so that the file ends with its last record (no append in flight). */
  async trim(): Promise<void> {
    if (this.fileBytes === this.bytes) return;
    const fd = this.begin();
    try {
      await ftruncate(fd, this.bytes);
    } catch (error) {
      throw mapFsError(error, `trim ${this.path}`);
    } finally {
      this.end();
    }
    this.fileBytes = this.bytes;
  }

  /**
   * Overwrites `data` at `position`, inside the written bytes. The store is append-only except for
   * this: a suffix truncation inside a batch rewrites the last kept frame's header (see Segment).
   */
  async rewrite(position: number, data: Uint8Array): Promise<void> {
    assert(position >= 0 && position + data.length <= this.bytes, "store rewrite beyond size");
    const fd = this.begin();
    let written = 0;
    try {
      while (written < data.length) {
        const bytesWritten = await writeAt(
          fd,
          data,
          written,
          data.length - written,
          position + written,
        );
        assert(bytesWritten > 0, "write returned 0 bytes");
        written += bytesWritten;
      }
    } catch (error) {
      throw mapFsError(error, `rewrite in ${this.path}`);
    } finally {
      this.end();
    }
  }

  /** Reads `length` bytes at `position`; the range must lie below `size`. */
  async read(position: number, length: number): Promise<Buffer> {
    assert(position >= 0 && position + length <= this.bytes, "store read beyond size");
    const fd = this.begin();
    const buffer = Buffer.allocUnsafe(length);
    try {
      let done = 0;
      while (done < length) {
        const bytesRead = await readAt(fd, buffer, done, length - done, position + done);
        if (bytesRead === 0) {
          // Written before, gone now: the file was cut under this node.
          throw new TidelogError(
            "data_loss",
            `${this.path} ends at ${position + done}, inside what was written to it`,
            { path: this.path },
          );
        }
        done += bytesRead;
      }
      return buffer;
    } catch (error) {
      throw mapFsError(error, `read ${this.path}`);
    } finally {
      this.end();
    }
  }

  /** The durability point: everything appended before the call is on disk when it resolves. */
  async sync(): Promise<void> {
    const fd = this.begin();
    try {
      await fdatasync(fd);
    } catch (error) {
      throw mapFsError(error, `fdatasync ${this.path}`);
    } finally {
      this.end();
    }
  }

  /** Cuts the file to `size` bytes (the caller made sure no read covers the cut range). */
  async truncate(size: number): Promise<void> {
    assert(size >= 0 && size <= this.bytes, "store truncate beyond size");
    const fd = this.begin();
    try {
      await ftruncate(fd, size);
    } finally {
      this.end();
    }
    this.bytes = size;
    this.fileBytes = size;
  }

  /** Closes the file once every call in flight on it has returned. */
  close(): Promise<void> {
    this.closing ??= this.closeWhenDrained();
    return this.closing;
  }

  private async closeWhenDrained(): Promise<void> {
    while (this.callsInFlight > 0) {
      await new Promise<void>((resolve) => {
        this.callsDrained = resolve;
      });
    }
    const fd = this.fd;
    this.fd = -1;
    await closeFd(fd);
  }

  /** The descriptor for a call that has begun (every begin() is paired with an end()). */
  private begin(): number {
    assert(this.fd >= 0, `store ${this.path} used after close`);
    this.callsInFlight++;
    return this.fd;
  }

  private end(): void {
    this.callsInFlight--;
    if (this.callsInFlight === 0) this.callsDrained?.();
  }
}

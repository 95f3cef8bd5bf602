// The store of one segment: an append-only file of frames (see frame.ts).
//
// Not safe for concurrent writers: the log serialises appends, truncations and close. Reads may
// run concurrently with appends; they only read below `size`, which grows after a write returns.
import { constants } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { assert } from "../assert.js";
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
  private handle: FileHandle | undefined;
  private bytes: number;
  private readsInFlight = 0;
  private readsDrained: (() => void) | undefined;

  private constructor(
    readonly path: string,
    handle: FileHandle,
    size: number,
  ) {
    this.handle = handle;
    this.bytes = size;
  }

  static async open(path: string): Promise<Store> {
    const handle = await open(path, constants.O_RDWR | constants.O_CREAT, 0o644).catch((error) => {
      throw mapFsError(error, `open ${path}`);
    });
    const { size } = await handle.stat();
    return new Store(path, handle, size);
  }

  /** Bytes written to the file (through the OS, not necessarily durable). */
  get size(): number {
    return this.bytes;
  }

  /**
   * Writes `parts` at the end with positioned writev calls (looping on short writes). On failure the
   * file is cut back to its previous size and the error is rethrown: a failed append leaves no
   * partial frame behind.
   */
  async append(parts: readonly Buffer[]): Promise<number> {
    const handle = this.live();
    const position = this.bytes;
    let total = 0;
    for (const part of parts) total += part.length;
    let written = 0;
    try {
      let remaining = parts;
      while (written < total) {
        const batch = remaining.length > iovecsMax ? remaining.slice(0, iovecsMax) : remaining;
        const { bytesWritten } = await handle.writev(batch, position + written);
        assert(bytesWritten > 0, "write returned 0 bytes");
        written += bytesWritten;
        remaining = dropBytes(remaining, bytesWritten);
      }
    } catch (error) {
      await handle.truncate(position).catch(() => undefined);
      throw mapFsError(error, `append to ${this.path}`);
    }
    this.bytes = position + total;
    return position;
  }

  /**
   * Overwrites `data` at `position`, inside the written bytes. The store is append-only except for
   * this: a suffix truncation inside a batch rewrites the last kept frame's header (see Segment).
   */
  async rewrite(position: number, data: Uint8Array): Promise<void> {
    assert(position >= 0 && position + data.length <= this.bytes, "store rewrite beyond size");
    const handle = this.live();
    let written = 0;
    try {
      while (written < data.length) {
        const { bytesWritten } = await handle.write(
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
    }
  }

  /** Reads `length` bytes at `position`; the range must lie below `size`. */
  async read(position: number, length: number): Promise<Buffer> {
    assert(position >= 0 && position + length <= this.bytes, "store read beyond size");
    const handle = this.live();
    const buffer = Buffer.allocUnsafe(length);
    this.readsInFlight++;
    try {
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(buffer, done, length - done, position + done);
        if (bytesRead === 0)
          throw new Error(`unexpected end of ${this.path} at ${position + done}`);
        done += bytesRead;
      }
      return buffer;
    } catch (error) {
      throw mapFsError(error, `read ${this.path}`);
    } finally {
      this.readsInFlight--;
      if (this.readsInFlight === 0) this.readsDrained?.();
    }
  }

  /** The durability point: everything appended before the call is on disk when it resolves. */
  async sync(): Promise<void> {
    await this.live()
      .datasync()
      .catch((error: unknown) => {
        throw mapFsError(error, `fdatasync ${this.path}`);
      });
  }

  /** Cuts the file to `size` bytes (the caller made sure no read covers the cut range). */
  async truncate(size: number): Promise<void> {
    assert(size >= 0 && size <= this.bytes, "store truncate beyond size");
    await this.live().truncate(size);
    this.bytes = size;
  }

  /** Closes the file after in-flight reads finish. */
  async close(): Promise<void> {
    const handle = this.handle;
    if (handle === undefined) return;
    while (this.readsInFlight > 0) {
      await new Promise<void>((resolve) => {
        this.readsDrained = resolve;
      });
    }
    this.handle = undefined;
    await handle.close();
  }

  private live(): FileHandle {
    assert(this.handle !== undefined, `store ${this.path} used after close`);
    return this.handle;
  }
}

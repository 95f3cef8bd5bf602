// Test helpers for the storage engine: a fresh temporary directory per test, removed afterwards,
// and payloads whose content is derived from a seed so a read can be checked byte for byte.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";

const created: string[] = [];

// Removed once the whole file has run: a test's own `after` hooks (closing logs) run first, in
// the order registered, so a per-test hook registered here would delete files still open.
after(async () => {
  await Promise.all(created.map((directory) => rm(directory, { recursive: true, force: true })));
});

/** A new empty directory under os.tmpdir(), removed when the test file ends. */
export async function temporaryDirectory(prefix = "tidelog-log-"): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), prefix));
  created.push(directory);
  return directory;
}

/** `size` bytes that depend on `seed` (the seed is written first when there is room). */
export function payloadFor(seed: number, size: number): Buffer {
  const buffer = Buffer.alloc(size);
  for (let i = 0; i < size; i++) buffer[i] = (seed * 31 + i * 7 + (seed >>> 8)) & 0xff;
  if (size >= 6) {
    buffer.writeUInt32LE(seed >>> 0, 0);
    buffer.writeUInt16LE(size & 0xffff, 4);
  }
  return buffer;
}

/** Payloads for offsets [first, first + count), sized by `sizeOf`. */
export function payloadsFor(
  first: number,
  count: number,
  sizeOf: (offset: number) => number = () => 100,
): Buffer[] {
  return Array.from({ length: count }, (_, i) => payloadFor(first + i, sizeOf(first + i)));
}

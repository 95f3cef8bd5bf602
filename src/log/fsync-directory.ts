import { open, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

/** Makes a directory entry (a created, renamed or deleted file) durable. */
export async function fsyncDirectory(path: string): Promise<void> {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Replaces `path` with `contents`, atomically and durably: a temporary file, synced, renamed over
 * it, and its directory synced. A crash leaves the old file or the new one, never a part.
 */
export async function writeFileDurably(path: string, contents: string | Uint8Array): Promise<void> {
  const temporary = `${path}.tmp`;
  await writeFile(temporary, contents, { flush: true });
  await rename(temporary, path);
  await fsyncDirectory(dirname(path));
}

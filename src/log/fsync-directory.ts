import { open } from "node:fs/promises";

/** Makes a directory entry (a created, renamed or deleted file) durable. */
export async function fsyncDirectory(path: string): Promise<void> {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

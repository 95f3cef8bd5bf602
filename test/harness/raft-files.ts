// Reads what a node keeps of its Raft state on disk, for tests that check compaction and
// snapshot installs from outside the process.
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * Where a node's Raft log on disk starts (the base offset of its first segment, see
 * src/log/segment.ts) and the index of its latest snapshot (src/raft/driver/disk-storage.ts).
 * A node that installed a leader's snapshot restarts its log right after it (and may have taken
 * snapshots of its own since); one that received every entry starts at 2 (after the bootstrap
 * snapshot at 1): it keeps 10,000 entries behind its own snapshots.
 */
export async function installedSnapshot(
  dataDirectory: string,
): Promise<{ entriesStart: number; snapshotIndex: number }> {
  const names = await readdir(join(dataDirectory, "raft", "entries"));
  const bases = names
    .map((name) => /^(\d{20})\.store$/.exec(name)?.[1])
    .filter((base) => base !== undefined)
    .map(Number);
  const body = await readFile(join(dataDirectory, "raft", "snapshot"));
  const headerLength = body.readUInt32LE(0);
  const metadata = JSON.parse(body.toString("utf8", 4, 4 + headerLength)) as { index: number };
  return { entriesStart: Math.min(...bases), snapshotIndex: metadata.index };
}

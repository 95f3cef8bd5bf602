// A log's lowest offset, kept in `<log>/start-offset` (checksummed text) whenever retention or a
// truncation moves it, as Kafka keeps a log-start-offset checkpoint. Written, durably, before the
// segments below it are deleted: at open, segments starting above it mean segments were lost
// (data_loss, where a missing first segment used to pass for retention), and segments wholly
// below it are a deletion a crash interrupted, finished then.
import { readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { TidelogError } from "../errors.js";
import { checkedContents, withChecksum } from "./checksummed-file.js";
import { isNotFound, mapFsError } from "./fs-errors.js";
import { fsyncDirectory } from "./fsync-directory.js";

const fileName = "start-offset";

/** The recorded start, or undefined when the log has none (new, or written before it existed). */
export async function readStartOffset(directory: string): Promise<number | undefined> {
  const path = join(directory, fileName);
  let file: Buffer;
  try {
    file = await readFile(path);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw mapFsError(error, `reading ${path}`);
  }
  const text = checkedContents(file, path).toString("latin1").trim();
  const offset = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(offset)) {
    throw new TidelogError("data_loss", `${path} is damaged: not an offset`);
  }
  return offset;
}

/** Records `offset` as the log's start, durably. */
export async function writeStartOffset(directory: string, offset: number): Promise<void> {
  const path = join(directory, fileName);
  try {
    await writeFile(`${path}.tmp`, withChecksum(Buffer.from(`${offset}\n`, "latin1")), {
      flush: true,
    });
    await rename(`${path}.tmp`, path);
    await fsyncDirectory(directory);
  } catch (error) {
    throw mapFsError(error, `writing ${path}`);
  }
}

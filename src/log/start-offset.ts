// A log's lowest offset, kept in `<log>/start-offset` (checksummed text) whenever retention or a
// truncation moves it, as Kafka keeps a log-start-offset checkpoint. Written, durably, before the
// segments below it are deleted: at open, segments starting above it mean segments were lost
// (data_loss, where a missing first segment used to pass for retention), and segments wholly
// below it are a deletion a crash interrupted, finished then.
import { join } from "node:path";
import { TidelogError } from "../errors.js";
import { readChecksummedFile, writeChecksummedFile } from "./checksummed-file.js";
import { mapFsError } from "./fs-errors.js";

const fileName = "start-offset";

/** The recorded start, or undefined when the log has none (new, or written before it existed). */
export async function readStartOffset(directory: string): Promise<number | undefined> {
  const path = join(directory, fileName);
  const contents = await readChecksummedFile(path);
  if (contents === undefined) return undefined;
  const text = contents.toString("latin1").trim();
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
    await writeChecksummedFile(path, Buffer.from(`${offset}\n`, "latin1"));
  } catch (error) {
    throw mapFsError(error, `writing ${path}`);
  }
}

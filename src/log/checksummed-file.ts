// Small files whose damage would change what a node serves, and that no frame CRC covers: the
// Raft snapshot's file (the checkpoint each topic is cut back to on restart) and a topic's
// configuration (its retention). Each ends with a line naming the CRC32C of everything before it,
// so that a flipped bit is found when the file is read, never acted on. The line is text, so a
// JSON file stays readable:
//
//   <contents>crc32c 1a2b3c4d\n
//
// Files written before the line existed have no such ending and are read as they are: a
// damaged ending leaves one that no longer parses as its format, which is caught there.
import { readFile } from "node:fs/promises";
import { TidelogError } from "../errors.js";
import { crc32c } from "./crc32c.js";
import { isNotFound, mapFsError } from "./fs-errors.js";
import { writeFileDurably } from "./fsync-directory.js";

const trailerPrefix = Buffer.from("crc32c ", "latin1");
/** `crc32c ` + 8 hex digits + `\n`. */
const trailerBytes = trailerPrefix.length + 8 + 1;
const hexDigits = /^[0-9a-f]{8}$/;

/** `contents` followed by its checksum line. */
export function withChecksum(contents: Uint8Array): Buffer {
  const trailer = `crc32c ${crc32c(contents).toString(16).padStart(8, "0")}\n`;
  return Buffer.concat([contents, Buffer.from(trailer, "latin1")]);
}

/**
 * The contents of a file written by `withChecksum`, checked; a file without the checksum line
 * (written by an older tidelog) as it is. A wrong checksum is `data_loss` naming `what`.
 */
export function checkedContents(file: Buffer, what: string): Buffer {
  if (file.length < trailerBytes || file[file.length - 1] !== 0x0a) return file;
  const at = file.length - trailerBytes;
  if (!file.subarray(at, at + trailerPrefix.length).equals(trailerPrefix)) return file;
  const digits = file.toString("latin1", at + trailerPrefix.length, file.length - 1);
  if (!hexDigits.test(digits)) return file;
  const contents = file.subarray(0, at);
  const actual = crc32c(contents);
  if (actual !== Number.parseInt(digits, 16)) {
    throw new TidelogError(
      "data_loss",
      `${what} is damaged: its checksum is ${digits} but its contents give ${actual.toString(16).padStart(8, "0")}`,
    );
  }
  return contents;
}

/** Writes `contents` and its checksum line to `path`, atomically and durably. */
export function writeChecksummedFile(path: string, contents: Uint8Array): Promise<void> {
  return writeFileDurably(path, withChecksum(contents));
}

/**
 * The checked contents of `path` (checkedContents, `what` naming it in errors), or undefined
 * when there is no such file.
 */
export async function readChecksummedFile(
  path: string,
  what: string = path,
): Promise<Buffer | undefined> {
  let file: Buffer;
  try {
    file = await readFile(path);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw mapFsError(error, `reading ${path}`);
  }
  return checkedContents(file, what);
}

// Damages one record of a topic on a stopped node, as bit rot would: one byte in the middle of
// the record's payload in its oldest sealed segment flips, so the frame's CRC no longer matches.
// Frames are `payloadLength u32 · crc32c u32 · batchPosition u16 · batchRemaining u16 · payload`
// (src/log/frame.ts); segment files are named by their base offset (src/log/segment.ts).
import { open, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

const frameHeaderBytes = 12;

/**
 * Flips a payload byte of record `pick(count)` (0-based within the segment) of the oldest segment
 * of `topic` under `dataDirectory`, which must be sealed (a later one exists). Returns the
 * damaged record's offset and the file.
 */
export async function damageSealedRecord(
  dataDirectory: string,
  topic: string,
  pick: (count: number) => number,
): Promise<{ offset: number; file: string }> {
  const directory = join(dataDirectory, "topics", topic);
  const stores = (await readdir(directory)).filter((name) => name.endsWith(".store")).sort();
  if (stores.length < 2)
    throw new Error(`${directory} holds no sealed segment: ${stores.join(", ")}`);
  const file = join(directory, stores[0]!);
  const base = Number(stores[0]!.slice(0, -".store".length));
  const bytes = await readFile(file);
  const frames: { position: number; length: number }[] = [];
  for (let at = 0; at + frameHeaderBytes <= bytes.length; ) {
    const length = bytes.readUInt32LE(at);
    if (length === 0 && bytes.readUInt32LE(at + 4) === 0) break; // zeros past the records
    if (at + frameHeaderBytes + length > bytes.length) break;
    frames.push({ position: at, length });
    at += frameHeaderBytes + length;
  }
  const index = pick(frames.length);
  const frame = frames[index];
  if (frame === undefined || frame.length === 0)
    throw new Error(`${file}: no record ${index} with a payload (${frames.length} frames)`);
  const position = frame.position + frameHeaderBytes + Math.floor(frame.length / 2);
  const handle = await open(file, "r+");
  try {
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, position);
    byte[0] = byte[0]! ^ 0x01;
    await handle.write(byte, 0, 1, position);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return { offset: base + index, file };
}

// Raft's hard state (term, vote, commit) on disk: two fixed slots written alternately, each with a
// sequence number and a CRC32C. A torn write damages one slot only; loading takes the valid slot
// with the highest sequence number. A write is one pwrite, plus fdatasync when it must be durable.
// The pwrite goes through the store's writevAt (src/log/fd-io.ts), which makes a write this small on
// the calling thread: nearly every Ready moves the commit index, and a commit's Ready (apply and
// answer) would otherwise wait for a hand-off to libuv's pool.
//
//   slot: sequence f64 · term f64 · commit f64 · voteLength u16 · vote utf8 · … · crc32c u32 (last 4 bytes)
import { constants } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { assert } from "../../assert.js";
import { crc32c } from "../../log/crc32c.js";
import { writevAt } from "../../log/fd-io.js";
import type { HardState } from "../index.js";

const slotBytes = 512;
const voteBytesMax = slotBytes - 8 * 3 - 2 - 4;

export class HardStateFile {
  private sequence: number;
  private constructor(
    private readonly handle: FileHandle,
    sequence: number,
    readonly loaded: HardState,
    /** Whether a valid slot was read: false for a new file, an empty one, or both slots damaged. */
    readonly found: boolean,
  ) {
    this.sequence = sequence;
  }

  static async open(path: string): Promise<HardStateFile> {
    const handle = await open(path, constants.O_RDWR | constants.O_CREAT, 0o644);
    const buffer = Buffer.alloc(slotBytes * 2);
    await handle.read(buffer, 0, buffer.length, 0);
    let best: { sequence: number; state: HardState } | undefined;
    for (let slot = 0; slot < 2; slot++) {
      const decoded = decodeSlot(buffer.subarray(slot * slotBytes, (slot + 1) * slotBytes));
      if (decoded !== undefined && (best === undefined || decoded.sequence > best.sequence))
        best = decoded;
    }
    return new HardStateFile(
      handle,
      best?.sequence ?? 0,
      best?.state ?? { term: 0, vote: null, commit: 0 },
      best !== undefined,
    );
  }

  /** Writes `state`; durable when the promise resolves if `sync`. */
  async write(state: HardState, sync: boolean): Promise<void> {
    this.sequence++;
    const slot = Buffer.alloc(slotBytes);
    let at = slot.writeDoubleLE(this.sequence, 0);
    at = slot.writeDoubleLE(state.term, at);
    at = slot.writeDoubleLE(state.commit, at);
    const vote = Buffer.from(state.vote ?? "", "utf8");
    assert(vote.length <= voteBytesMax, "vote id too long");
    at = slot.writeUInt16LE(state.vote === null ? 0xffff : vote.length, at);
    vote.copy(slot, at);
    slot.writeUInt32LE(crc32c(slot, 0, slotBytes - 4), slotBytes - 4);
    const written = await writevAt(this.handle.fd, [slot], (this.sequence % 2) * slotBytes);
    assert(written === slotBytes, "hard state slot written short");
    if (sync) await this.handle.datasync();
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

function decodeSlot(slot: Buffer): { sequence: number; state: HardState } | undefined {
  if (crc32c(slot, 0, slotBytes - 4) !== slot.readUInt32LE(slotBytes - 4)) return undefined;
  const sequence = slot.readDoubleLE(0);
  if (sequence <= 0) return undefined;
  const term = slot.readDoubleLE(8);
  const commit = slot.readDoubleLE(16);
  const voteLength = slot.readUInt16LE(24);
  const vote = voteLength === 0xffff ? null : slot.toString("utf8", 26, 26 + voteLength);
  return { sequence, state: { term, vote, commit } };
}

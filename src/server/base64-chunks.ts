// Decodes a byte stream of base64 text as it arrives, for gRPC-Web text requests. The stream may
// be independently encoded chunks put end to end (the gRPC-Web protocol allows it), so padding
// may appear inside it: the text is read in groups of 4 characters, each group with padding ends
// a run, and the next character starts a fresh group. Node's own decoder stops at the first "="
// and skips characters outside the alphabet; here those are errors. At most 3 characters are
// held between chunks.
//
// Runs without padding go to Node's decoder when long; short runs and padded groups are decoded
// here, into one output buffer: a body of 1-byte pieces, each padded ("AQ=="), once made a Buffer
// and a string per group, and four 8 MB of them held a leader's loop for 15–23 s (outside probe Q4).

/** The text is not base64 (a character outside the alphabet, misplaced padding, a cut group). */
export class Base64Error extends Error {}

const padding = 0x3d; // "="
/** Each byte's 6-bit value; -1 outside the alphabet, -2 for padding. */
const values = new Int8Array(256).fill(-1);
for (const [i, c] of [
  ..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
].entries()) {
  values[c.charCodeAt(0)] = i;
}
values[padding] = -2;
const outsideAlphabet = /[^A-Za-z0-9+/]/;
/** Runs shorter than this are decoded here: Node's decoder costs a string and a call each. */
const nativeRunMin = 256;

export class Base64ChunkDecoder {
  /** The bytes of an incomplete group, carried to the next chunk. */
  private carry: Buffer = Buffer.alloc(0);
  /** Characters read before `carry`, for error positions. */
  private position = 0;

  /** The bytes of the groups that `chunk` completes (possibly none). */
  push(chunk: Uint8Array): Buffer {
    const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const text = this.carry.length === 0 ? bytes : Buffer.concat([this.carry, bytes]);
    const whole = text.length - (text.length % 4);
    // Copied: `chunk` may be reused by its owner.
    this.carry = Buffer.from(text.subarray(whole));
    const decoded = this.decodeGroups(text, whole);
    this.position += whole;
    return decoded;
  }

  /** At the end of the stream: the last group must be complete. */
  end(): void {
    if (this.carry.length === 0) return;
    for (let i = 0; i < this.carry.length && this.carry[i] !== padding; i++) {
      if (values[this.carry[i]!]! < 0) throw this.invalid(this.carry, i);
    }
    throw new Base64Error(
      `base64 text ends inside a group of 4 characters (${this.carry.length} left over)`,
    );
  }

  /** Decodes text[0, end), `end` a multiple of 4 and text[0] the start of a group. */
  private decodeGroups(text: Buffer, end: number): Buffer {
    const out = Buffer.allocUnsafe((end / 4) * 3);
    let written = 0;
    let start = 0;
    while (start < end) {
      const pad = text.indexOf(padding, start);
      // The run before the group that holds the next padding (or to the end) has none.
      const runEnd = pad === -1 || pad >= end ? end : pad - ((pad - start) % 4);
      if (runEnd - start >= nativeRunMin) {
        const run = text.toString("latin1", start, runEnd);
        const bad = outsideAlphabet.exec(run);
        if (bad !== null) throw this.invalid(text, start + bad.index);
        written += out.write(run, written, "base64");
      } else {
        for (let at = start; at < runEnd; at += 4) written = this.group(text, at, out, written);
      }
      if (runEnd === end) break;
      written = this.group(text, runEnd, out, written);
      start = runEnd + 4;
    }
    return out.subarray(0, written);
  }

  /** Decodes the group at text[at, at + 4) into out[written...]; returns the new length. */
  private group(text: Buffer, at: number, out: Buffer, written: number): number {
    const a = values[text[at]!]!;
    const b = values[text[at + 1]!]!;
    const c = values[text[at + 2]!]!;
    const d = values[text[at + 3]!]!;
    if (a === -1) throw this.invalid(text, at);
    if (a === -2) throw this.misplaced(at);
    if (b === -1) throw this.invalid(text, at + 1);
    if (b === -2) throw this.misplaced(at + 1);
    if (c === -1) throw this.invalid(text, at + 2);
    if (d === -1) throw this.invalid(text, at + 3);
    out[written++] = (a << 2) | (b >> 4);
    if (c === -2) {
      if (d !== -2) throw this.misplaced(at + 2);
      return written;
    }
    out[written++] = ((b & 15) << 4) | (c >> 2);
    if (d === -2) return written;
    out[written++] = ((c & 3) << 6) | d;
    return written;
  }

  private invalid(text: Buffer, at: number): Base64Error {
    return new Base64Error(
      `invalid base64 character ${JSON.stringify(text.toString("latin1", at, at + 1))} at character ${this.position + at}`,
    );
  }

  private misplaced(at: number): Base64Error {
    return new Base64Error(`misplaced base64 padding at character ${this.position + at}`);
  }
}

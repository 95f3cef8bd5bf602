// Decodes a byte stream of base64 text as it arrives, for gRPC-Web text requests. The stream may
// be independently encoded chunks put end to end (the gRPC-Web protocol allows it), so padding
// may appear inside it: the text is read in groups of 4 characters, each group with padding ends
// a run, and the next character starts a fresh group. Node's own decoder stops at the first "="
// and skips characters outside the alphabet; here those are errors. At most 3 characters are
// held between chunks.

/** The text is not base64 (a character outside the alphabet, misplaced padding, a cut group). */
export class Base64Error extends Error {}

const outsideAlphabet = /[^A-Za-z0-9+/]/;

export class Base64ChunkDecoder {
  /** The characters of an incomplete group, carried to the next chunk. */
  private carry = "";
  /** Characters read before `carry`, for error positions. */
  private position = 0;

  /** The bytes of the groups that `chunk` completes (possibly none). */
  push(chunk: Uint8Array): Buffer {
    const text =
      this.carry + Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString("latin1");
    const whole = text.length - (text.length % 4);
    this.carry = text.slice(whole);
    const bytes = this.decodeGroups(text, whole);
    this.position += whole;
    return bytes;
  }

  /** At the end of the stream: the last group must be complete. */
  end(): void {
    if (this.carry.length === 0) return;
    const pad = this.carry.indexOf("=");
    this.checkAlphabet(this.carry, 0, pad === -1 ? this.carry.length : pad);
    throw new Base64Error(
      `base64 text ends inside a group of 4 characters (${this.carry.length} left over)`,
    );
  }

  /** Decodes text[0, end), `end` a multiple of 4 and text[0] the start of a group. */
  private decodeGroups(text: string, end: number): Buffer {
    const runs: Buffer[] = [];
    let start = 0;
    while (start < end) {
      const pad = text.indexOf("=", start);
      if (pad === -1 || pad >= end) {
        this.checkAlphabet(text, start, end);
        runs.push(Buffer.from(text.slice(start, end), "base64"));
        break;
      }
      // Padding is the 3rd and 4th characters of a group ("xx==") or the 4th ("xxx=").
      const inGroup = pad % 4;
      if (inGroup < 2 || (inGroup === 2 && text[pad + 1] !== "=")) {
        throw new Base64Error(`misplaced base64 padding at character ${this.position + pad}`);
      }
      this.checkAlphabet(text, start, pad);
      const groupEnd = pad - inGroup + 4;
      runs.push(Buffer.from(text.slice(start, groupEnd), "base64"));
      start = groupEnd;
    }
    return runs.length === 1 ? runs[0]! : Buffer.concat(runs);
  }

  private checkAlphabet(text: string, start: number, end: number): void {
    const invalid = outsideAlphabet.exec(text.slice(start, end));
    if (invalid === null) return;
    throw new Base64Error(
      `invalid base64 character ${JSON.stringify(invalid[0])} at character ` +
        `${this.position + start + invalid.index}`,
    );
  }
}

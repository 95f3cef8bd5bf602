// The optional native batch CRC (native/crc32c, built by `npm install` where a C compiler is at
// hand): CRC-32C of many ranges of one buffer in one call, with the CPU's crc32 instruction. It
// is used only when it loaded and the CPU has the instruction; TIDELOG_CRC32C=portable turns it
// off (tests run both ways). Without it, src/log/crc32c.ts computes the same values itself.
import { createRequire } from "node:module";

export interface NativeCrc32c {
  readonly hardware: boolean;
  ranges(
    data: Uint8Array,
    starts: Int32Array,
    ends: Int32Array,
    count: number,
    out: Uint32Array,
  ): void;
}

/** Where the addon lands, from dist/src/log (compiled) back to the repository root. */
const addonPath = "../../../native/crc32c/build/Release/crc32c.node";

function load(): NativeCrc32c | undefined {
  if (process.env.TIDELOG_CRC32C === "portable") return undefined;
  try {
    const addon = createRequire(import.meta.url)(addonPath) as NativeCrc32c;
    return addon.hardware === true ? addon : undefined;
  } catch {
    return undefined; // not built here (no compiler at install time): the portable code serves
  }
}

export const nativeCrc32c: NativeCrc32c | undefined = load();

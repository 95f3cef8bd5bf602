// Request decompression for the Connect routes, in place of connect-node's compressionGzip: the
// same name, codes and messages, but each decompression takes a turn of a process-wide
// DecompressionGate, so what compression bombs can hold at once is bounded by the gate
// (activeMax × (read limit + one chunk + gzip's 32 KiB window)), however many arrive.
// Brotli is not accepted (docs/DECISIONS.md): its decoder's window alone is up to 16 MiB.
//
// Output is read in chunks of `chunkBytes` and the decoder is destroyed as soon as the output
// passes the limit: a bomb costs at most the limit plus one chunk of output before it is refused.
// Answers are never compressed (compressMinBytes in app.ts), so compress() is zlib's own.
import { promisify } from "node:util";
import * as zlib from "node:zlib";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Compression } from "@connectrpc/connect/protocol";
import type { DecompressionGate } from "./decompression-gate.js";

/** Output read per step of a decoder. */
export const chunkBytes = 64 * 1024;

const gzip = promisify(zlib.gzip);

export function boundedGzip(gate: DecompressionGate): Compression {
  return {
    name: "gzip",
    compress: async (bytes) => arrayBufferBacked(await gzip(bytes)),
    decompress: (bytes, readMaxBytes) =>
      bytes.length === 0
        ? Promise.resolve(new Uint8Array(0))
        : gate.run(() => gunzipAtMost(bytes, readMaxBytes)),
  };
}

/** The gunzipped `bytes`, refused (resource_exhausted) as soon as they pass `limit` bytes. */
export function gunzipAtMost(bytes: Uint8Array, limit: number): Promise<Uint8Array<ArrayBuffer>> {
  return new Promise((resolve, reject) => {
    const decoder = zlib.createGunzip({ chunkSize: chunkBytes });
    const chunks: Buffer[] = [];
    let total = 0;
    decoder.on("data", (chunk: Buffer) => {
      total += chunk.length;
      if (total > limit) {
        chunks.length = 0;
        decoder.destroy();
        reject(
          new ConnectError(
            `message is larger than configured readMaxBytes ${limit} after decompression`,
            Code.ResourceExhausted,
          ),
        );
        return;
      }
      chunks.push(chunk);
    });
    decoder.on("error", (error) => reject(decompressionError(error)));
    decoder.on("end", () => resolve(arrayBufferBacked(Buffer.concat(chunks, total))));
    decoder.end(bytes);
  });
}

/**
 * A decoder's failure as connect-node words it: corrupt or cut-short input is the client's
 * (invalid_argument; a cut-short one too, as patches/@connectrpc+connect-node+2.1.2.patch has
 * it), anything else internal.
 */
function decompressionError(error: unknown): ConnectError {
  const code = (error as { code?: unknown }).code;
  const clients = code === "Z_DATA_ERROR" || code === "Z_BUF_ERROR";
  return new ConnectError(
    "decompression failed",
    clients ? Code.InvalidArgument : Code.Internal,
    undefined,
    undefined,
    error,
  );
}

/** Connect wants bytes on an ArrayBuffer; Node's pool and zlib's output are. */
function arrayBufferBacked(bytes: Buffer): Uint8Array<ArrayBuffer> {
  if (bytes.buffer instanceof ArrayBuffer) return bytes as Uint8Array<ArrayBuffer>;
  return new Uint8Array(bytes);
}

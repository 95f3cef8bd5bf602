// The machine's own storage limits, measured in a directory on the disk the nodes use: how many
// small write + fdatasync pairs per second (the ceiling of unbatched durable appends) and
// sequential write throughput (the ceiling of batched ones).
import { open, rm } from "node:fs/promises";
import { join } from "node:path";
import { LatencySamples, type LatencySummary } from "./latency-samples.js";

export interface FdatasyncResult {
  writeBytes: number;
  syncs: number;
  syncsPerSecond: number;
  latency: LatencySummary;
}

export interface SequentialWriteResult {
  chunkBytes: number;
  bytes: number;
  /** Bytes written and fdatasynced per second, in MB (10^6 bytes). */
  megabytesPerSecond: number;
}

export interface Bounds {
  durationMs: number;
  countMax: number;
}

/** Appends `writeBytes` and fdatasyncs, one after another, until either bound is reached. */
export async function measureFdatasync(
  directory: string,
  bounds: Bounds,
  writeBytes = 100,
): Promise<FdatasyncResult> {
  const path = join(directory, "fdatasync.bench");
  const file = await open(path, "w");
  const latency = new LatencySamples();
  const chunk = Buffer.alloc(writeBytes, 0x61);
  try {
    const began = performance.now();
    const deadline = began + bounds.durationMs;
    let position = 0;
    while (latency.count < bounds.countMax && performance.now() < deadline) {
      const start = performance.now();
      await file.write(chunk, 0, chunk.length, position);
      await file.datasync();
      latency.add(performance.now() - start);
      position += chunk.length;
    }
    const seconds = (performance.now() - began) / 1000;
    return {
      writeBytes,
      syncs: latency.count,
      syncsPerSecond: latency.count / seconds,
      latency: latency.summary(),
    };
  } finally {
    await file.close();
    await rm(path, { force: true });
  }
}

/** Writes `chunkBytes` chunks sequentially up to `bytesMax` or the time bound, then fdatasyncs. */
export async function measureSequentialWrite(
  directory: string,
  bounds: { durationMs: number; bytesMax: number },
  chunkBytes = 1024 * 1024,
): Promise<SequentialWriteResult> {
  const path = join(directory, "sequential.bench");
  const file = await open(path, "w");
  const chunk = Buffer.alloc(chunkBytes, 0x62);
  try {
    const began = performance.now();
    const deadline = began + bounds.durationMs;
    let bytes = 0;
    while (bytes + chunkBytes <= bounds.bytesMax && performance.now() < deadline) {
      await file.write(chunk, 0, chunk.length, bytes);
      bytes += chunkBytes;
    }
    await file.datasync();
    const seconds = (performance.now() - began) / 1000;
    return { chunkBytes, bytes, megabytesPerSecond: bytes / 1e6 / seconds };
  } finally {
    await file.close();
    await rm(path, { force: true });
  }
}

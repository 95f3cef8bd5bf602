// Where a snapshot's topic records are fetched from: the node that sent the snapshot first, then
// any other member. Every replica holds the same record at the same offset (offsets are assigned
// at apply), so any member that still holds a range serves the same records as the sender; one
// that does not (behind the snapshot, the topic deleted and created again, a damaged record)
// refuses or fails, and the next is tried. A member that fails part-way is followed by the next
// from the first record not yet received. The first that serves the range to its end is the last
// one asked.
import { ConnectError } from "@connectrpc/connect";
import { TidelogError } from "../errors.js";
import type { StoredRecord } from "../log/log.js";
import type { RateLimitedLog } from "../obs/rate-limited-log.js";
import type { SnapshotFetcher } from "./topic-state-machine.js";

export interface SnapshotSource {
  id: string;
  address: string;
}

/**
 * The sender (at `senderAddress`), then the other members that `lists` name, in order, without
 * this node itself and without repeats.
 */
export function snapshotSources(
  sender: SnapshotSource,
  self: string,
  lists: Iterable<readonly [id: string, address: string]>[],
): SnapshotSource[] {
  const sources = [sender];
  const seen = new Set([sender.id, self]);
  const addresses = new Set([sender.address]);
  for (const list of lists) {
    for (const [id, address] of list) {
      if (seen.has(id) || addresses.has(address)) continue;
      seen.add(id);
      addresses.add(address);
      sources.push({ id, address });
    }
  }
  return sources;
}

type FetchRequest = Omit<Parameters<SnapshotFetcher>[0], "from" | "address">;

/**
 * Streams [fromOffset, endOffset) of a topic from the first of `sources` that serves it, checking
 * that the records come contiguous. Nothing received yet, a source may start past `fromOffset`
 * (its retention dropped records; the caller decides, as with the sender alone); once records
 * came, the next source must go on from the first one missing. Each source's failure is logged
 * (rate-limited) and the next is tried; when none serves, the error names every attempt.
 */
export async function* fetchFromAny(
  fetch: SnapshotFetcher,
  sources: readonly SnapshotSource[],
  request: FetchRequest,
  warnings: RateLimitedLog,
): AsyncIterable<StoredRecord[]> {
  if (request.fromOffset >= request.endOffset) return;
  let next: number | undefined;
  const failures: string[] = [];
  for (const [i, source] of sources.entries()) {
    const fromOffset = next ?? request.fromOffset;
    try {
      for await (const batch of fetch({
        ...request,
        from: source.id,
        address: source.address,
        fromOffset,
      })) {
        if (batch.length === 0) continue;
        checkContiguous(batch, next);
        next = batch.at(-1)!.offset + 1;
        yield batch;
      }
      if (next === undefined || next >= request.endOffset) return;
      throw new Error(`its stream ended at ${next}`);
    } catch (error) {
      const reason = describe(error);
      failures.push(`${source.id} (${source.address}): ${reason}`);
      const after = sources[i + 1];
      warnings.warn(
        "snapshot-source-failed",
        after === undefined
          ? `no member could serve topic ${request.topic} for snapshot ${request.snapshotIndex}`
          : `snapshot fetch of topic ${request.topic} from ${source.id} failed; fetching it from ${after.id}`,
        {
          topic: request.topic,
          from: source.id,
          fromOffset: next ?? request.fromOffset,
          endOffset: request.endOffset,
          reason,
        },
      );
    }
  }
  throw new TidelogError(
    "unavailable",
    `snapshot ${request.snapshotIndex}: no member served topic ${request.topic} [${next ?? request.fromOffset}, ${request.endOffset}): ${failures.join("; ")}`,
  );
}

/** Refuses a batch that does not go on from `next` (when records came already) one by one. */
function checkContiguous(batch: readonly StoredRecord[], next: number | undefined): void {
  let expected = next ?? batch[0]!.offset;
  for (const record of batch) {
    if (record.offset !== expected)
      throw new Error(`it sent offset ${record.offset} where ${expected} was due`);
    expected++;
  }
}

function describe(error: unknown): string {
  if (error instanceof ConnectError) return error.message;
  if (error instanceof TidelogError) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

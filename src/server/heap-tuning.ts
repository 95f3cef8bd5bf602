// How a serving node asks V8 to size its old generation. A node keeps its JavaScript heap small
// (~20 MB live) while it holds and turns over tens of MB of entries and records, and V8 sets the
// next full collection at a growing factor of the live size that it lowers when collections are
// frequent: at 1 KiB records, followers ran a full mark-compact every 0.1–0.3 s, which was the
// largest share of their CPU. A fixed factor of 4 (V8's own upper bound for the dynamic factor)
// spaces them out; the external-memory trigger and the idle-time memory reducer still apply, so
// memory still returns when load stops. Measured in bench/README.md ("Full collections").
import v8 from "node:v8";

/** Old-generation growth after a full collection, in percent of the live size. */
export const heapGrowingPercent = 300;

/** Applies the node's heap settings; call before the node starts (they are process-wide). */
export function tuneHeapForServing(): void {
  v8.setFlagsFromString(`--heap-growing-percent=${heapGrowingPercent}`);
}

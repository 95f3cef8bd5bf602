import { findNotLeader } from "../../src/api/errors/index.js";

// Test harness: a history of produces and reads against a cluster, and a checker that holds it
// against the final topic logs of every node.
//
// Every record value a test sends is unique (producer · request · index), so a value pins down
// the request it came from. The checker verifies, for every node:
//   - the log has no gaps: offsets run from 0 up, one by one;
//   - replicas are identical: the same values at the same offsets, the same length;
//   - every acknowledged record is present exactly once, at the offset it was acknowledged at,
//     and a request's records at contiguous offsets;
//   - a request the server answered with "not written" left nothing behind; one whose outcome is
//     unknown (timeout, lost connection) left all of its records or none, never a duplicate;
//   - no value appears that no producer sent;
//   - real-time order: a request acknowledged before another was sent has lower offsets;
//   - every read a consumer saw is a slice of the final log (the same value at the same offset).

/** What a produce request ended with. */
export type Outcome =
  | { kind: "pending" }
  | { kind: "acknowledged"; offsets: number[]; ackAtMs: number }
  /** The server said the records were not written (not the leader, refused, aborted). */
  | { kind: "rejected"; error: string; endAtMs: number }
  /** The outcome is unknown (deadline, connection lost, shutting down): written or not. */
  | { kind: "unknown"; error: string; endAtMs: number };

export interface ProduceOperation {
  readonly id: number;
  readonly producer: string;
  /** The node the request was sent to. */
  readonly via: string;
  readonly topic: string;
  readonly values: readonly string[];
  readonly sentAtMs: number;
  outcome: Outcome;
}

export interface ReadObservation {
  readonly via: string;
  readonly topic: string;
  readonly records: readonly { offset: number; value: string }[];
}

/** Final topic logs of one node: topic → the values at offsets 0, 1, 2, … */
export type NodeLogs = Map<string, string[]>;

export interface CheckReport {
  problems: string[];
  acknowledgedRequests: number;
  acknowledgedRecords: number;
  rejectedRequests: number;
  unknownRequests: number;
  /** Of the unknown ones, how many turned out written. */
  unknownWritten: number;
  reads: number;
  readRecords: number;
  /** Records compared across every node's logs. */
  recordsChecked: number;
}

const problemsMax = 50;

export class History {
  private readonly operations: ProduceOperation[] = [];
  private readonly reads: ReadObservation[] = [];

  /** Records a request about to be sent; settle it with `acknowledge`, `reject` or `unknown`. */
  send(producer: string, via: string, topic: string, values: string[]): ProduceOperation {
    const operation: ProduceOperation = {
      id: this.operations.length,
      producer,
      via,
      topic,
      values,
      sentAtMs: performance.now(),
      outcome: { kind: "pending" },
    };
    this.operations.push(operation);
    return operation;
  }

  acknowledge(operation: ProduceOperation, offsets: number[]): void {
    operation.outcome = { kind: "acknowledged", offsets, ackAtMs: performance.now() };
  }

  fail(operation: ProduceOperation, error: unknown): void {
    const description = describeError(error);
    operation.outcome = isDefinitelyNotWritten(error)
      ? { kind: "rejected", error: description, endAtMs: performance.now() }
      : { kind: "unknown", error: description, endAtMs: performance.now() };
  }

  read(via: string, topic: string, records: { offset: number; value: string }[]): void {
    if (records.length > 0) this.reads.push({ via, topic, records });
  }

  get produceOperations(): readonly ProduceOperation[] {
    return this.operations;
  }

  /** Acknowledged records per topic so far. */
  acknowledgedRecords(topic?: string): number {
    let count = 0;
    for (const operation of this.operations)
      if (
        operation.outcome.kind === "acknowledged" &&
        (topic === undefined || operation.topic === topic)
      )
        count += operation.values.length;
    return count;
  }

  /** Error messages of failed requests, most frequent first (for reports). */
  errorSummary(): string[] {
    const counts = new Map<string, number>();
    for (const { outcome } of this.operations) {
      if (outcome.kind !== "rejected" && outcome.kind !== "unknown") continue;
      const key = `${outcome.kind}: ${outcome.error.slice(0, 120)}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return [...counts].sort((a, b) => b[1] - a[1]).map(([key, count]) => `${count} × ${key}`);
  }

  /** Checks the history against every node's final logs (all nodes expected converged). */
  check(logsByNode: Map<string, NodeLogs>): CheckReport {
    const problems: string[] = [];
    const problem = (text: string) => {
      if (problems.length < problemsMax) problems.push(text);
      else if (problems.length === problemsMax) problems.push("… more problems left out");
    };
    const report: CheckReport = {
      problems,
      acknowledgedRequests: 0,
      acknowledgedRecords: 0,
      rejectedRequests: 0,
      unknownRequests: 0,
      unknownWritten: 0,
      reads: this.reads.length,
      readRecords: 0,
      recordsChecked: 0,
    };
    for (const operation of this.operations) {
      if (operation.outcome.kind === "pending")
        problem(
          `request ${operation.id} (${operation.producer} via ${operation.via}) never settled`,
        );
    }
    const nodes = [...logsByNode.keys()];
    if (nodes.length === 0) {
      problem("no node logs to check");
      return report;
    }
    const topics = new Set<string>(this.operations.map((operation) => operation.topic));
    for (const logs of logsByNode.values()) for (const topic of logs.keys()) topics.add(topic);

    // Replicas identical (same length, same values at the same offsets).
    const reference = nodes[0]!;
    for (const topic of topics) {
      const expected = logsByNode.get(reference)!.get(topic) ?? [];
      for (const node of nodes.slice(1)) {
        const actual = logsByNode.get(node)!.get(topic) ?? [];
        if (actual.length !== expected.length)
          problem(
            `${topic}: ${node} holds ${actual.length} records, ${reference} ${expected.length}`,
          );
        const common = Math.min(actual.length, expected.length);
        for (let offset = 0; offset < common; offset++) {
          if (actual[offset] !== expected[offset]) {
            problem(
              `${topic}@${offset}: ${node} holds ${JSON.stringify(actual[offset])}, ${reference} ${JSON.stringify(expected[offset])} (first divergence)`,
            );
            break;
          }
        }
      }
    }

    for (const [node, logs] of logsByNode) {
      // Where each value sits on this node (the log arrays have no holes: offsets are indexes,
      // the readers verified contiguity while reading).
      const where = new Map<string, { topic: string; offsets: number[] }>();
      for (const [topic, values] of logs) {
        report.recordsChecked += values.length;
        values.forEach((value, offset) => {
          const seen = where.get(value);
          if (seen === undefined) where.set(value, { topic, offsets: [offset] });
          else {
            seen.offsets.push(offset);
            problem(
              `${node}: ${JSON.stringify(value)} appears more than once (${topic}@${seen.offsets.join(",")})`,
            );
          }
        });
      }
      const sent = new Set<string>();
      for (const operation of this.operations) {
        for (const value of operation.values) sent.add(value);
        const { outcome } = operation;
        const found = operation.values.map((value) => where.get(value));
        const present = found.filter((entry) => entry !== undefined).length;
        for (const entry of found)
          if (entry !== undefined && entry.topic !== operation.topic)
            problem(
              `${node}: request ${operation.id} for ${operation.topic} landed in ${entry.topic}`,
            );
        if (outcome.kind === "acknowledged") {
          outcome.offsets.forEach((offset, i) => {
            const value = operation.values[i]!;
            const at = found[i]?.offsets[0];
            if (at === undefined)
              problem(
                `${node}: LOST acknowledged ${JSON.stringify(value)} (${operation.topic}@${offset}, ${operation.producer} via ${operation.via})`,
              );
            else if (at !== offset)
              problem(
                `${node}: acknowledged ${JSON.stringify(value)} at ${operation.topic}@${offset} but found at ${at}`,
              );
          });
          if (outcome.offsets.length !== operation.values.length)
            problem(
              `request ${operation.id}: ${operation.values.length} records, ${outcome.offsets.length} offsets`,
            );
          outcome.offsets.forEach((offset, i) => {
            if (offset !== outcome.offsets[0]! + i)
              problem(
                `request ${operation.id}: offsets ${outcome.offsets.join(",")} are not contiguous`,
              );
          });
        } else if (outcome.kind === "rejected") {
          if (present > 0)
            problem(
              `${node}: request ${operation.id} was answered "${outcome.error}" yet ${present} of its records are present`,
            );
        } else if (outcome.kind === "unknown") {
          if (present !== 0 && present !== operation.values.length)
            problem(
              `${node}: request ${operation.id} (unknown outcome) is partly present: ${present} of ${operation.values.length}`,
            );
          if (present > 0) {
            const offsets = found.map((entry) => entry!.offsets[0]!);
            offsets.forEach((offset, i) => {
              if (offset !== offsets[0]! + i)
                problem(
                  `${node}: request ${operation.id} written at non-contiguous offsets ${offsets.join(",")}`,
                );
            });
          }
        }
      }
      for (const value of where.keys())
        if (!sent.has(value)) problem(`${node}: ${JSON.stringify(value)} was never sent`);
    }

    // Counts, from the reference node.
    const referenceWhere = new Set<string>();
    for (const values of logsByNode.get(reference)!.values())
      for (const value of values) referenceWhere.add(value);
    for (const operation of this.operations) {
      const kind = operation.outcome.kind;
      if (kind === "acknowledged") {
        report.acknowledgedRequests++;
        report.acknowledgedRecords += operation.values.length;
      } else if (kind === "rejected") report.rejectedRequests++;
      else if (kind === "unknown") {
        report.unknownRequests++;
        if (operation.values.some((value) => referenceWhere.has(value))) report.unknownWritten++;
      }
    }

    // Real-time order, per topic: everything acknowledged before a request was sent sits lower.
    for (const topic of topics) {
      const acknowledged = this.operations.filter(
        (operation) => operation.topic === topic && operation.outcome.kind === "acknowledged",
      );
      const byAck = [...acknowledged].sort((a, b) => ackAt(a) - ackAt(b));
      const bySend = [...acknowledged].sort((a, b) => a.sentAtMs - b.sentAtMs);
      let next = 0;
      let highest: { offset: number; operation: ProduceOperation } | undefined;
      for (const operation of bySend) {
        while (next < byAck.length && ackAt(byAck[next]!) < operation.sentAtMs) {
          const before = byAck[next]!;
          const top = Math.max(...offsetsOf(before));
          if (highest === undefined || top > highest.offset)
            highest = { offset: top, operation: before };
          next++;
        }
        const low = Math.min(...offsetsOf(operation));
        if (highest !== undefined && low <= highest.offset)
          problem(
            `${topic}: request ${operation.id} (offset ${low}) was sent after request ${highest.operation.id} (offset ${highest.offset}) was acknowledged, yet sits lower`,
          );
      }
    }

    // Reads are slices of the final log.
    const finalLogs = logsByNode.get(reference)!;
    for (const read of this.reads) {
      report.readRecords += read.records.length;
      const log = finalLogs.get(read.topic) ?? [];
      read.records.forEach((record, i) => {
        if (i > 0 && record.offset !== read.records[i - 1]!.offset + 1)
          problem(
            `read via ${read.via} of ${read.topic}: offsets jump ${read.records[i - 1]!.offset} → ${record.offset}`,
          );
        if (log[record.offset] !== record.value)
          problem(
            `read via ${read.via} saw ${JSON.stringify(record.value)} at ${read.topic}@${record.offset}; the final log holds ${JSON.stringify(log[record.offset])}`,
          );
      });
    }
    return report;
  }
}

function ackAt(operation: ProduceOperation): number {
  return operation.outcome.kind === "acknowledged" ? operation.outcome.ackAtMs : Number.NaN;
}

function offsetsOf(operation: ProduceOperation): number[] {
  return operation.outcome.kind === "acknowledged" ? operation.outcome.offsets : [];
}

/** Code and message of a Connect (or other) error. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return code === undefined ? error.message : `[${String(code)}] ${error.message}`;
  }
  return String(error);
}

/**
 * True when the server said, in so many words, that nothing was written: the node is not the
 * leader (checked before proposing), the proposal was refused, the proposed entry was replaced
 * by another leader's, a stream's leadership changed, or a forwarded call found no connection
 * (a NotLeader detail, or those words). The checks then verify the claim: such a write must not
 * be in any log. Every other error (deadline, lost connection, shutdown) leaves the outcome
 * unknown.
 */
export function isDefinitelyNotWritten(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (findNotLeader(error) !== undefined) return true;
  return /proposal refused|it was not applied|were not applied|the call was not sent/.test(
    error.message,
  );
}

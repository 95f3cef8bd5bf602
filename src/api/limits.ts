// Limits of the public API, named with their units. Every one is configurable (serve flags) and
// answered with resource_exhausted when exceeded.
export interface ApiLimits {
  /** One record's value, key and headers together. */
  recordBytesMax: number;
  /** One request's records together; also bounds the bytes read for one request message. */
  requestBytesMax: number;
  /** Records in one produce request. */
  requestRecordsMax: number;
  /**
   * Record headers in one produce request, all records together. Bytes bound them only loosely
   * (an empty header takes ~6 bytes on the wire) while each costs microseconds to decode, store
   * and serve: an outside probe's 240,000 in one 938 KiB record held a leader's loop for seconds.
   */
  requestHeadersMax: number;
  /** Records in one consume response, and the default when a request asks for 0. */
  consumeRecordsMax: number;
  consumeRecordsDefault: number;
  /** Payload bytes in one consume response (at least one record is always sent). */
  consumeBytesMax: number;
  /** Concurrent streaming calls (ConsumeStream, ProduceStream, Health.Watch) on this node. */
  streamsMax: number;
  /**
   * ConsumeStream answer bytes held for clients across all streams; past it, answers shrink
   * (answer-budget.ts).
   */
  consumeHeldBytesMax: number;
  /** Produce requests of one ProduceStream being committed at once. */
  produceStreamInflightMax: number;
}

export const defaultApiLimits: ApiLimits = {
  recordBytesMax: 1024 * 1024,
  requestBytesMax: 8 * 1024 * 1024,
  requestRecordsMax: 10_000,
  requestHeadersMax: 10_000,
  consumeRecordsMax: 10_000,
  consumeRecordsDefault: 1_000,
  consumeBytesMax: 4 * 1024 * 1024,
  streamsMax: 10_000,
  consumeHeldBytesMax: 256 * 1024 * 1024,
  produceStreamInflightMax: 1_024,
};

/**
 * Bytes a binary message may take on the wire: the payload limit plus framing overhead (Raft:
 * peers read one request's entry with it). A stored record adds its framing to its bytes, and
 * 8 bytes of lengths per header: an outside probe's entry of 8 MiB of records in small headers
 * took 9.2 MB, past this bound, and never replicated.
 */
export function readMaxBytes(limits: ApiLimits): number {
  return (
    limits.requestBytesMax +
    limits.requestRecordsMax * 64 +
    limits.requestHeadersMax * 8 +
    64 * 1024
  );
}

/**
 * Bytes a client's request message may take on the wire, on every route: room for JSON, whose
 * bytes fields are base64 (4/3 of the bytes) and whose records take their field names and
 * quotes. Binary requests get the same bound; the records' own bytes are checked against the
 * limit once decoded (producer.ts), whatever the encoding.
 */
export function clientReadMaxBytes(limits: ApiLimits): number {
  return Math.ceil((limits.requestBytesMax * 4) / 3) + limits.requestRecordsMax * 128 + 64 * 1024;
}

// protobuf-es as the reference the hand-written wire code is held to (record-wire,
// record-transcoder and response-wire tests): records as it builds them from declared fields,
// and the one input it cannot represent.
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { DecodedRecord } from "../../src/cluster/broker.js";
import { type Record as RecordMessage, RecordSchema } from "../../src/gen/tidelog/v1/record_pb.js";

/**
 * protobuf-es assigns map entries on plain objects, so it drops a key named "__proto__" (the
 * hand-written code writes it; the reference cannot read it back): generators leave it out.
 */
export const notProtoKey = (key: string) => key !== "__proto__";

/** A record as protobuf-es's declared fields hold it. */
export function recordMessage(record: DecodedRecord): RecordMessage {
  return create(RecordSchema, {
    value: record.value,
    key: record.key,
    headers: record.headers,
    offset: BigInt(record.offset),
    time: timestampFromMs(record.timeMs),
  });
}

// protobuf-es as the reference the hand-written wire code is held to (record-wire,
// record-transcoder and response-wire tests): records as it builds them from declared fields
// (the JSON answers' toRecordMessage in src/api/consume-handlers.ts), and the one input it cannot
// represent.
export { toRecordMessage as recordMessage } from "../../src/api/consume-handlers.js";

/**
 * protobuf-es assigns map entries on plain objects, so it drops a key named "__proto__" (the
 * hand-written code writes it; the reference cannot read it back): generators leave it out.
 */
export const notProtoKey = (key: string) => key !== "__proto__";

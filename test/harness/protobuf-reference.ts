// protobuf-es as the reference the hand-written wire code is held to (record-wire,
// record-transcoder and response-wire tests): records as it builds them from declared fields
// (the JSON answers' toRecordMessage in src/api/consume-handlers.ts), and the one input it cannot
// represent.
export { toRecordMessage as recordMessage } from "../../src/api/consume-handlers.js";

/**
 * Headers named "__proto__" are left out of generated records: the hand-written code writes them
 * as own keys, and protobuf-es reads them back so only with our patch (docs/DECISIONS.md);
 * test/api/gateway/header-names.test.ts covers that key end to end.
 */
export const notProtoKey = (key: string) => key !== "__proto__";

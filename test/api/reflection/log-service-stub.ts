// Test helper: a tiny tidelog.v1.LogService, only so that reflection has a service to describe
// and buf curl has a method to call. Produce numbers records from 0; Consume answers nothing.
import type { ServiceImpl } from "@connectrpc/connect";
import { LogService } from "../../../src/gen/tidelog/v1/log_service_pb.js";

export { LogService };

export function createLogServiceStub(): Partial<ServiceImpl<typeof LogService>> {
  return {
    produce(request) {
      return { offsets: request.records.map((_, index) => BigInt(index)) };
    },
    consume(request) {
      return { records: [], nextOffset: request.offset, highWatermark: request.offset };
    },
  };
}

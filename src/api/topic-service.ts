// tidelog.v1.TopicService over the broker's topic operations.
import { create } from "@bufbuild/protobuf";
import { type Duration, durationFromMs, durationMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import type { Broker, TopicConfig, TopicInfo } from "../cluster/broker.js";
import { TidelogError } from "../errors.js";
import {
  CreateTopicResponseSchema,
  DeleteTopicResponseSchema,
  GetTopicResponseSchema,
  ListTopicsResponseSchema,
  type Topic,
  type TopicConfig as TopicConfigMessage,
  TopicConfigSchema,
  TopicSchema,
  type TopicService,
  UpdateTopicResponseSchema,
} from "../gen/tidelog/v1/topic_service_pb.js";
import type { TopicConfigField } from "../log/topic-registry.js";
import type { LeaderForwarder } from "./leader-forwarder.js";
import { topicOrDefault } from "./topic-or-default.js";

export function createTopicService(
  broker: Broker,
  forwarder: LeaderForwarder,
): ServiceImpl<typeof TopicService> {
  return {
    async createTopic(request, context) {
      if (forwarder.shouldForward(context)) {
        return forwarder.forward(context, (leader, options) =>
          leader.topic.createTopic(request, options),
        );
      }
      const info = await broker.createTopic(
        topicOrDefault(request.name),
        fromMessage(request.config),
      );
      return create(CreateTopicResponseSchema, { topic: toMessage(info) });
    },
    async getTopic(request) {
      return create(GetTopicResponseSchema, {
        topic: toMessage(broker.topic(topicOrDefault(request.name))),
      });
    },
    async listTopics() {
      return create(ListTopicsResponseSchema, { topics: broker.topics().map(toMessage) });
    },
    async deleteTopic(request, context) {
      if (forwarder.shouldForward(context)) {
        return forwarder.forward(context, (leader, options) =>
          leader.topic.deleteTopic(request, options),
        );
      }
      await broker.deleteTopic(topicOrDefault(request.name));
      return create(DeleteTopicResponseSchema, {});
    },
    async updateTopic(request, context) {
      if (forwarder.shouldForward(context)) {
        return forwarder.forward(context, (leader, options) =>
          leader.topic.updateTopic(request, options),
        );
      }
      // The mask is applied when the change commits, to the configuration as it is then: two
      // updates of different fields in flight together both hold.
      const paths = request.updateMask?.paths ?? [];
      const fields = paths.length === 0 ? undefined : paths.map(fieldOfPath);
      const info = await broker.updateTopic(
        topicOrDefault(request.name),
        fromMessage(request.config),
        fields,
      );
      return create(UpdateTopicResponseSchema, { topic: toMessage(info) });
    },
  };
}

/** The configuration field an update_mask path names (the request's rules allow no other). */
function fieldOfPath(path: string): TopicConfigField {
  switch (path) {
    case "retention_bytes":
      return "retentionBytes";
    case "retention":
      return "retentionMs";
    case "segment_bytes":
      return "segmentBytes";
    default:
      throw new TidelogError(
        "invalid_argument",
        `update_mask path ${JSON.stringify(path)} is not a field of TopicConfig`,
      );
  }
}

function toSafeNumber(value: bigint, field: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new TidelogError("invalid_argument", `${field} is too large`);
  }
  return Number(value);
}

function fromMessage(config: TopicConfigMessage | undefined): TopicConfig {
  if (config === undefined) return { retentionBytes: 0, retentionMs: 0, segmentBytes: 0 };
  return {
    retentionBytes: toSafeNumber(config.retentionBytes, "retention_bytes"),
    retentionMs:
      config.retention === undefined
        ? 0
        : Math.max(1, Math.round(durationMs(config.retention as Duration))),
    segmentBytes: toSafeNumber(config.segmentBytes, "segment_bytes"),
  };
}

function toMessage(info: TopicInfo): Topic {
  return create(TopicSchema, {
    name: info.name,
    config: create(TopicConfigSchema, {
      retentionBytes: BigInt(info.config.retentionBytes),
      retention: info.config.retentionMs > 0 ? durationFromMs(info.config.retentionMs) : undefined,
      segmentBytes: BigInt(info.config.segmentBytes),
    }),
    lowestOffset: BigInt(info.lowestOffset),
    nextOffset: BigInt(info.nextOffset),
    sizeBytes: BigInt(info.sizeBytes),
    segmentCount: info.segmentCount,
  });
}

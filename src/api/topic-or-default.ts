/** The topic a request names: "" means "default" everywhere in the public API. */
export const defaultTopicName = "default";

export function topicOrDefault(name: string): string {
  return name === "" ? defaultTopicName : name;
}

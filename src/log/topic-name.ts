import { TidelogError } from "../errors.js";

/** Topic names: 1–249 characters of [A-Za-z0-9._-], never "." or ".." (they name directories). */
export const topicNameLengthMax = 249;
const topicNamePattern = /^[A-Za-z0-9._-]+$/;
/** The registry's staging directories; a topic so named would be removed on the next open. */
export const creatingPrefix = ".creating-";
export const deletingPrefix = ".deleted-";

export function checkTopicName(name: string): void {
  if (name.length === 0 || name.length > topicNameLengthMax) {
    throw new TidelogError(
      "invalid_argument",
      `topic name must be 1–${topicNameLengthMax} characters, got ${name.length}`,
    );
  }
  if (!topicNamePattern.test(name) || name === "." || name === "..") {
    throw new TidelogError(
      "invalid_argument",
      `topic name ${JSON.stringify(name)} must use only [A-Za-z0-9._-] and not be "." or ".."`,
    );
  }
  if (name.startsWith(creatingPrefix) || name.startsWith(deletingPrefix)) {
    throw new TidelogError(
      "invalid_argument",
      `topic name ${JSON.stringify(name)} must not start with "${creatingPrefix}" or "${deletingPrefix}" (reserved)`,
    );
  }
}

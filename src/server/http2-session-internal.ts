// Reads state Node keeps on an HTTP/2 session under its own Symbol properties ("kHandle": the
// native session; "timeout": the idle timer). Not public API: each key is looked up by its
// description once, defensively; where it is missing, callers get undefined and do nothing.
import type { Http2Session } from "node:http2";

/** Each description's key; null once looked for and not found. */
const keys = new Map<string, symbol | null>();

/** The session's own property described `description`, if Node has one. */
export function sessionInternal<T>(session: Http2Session, description: string): T | undefined {
  let key = keys.get(description);
  if (key === undefined) {
    key =
      Object.getOwnPropertySymbols(session).find((symbol) => symbol.description === description) ??
      null;
    keys.set(description, key);
  }
  if (key === null) return undefined;
  return (session as unknown as Record<symbol, T | undefined>)[key];
}

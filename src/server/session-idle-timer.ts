// Node 20 keeps an HTTP/2 session's idle timer (session.setTimeout) running after the session is
// destroyed: the session's destroy does not clear it, and session.setTimeout(0) on a destroyed
// session returns before it would. The timer's callback is bound to the session, so every closed
// session and all it holds (its streams' state, our listeners) stays in the heap until the timer
// would have fired: with the 5-minute idle timeout, ~3-4 KB per connection for 5 minutes. A
// plain http2.createServer() with setTimeout does the same. An outside probe's preface-only
// connections, churning through the connection cap at ~1,500/s (P2), grew a leader's heap by
// ~7 MB/s; opening and closing connections did it before the cap evicted anything.
//
// The timer is the session's own `Symbol(timeout)` property (stream_base_commons.js). It is not
// public API, so it is looked up defensively; where it is missing, nothing is cleared.
import type { Http2Session } from "node:http2";
import { sessionInternal } from "./http2-session-internal.js";

/** Clears a closed session's idle timer, letting the session be collected now. */
export function clearSessionIdleTimer(session: Http2Session): void {
  const timer = sessionInternal<NodeJS.Timeout | null>(session, "timeout");
  if (timer !== undefined && timer !== null) clearTimeout(timer);
}

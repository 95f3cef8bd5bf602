// Finds HTTP/2 sessions that nghttp2 has ended by itself, which Node leaves open forever.
//
// On a connection error (a malformed frame, bad HPACK, a flood that trips one of nghttp2's limits)
// nghttp2 queues a GOAWAY and from then on wants neither to read nor to write; its contract is
// that the application then drops the connection. Node 20's native session instead stops reading
// the socket and tells JavaScript nothing: no 'error', no 'goaway', no 'close' (its JavaScript
// side only acts on a GOAWAY it receives, or on a close() or destroy() of its own). With nobody
// reading, the peer's FIN is never seen: the socket sits in CLOSE-WAIT, one file descriptor per
// such connection, until the process exits. A plain http2.createServer() leaks the same way, so
// this is not about how OnePortServer hands sockets over.
//
// The native session does answer "does nghttp2 still want to read or write?": hasPendingData(),
// the check Node makes itself before it destroys a gracefully closed session. It is not public
// API, so it is looked up defensively; where it is missing, no session is ever reported finished.
import type { Http2Session } from "node:http2";
import { sessionInternal } from "./http2-session-internal.js";

interface NativeSession {
  hasPendingData?: () => boolean;
}

/**
 * True when nghttp2 is done with the session (it wants neither to read nor to write) but the
 * session is not destroyed: only destroying it closes its socket.
 */
export function isFinishedHttp2Session(session: Http2Session): boolean {
  if (session.destroyed || session.connecting) return false;
  const handle = sessionInternal<NativeSession>(session, "kHandle");
  if (typeof handle?.hasPendingData !== "function") return false;
  return !handle.hasPendingData();
}

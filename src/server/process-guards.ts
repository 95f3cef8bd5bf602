// Process-wide policy for errors nothing else catches.
//
// @connectrpc/connect-node 2.1 destroys an idle client HTTP/2 session with an error when the peer
// sends GOAWAY (a peer shutting down), sometimes after it already removed its own 'error'
// listener; the unhandled 'error' event then kills the process. The session was idle, so nothing
// is lost: that one error is logged and ignored. Everything else still crashes the process, as
// Node does by default: after an unexpected exception its state cannot be trusted.
import { Code, ConnectError } from "@connectrpc/connect";

export function isIdleGoawayError(error: unknown): boolean {
  return (
    error instanceof ConnectError &&
    error.code === Code.Canceled &&
    error.rawMessage === "received GOAWAY without any open streams"
  );
}

/**
 * Whether `error` says that the reader of stdout or stderr went away (a closed pipe): what is
 * written there is lost, and the node serves on. Unheard, such an error killed the node at its
 * next log line, a SIGTERM's "shutting down" included, which then skipped the orderly stop.
 */
function isClosedOutputError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === "EPIPE" || code === "ERR_STREAM_DESTROYED";
}

export function installProcessGuards(logError: (message: string, error: unknown) => void): void {
  for (const output of [process.stdout, process.stderr]) {
    output.on("error", (error) => {
      if (isClosedOutputError(error)) return;
      // Anything else is as unexpected as it was without this listener.
      process.nextTick(() => {
        throw error;
      });
    });
  }
  process.on("uncaughtException", (error) => {
    if (isIdleGoawayError(error)) {
      logError("ignored: an idle peer connection was closed by its peer (connect-node)", error);
      return;
    }
    logError("fatal: uncaught exception", error);
    process.exit(70);
  });
}

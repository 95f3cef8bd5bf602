// Errors that mean the client went away (reset, closed, cancelled), not that the server failed:
// they are answered as CANCELED or not at all, and never logged as errors.

const clientGoneCodes = new Set([
  "ERR_STREAM_PREMATURE_CLOSE",
  "ERR_STREAM_DESTROYED",
  "ERR_HTTP2_STREAM_ERROR",
  // Writing a response to a stream the client reset (RST_STREAM CANCEL) or whose session it closed.
  "ERR_HTTP2_INVALID_STREAM",
  // Answering a ProduceStream whose client reset it with RST_STREAM(NO_ERROR).
  "ERR_STREAM_WRITE_AFTER_END",
  "ECONNRESET",
  // Writing to an HTTP/1.1 connection whose client closed it (the kernel got its RST).
  "EPIPE",
  "ABORT_ERR",
]);

/** Whether `error`, or an error in its `cause` chain, is one of a client that went away. */
export function isClientGoneError(error: unknown): boolean {
  for (let depth = 0; error instanceof Error && depth < 8; depth++) {
    const code = (error as { code?: unknown }).code;
    if (error.name === "AbortError" || (typeof code === "string" && clientGoneCodes.has(code)))
      return true;
    error = error.cause;
  }
  return false;
}

/**
 * The client went away before the call could read or write what it needed. Its code is one of
 * the above, so isClientGoneError (and the error interceptor) treat it as such.
 */
export class ClientGoneError extends Error {
  readonly code = "ERR_STREAM_PREMATURE_CLOSE";
  override readonly name = "ClientGoneError";
  constructor(message = "the client went away") {
    super(message);
  }
}

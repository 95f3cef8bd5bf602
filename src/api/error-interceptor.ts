import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { isClientGoneError } from "./client-gone.js";
import { type ErrorLogger, toConnectError } from "./connect-error.js";

/** Turns every error a handler throws — also mid-stream — into a ConnectError (connect-error.ts). */
export function createErrorInterceptor(log: ErrorLogger): Interceptor {
  return (next) => async (request) => {
    try {
      const response = await next(request);
      if (!response.stream) return response;
      return { ...response, message: mapStreamErrors(response.message, request.signal, log) };
    } catch (error) {
      throw mapError(error, request.signal, log);
    }
  };
}

async function* mapStreamErrors<T>(
  messages: AsyncIterable<T>,
  signal: AbortSignal,
  log: ErrorLogger,
): AsyncIterable<T> {
  try {
    yield* messages;
  } catch (error) {
    throw mapError(error, signal, log);
  }
}

/**
 * A stream error from reading the request of a client that went away (its call is aborted) is
 * the client's doing, not a server failure: it maps to CANCELED and is not logged as one.
 */
function mapError(error: unknown, signal: AbortSignal, log: ErrorLogger): ConnectError {
  if (signal.aborted && isClientGoneError(error)) {
    return new ConnectError("the client went away", Code.Canceled);
  }
  return toConnectError(error, log);
}

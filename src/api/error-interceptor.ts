import type { Interceptor } from "@connectrpc/connect";
import { type ErrorLogger, toConnectError } from "./connect-error.js";

/** Turns every error a handler throws — also mid-stream — into a ConnectError (connect-error.ts). */
export function createErrorInterceptor(log: ErrorLogger): Interceptor {
  return (next) => async (request) => {
    try {
      const response = await next(request);
      if (!response.stream) return response;
      return { ...response, message: mapStreamErrors(response.message, log) };
    } catch (error) {
      throw toConnectError(error, log);
    }
  };
}

async function* mapStreamErrors<T>(messages: AsyncIterable<T>, log: ErrorLogger): AsyncIterable<T> {
  try {
    yield* messages;
  } catch (error) {
    throw toConnectError(error, log);
  }
}

// The one error type of tidelog, with a closed set of codes. Every layer throws TidelogError for
// operating errors (bad input, missing data, full disk); the API layer maps the code onto a
// Connect code. Programmer errors are assertions (see assert.ts) and crash.

export type ErrorCode =
  | "invalid_argument"
  | "not_found"
  | "already_exists"
  | "out_of_range"
  | "resource_exhausted"
  | "failed_precondition"
  | "unavailable"
  | "aborted"
  | "data_loss"
  | "internal";

export class TidelogError extends Error {
  override readonly name = "TidelogError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isTidelogError(value: unknown, code?: ErrorCode): value is TidelogError {
  return value instanceof TidelogError && (code === undefined || value.code === code);
}

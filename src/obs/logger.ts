// Structured logs: one JSON object per line, info to stdout and errors to stderr. The seam for
// observability (levels, sinks, metrics) to grow from; every layer that reports an event calls
// these rather than writing to the process streams itself.
export type LogFields = { [name: string]: unknown };

export function logInfo(message: string, fields: LogFields = {}): void {
  process.stdout.write(
    `${JSON.stringify({ level: "info", time: new Date().toISOString(), message, ...fields })}\n`,
  );
}

/** Something an operator should act on that the node survives (stderr). */
export function logWarn(message: string, fields: LogFields = {}): void {
  process.stderr.write(
    `${JSON.stringify({ level: "warn", time: new Date().toISOString(), message, ...fields })}\n`,
  );
}

export function logError(message: string, error: unknown): void {
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(
    `${JSON.stringify({ level: "error", time: new Date().toISOString(), message, error: detail })}\n`,
  );
}

// Maps Node file-system errors onto TidelogError codes. This is the only place in src/log that
// looks at errno codes.
import { TidelogError } from "../errors.js";

export function mapFsError(error: unknown, what: string): TidelogError {
  if (error instanceof TidelogError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const message = error instanceof Error ? error.message : String(error);
  switch (code) {
    case "ENOSPC":
    case "EDQUOT":
      return new TidelogError("resource_exhausted", `${what}: disk full`, {}, { cause: error });
    case "ENOENT":
      return new TidelogError("not_found", `${what}: ${message}`, {}, { cause: error });
    case "EMFILE":
    case "ENFILE":
      return new TidelogError(
        "resource_exhausted",
        `${what}: too many open files`,
        {},
        { cause: error },
      );
    default:
      return new TidelogError("internal", `${what}: ${message}`, {}, { cause: error });
  }
}

/** Whether `error` says the file or directory does not exist. */
export function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
}

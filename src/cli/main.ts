// Entry point of the `tidelog` command: dispatches to a subcommand.
import { TidelogError } from "../errors.js";
import { serveCommand, UsageError } from "./serve-command.js";

const usage = `usage: tidelog <command> [flags]

commands:
  serve     run a node (tidelog serve --help for its flags)
`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
      case "help":
      case "--help":
      case "-h":
        process.stdout.write(usage);
        return 0;
      case "serve":
        return await serveCommand(rest);
      default:
        process.stderr.write(`tidelog: unknown command ${JSON.stringify(command)}\n\n${usage}`);
        return 2;
    }
  } catch (error) {
    // Not every error's `code` is a string: a ConnectError's is a number.
    const code = (error as { code?: unknown } | null)?.code;
    if (
      error instanceof UsageError ||
      (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS"))
    ) {
      process.stderr.write(`tidelog: ${(error as Error).message}\n`);
      return 2;
    }
    if (error instanceof TidelogError) {
      process.stderr.write(`tidelog: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

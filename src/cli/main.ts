// Entry point of the `tidelog` command: dispatches to a subcommand.
export async function main(argv: string[]): Promise<number> {
  const [command] = argv;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    process.stdout.write("usage: tidelog <command> [flags]\n\ncommands:\n  serve   run a node\n");
    return 0;
  }
  process.stderr.write(`tidelog: unknown command "${command}" (try --help)\n`);
  return 2;
}

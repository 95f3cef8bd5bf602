// A small reader/writer for datadriven golden files (the format of cockroachdb/datadriven, as
// used by etcd-io/raft's testdata):
//
//   # comment
//   command arg key=value key=(a,b)
//   ----
//   expected output, up to the next blank line
//
// With REWRITE=1 the runner writes the actual outputs back into the file instead of comparing;
// every rewritten file must then be read and checked by hand before it is committed.

export interface Argument {
  key: string;
  values: string[];
}

export interface TestCase {
  /** 1-based line of the command. */
  line: number;
  command: string;
  args: Argument[];
  /** The raw command line. */
  input: string;
  expected: string;
}

export interface ParsedFile {
  /** Lines before each case (comments, blank lines), to write back on rewrite. */
  preambles: string[][];
  cases: TestCase[];
  trailer: string[];
}

const SEPARATOR = "----";

export function parseDataDriven(text: string): ParsedFile {
  const lines = text.split("\n");
  const preambles: string[][] = [];
  const cases: TestCase[] = [];
  let pending: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    if (line.trim() === "" || line.startsWith("#")) {
      pending.push(line);
      i += 1;
      continue;
    }
    const commandLine = i + 1;
    const input = line;
    i += 1;
    if (lines[i] !== SEPARATOR) throw new Error(`line ${commandLine}: expected ${SEPARATOR}`);
    i += 1;
    const expected: string[] = [];
    while (i < lines.length && lines[i]!.trim() !== "") {
      expected.push(lines[i]!);
      i += 1;
    }
    preambles.push(pending);
    pending = [];
    const { command, args } = parseCommand(input);
    cases.push({ line: commandLine, command, args, input, expected: expected.join("\n") });
  }
  return { preambles, cases, trailer: pending };
}

function parseCommand(input: string): { command: string; args: Argument[] } {
  const tokens = input.match(/[^\s=()]+=\([^)]*\)|[^\s]+/g) ?? [];
  const [command, ...rest] = tokens;
  if (command === undefined) throw new Error("empty command");
  const args: Argument[] = rest.map((token) => {
    const equals = token.indexOf("=");
    if (equals < 0) return { key: token, values: [] };
    const key = token.slice(0, equals);
    let value = token.slice(equals + 1);
    if (value.startsWith("(") && value.endsWith(")")) {
      value = value.slice(1, -1);
      return { key, values: value === "" ? [] : value.split(",").map((v) => v.trim()) };
    }
    return { key, values: [value] };
  });
  return { command, args };
}

export function formatDataDriven(parsed: ParsedFile, outputs: readonly string[]): string {
  const lines: string[] = [];
  parsed.cases.forEach((testCase, index) => {
    lines.push(...parsed.preambles[index]!, testCase.input, SEPARATOR);
    const output = outputs[index]!;
    lines.push(output === "" ? "ok" : output);
  });
  lines.push(...parsed.trailer);
  return lines.join("\n");
}

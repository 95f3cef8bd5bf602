// Runs every golden script in test/raft/testdata. REWRITE=1 regenerates the expected outputs.

import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { formatDataDriven, parseDataDriven } from "./datadriven.js";
import { runCommand } from "./datadriven-commands.js";
import { InteractionEnv } from "./interaction-env.js";

// Compiled to dist/test/raft; the scripts stay in the source tree.
const directory = fileURLToPath(new URL("../../../test/raft/testdata/", import.meta.url));
const rewrite = process.env.REWRITE === "1";

for (const name of readdirSync(directory)
  .filter((file) => file.endsWith(".txt"))
  .sort()) {
  test(`golden ${name}`, () => {
    const path = join(directory, name);
    const parsed = parseDataDriven(readFileSync(path, "utf8"));
    const env = new InteractionEnv();
    const outputs: string[] = [];
    for (const testCase of parsed.cases) {
      let output: string;
      try {
        output = runCommand(env, testCase);
      } catch (error) {
        output = `error: ${error instanceof Error ? error.message : String(error)}`;
        env.takeOutput();
      }
      outputs.push(output === "" ? "ok" : output);
      if (!rewrite) {
        assert.equal(
          output === "" ? "ok" : output,
          testCase.expected,
          `${name}:${testCase.line} ${testCase.input}`,
        );
      }
    }
    if (rewrite) writeFileSync(path, formatDataDriven(parsed, outputs));
  });
}

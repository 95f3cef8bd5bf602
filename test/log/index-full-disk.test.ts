// An index grows into blocks it has taken, so a full disk is an error, never SIGBUS. Grown by
// ftruncate, the file was sparse: the first store into a new page of the mapping needed a block
// then, and on a full filesystem the kernel killed the process with SIGBUS, nothing logged
// (outside probe R4). Run in this process: a SIGBUS here fails the whole test file.
import assert from "node:assert/strict";
import { stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { IndexFile, indexEntryBytes } from "../../src/log/index-file.js";
import { mountSmall } from "../reliability/small-filesystem.js";

test("a full disk while an index grows is ENOSPC, and the entries before it stay", async (t) => {
  const mounted = await mountSmall(4);
  if (typeof mounted === "string") {
    t.skip(mounted);
    return;
  }
  try {
    const path = join(mounted.directory, "0.index");
    const index = await IndexFile.open(path, 16 * 1024 * 1024);
    // The rest of the filesystem taken by another file (as another process would).
    const free = 4 * 1024 * 1024 - (await stat(path)).blocks * 512;
    await writeFile(join(mounted.directory, "filler"), Buffer.alloc(free - 256 * 1024)).catch(
      () => undefined,
    );
    // A fresh index reads one entry already (offset 0 at position 0, all zeros: the caller
    // checks entries against the store).
    const base = index.count;
    let appended = 0;
    let failure: unknown;
    try {
      for (; appended < 1_000_000; appended++) index.append((base + appended) * 100);
    } catch (error) {
      failure = error;
    }
    assert.ok(failure instanceof Error, "the index grew past a full disk");
    assert.equal((failure as NodeJS.ErrnoException).code, "ENOSPC", String(failure));
    assert.ok(appended > (64 * 1024) / indexEntryBytes, `only ${appended} entries fitted`);
    const last = base + appended - 1;
    assert.equal(index.count, last + 1);
    assert.equal(index.position(last), last * 100);
    await index.close();
  } finally {
    await mounted.unmount();
  }
});

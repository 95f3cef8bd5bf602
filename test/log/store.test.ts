import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { TidelogError } from "../../src/errors.js";
import { Store } from "../../src/log/store.js";
import { temporaryDirectory } from "./temp-directory.js";

describe("Store", () => {
  it("appends at the end, returns positions and reads them back", async () => {
    const path = join(await temporaryDirectory(), "0.store");
    const store = await Store.open(path);
    assert.equal(store.size, 0);
    assert.equal(await store.append([Buffer.from("hello ")]), 0);
    assert.equal(await store.append([Buffer.from("world")]), 6);
    assert.equal(store.size, 11);
    assert.equal((await store.read(0, 11)).toString(), "hello world");
    assert.equal((await store.read(6, 5)).toString(), "world");
    assert.equal((await store.read(3, 0)).length, 0);
    await store.sync();
    await store.close();
    assert.equal((await readFile(path)).toString(), "hello world");
  });

  it("reopens at the file's size and appends after it", async () => {
    const path = join(await temporaryDirectory(), "0.store");
    const first = await Store.open(path);
    await first.append([Buffer.alloc(1000, 1)]);
    await first.close();
    const second = await Store.open(path);
    assert.equal(second.size, 1000);
    assert.equal(await second.append([Buffer.alloc(10, 2)]), 1000);
    await second.close();
    assert.equal((await stat(path)).size, 1010);
  });

  it("truncates the file and appends from the cut", async () => {
    const path = join(await temporaryDirectory(), "0.store");
    const store = await Store.open(path);
    await store.append([Buffer.from("0123456789")]);
    await store.truncate(4);
    assert.equal(store.size, 4);
    assert.equal((await stat(path)).size, 4);
    assert.equal(await store.append([Buffer.from("xy")]), 4);
    assert.equal((await store.read(0, 6)).toString(), "0123xy");
    await assert.rejects(store.truncate(100), { name: "AssertionFailure" });
    await store.close();
  });

  it("refuses reads beyond its size (a programmer error)", async () => {
    const store = await Store.open(join(await temporaryDirectory(), "0.store"));
    await store.append([Buffer.from("abc")]);
    await assert.rejects(store.read(2, 5), { name: "AssertionFailure" });
    await store.close();
  });

  it("handles a large append (several MiB) in one call", async () => {
    const store = await Store.open(join(await temporaryDirectory(), "0.store"));
    const big = Buffer.alloc(5 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big[i] = i & 0xff;
    await store.append([big]);
    assert.ok((await store.read(0, big.length)).equals(big));
    await store.close();
  });

  it("close waits for in-flight reads, and later use is refused", async () => {
    const store = await Store.open(join(await temporaryDirectory(), "0.store"));
    await store.append([Buffer.alloc(1 << 20, 3)]);
    const reads = Array.from({ length: 8 }, () => store.read(0, 1 << 20));
    const closed = store.close();
    for (const data of await Promise.all(reads)) assert.equal(data[12345], 3);
    await closed;
    await assert.rejects(store.read(0, 1), { name: "AssertionFailure" });
    await store.close(); // idempotent
  });

  it("close waits for every call in flight (write, sync, truncate), not only reads", async () => {
    const store = await Store.open(join(await temporaryDirectory(), "0.store"));
    await store.append([Buffer.alloc(1 << 20, 4)]);
    const appended = store.append([Buffer.alloc(1 << 20, 5)]);
    const synced = store.sync();
    const closed = store.close();
    const closedAgain = store.close(); // a second close waits for the same drain
    assert.equal(await appended, 1 << 20);
    await synced;
    await Promise.all([closed, closedAgain]);
    await assert.rejects(store.sync(), { name: "AssertionFailure" });
    await assert.rejects(store.append([Buffer.alloc(1)]), { name: "AssertionFailure" });
  });

  it("maps open failures to TidelogError", async () => {
    const directory = await temporaryDirectory();
    await assert.rejects(Store.open(join(directory, "missing", "0.store")), {
      name: "TidelogError",
      code: "not_found",
    });
  });
});

describe("Store.append with many parts", () => {
  it("writes more parts than one writev takes, in order", async () => {
    const store = await Store.open(join(await temporaryDirectory(), "0.store"));
    const parts = Array.from({ length: 2500 }, (_, i) => Buffer.alloc((i % 7) + 1, i & 0xff));
    const position = await store.append(parts);
    assert.equal(position, 0);
    const expected = Buffer.concat(parts);
    assert.equal(store.size, expected.length);
    assert.ok((await store.read(0, expected.length)).equals(expected));
    await store.close();
  });
});

describe("Store.append when the device refuses the write", () => {
  // /dev/full answers every write with ENOSPC: a real failing write on both paths, the small
  // write made on the calling thread and the large one made in libuv's pool (fd-io.ts).
  it("rejects with resource_exhausted on both write paths and keeps its size", async (t) => {
    if (!existsSync("/dev/full")) {
      t.skip("no /dev/full on this machine");
      return;
    }
    const store = await Store.open("/dev/full");
    for (const bytes of [100, 1024 * 1024]) {
      await assert.rejects(store.append([Buffer.alloc(bytes, 1)]), (error: unknown) => {
        assert.ok(error instanceof TidelogError, String(error));
        assert.equal(error.code, "resource_exhausted");
        assert.match(error.message, /disk full/);
        return true;
      });
      assert.equal(store.size, 0, `after a failed ${bytes}-byte append`);
    }
    await store.close();
  });
});

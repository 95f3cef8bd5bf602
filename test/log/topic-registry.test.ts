import assert from "node:assert/strict";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { TopicRegistry } from "../../src/log/topic-registry.js";
import { temporaryDirectory } from "./temp-directory.js";

const retained = { retentionBytes: 5000, retentionMs: 60_000, segmentBytes: 1 << 20 };

describe("TopicRegistry", () => {
  it("creates, gets, lists, updates and deletes topics", async (t) => {
    const directory = await temporaryDirectory();
    const registry = await TopicRegistry.open(directory);
    t.after(() => registry.close());
    const orders = await registry.create("orders", retained);
    assert.equal(orders.name, "orders");
    assert.deepEqual(orders.config, retained);
    await registry.create("alpha");
    assert.deepEqual(
      registry.list().map((topic) => topic.name),
      ["alpha", "orders"],
    );
    assert.equal(registry.get("orders"), orders);
    assert.equal(registry.get("missing"), undefined);
    assert.throws(() => registry.require("missing"), { code: "not_found" });
    await assert.rejects(registry.create("orders"), { code: "already_exists" });
    assert.equal(await registry.ensure("orders"), orders);
    const ensured = await registry.ensure("beta");
    assert.equal(ensured.config.retentionBytes, 0);
    const updated = await registry.update("orders", { ...retained, retentionBytes: 9 });
    assert.equal(updated.config.retentionBytes, 9);
    await assert.rejects(registry.update("orders", { ...retained, retentionMs: -1 }), {
      code: "invalid_argument",
    });
    await assert.rejects(registry.update("nope", retained), { code: "not_found" });
    // Tiny segments would let one client exhaust the process's file descriptors.
    await assert.rejects(registry.update("orders", { ...retained, segmentBytes: (1 << 20) - 1 }), {
      code: "invalid_argument",
      message: /segment_bytes must be 0 .* or at least 1048576/,
    });
    await orders.log.append([Buffer.from("x")]);
    await registry.delete("orders");
    assert.equal(registry.get("orders"), undefined);
    await assert.rejects(orders.log.append([Buffer.from("y")]), { code: "unavailable" });
    await assert.rejects(registry.delete("orders"), { code: "not_found" });
    assert.ok(!(await readdir(directory)).includes("orders"));
    // The name can be used again, starting empty.
    const again = await registry.create("orders");
    assert.equal(again.log.nextOffset, 0);
  });

  it("ensures concurrently without creating twice", async (t) => {
    const registry = await TopicRegistry.open(await temporaryDirectory());
    t.after(() => registry.close());
    const topics = await Promise.all(Array.from({ length: 10 }, () => registry.ensure("hot")));
    assert.ok(topics.every((topic) => topic === topics[0]));
    assert.equal(registry.list().length, 1);
  });

  it("reopens topics with their configuration and records", async (t) => {
    const directory = await temporaryDirectory();
    const first = await TopicRegistry.open(directory);
    const topic = await first.create("events", retained);
    await topic.log.append([Buffer.from("one"), Buffer.from("two")]);
    await first.create("other");
    await first.close();
    const second = await TopicRegistry.open(directory);
    t.after(() => second.close());
    assert.deepEqual(
      second.list().map((entry) => entry.name),
      ["events", "other"],
    );
    const events = second.require("events");
    assert.deepEqual(events.config, retained);
    assert.equal(events.log.nextOffset, 2);
    assert.equal((await events.log.read(1)).payload.toString(), "two");
    assert.equal(events.log.options.segmentBytesMax, 1 << 20);
  });

  it("rejects invalid names with invalid_argument and creates nothing", async (t) => {
    const directory = await temporaryDirectory();
    const registry = await TopicRegistry.open(directory);
    t.after(() => registry.close());
    const invalid = [
      "",
      ".",
      "..",
      "a/b",
      "../x",
      "a\\b",
      "x".repeat(250),
      "tópico",
      "日本",
      "a b",
    ];
    for (const name of invalid) {
      await assert.rejects(registry.create(name), { code: "invalid_argument" }, `name ${name}`);
      await assert.rejects(registry.ensure(name), { code: "invalid_argument" }, `name ${name}`);
    }
    assert.deepEqual(await readdir(directory), []);
    assert.equal(registry.list().length, 0);
  });

  it("accepts the longest valid name and names made of every allowed character", async (t) => {
    const directory = await temporaryDirectory();
    const registry = await TopicRegistry.open(directory);
    const names = ["x".repeat(249), "A-z_0.9", "...", "-", "_"];
    for (const name of names) {
      const topic = await registry.create(name);
      await topic.log.append([Buffer.from(name)]);
    }
    await registry.delete("x".repeat(249));
    await registry.close();
    const reopened = await TopicRegistry.open(directory);
    t.after(() => reopened.close());
    assert.deepEqual(
      reopened.list().map((topic) => topic.name),
      ["-", "...", "A-z_0.9", "_"],
    );
  });

  it("rejects names that would collide with its own staging directories", async (t) => {
    const directory = await temporaryDirectory();
    const registry = await TopicRegistry.open(directory);
    t.after(() => registry.close());
    for (const name of [".creating-x", ".deleted-x"]) {
      await assert.rejects(registry.create(name), { code: "invalid_argument" }, name);
    }
  });

  it("cleans leftover .creating-* and .deleted-* directories on open", async (t) => {
    const directory = await temporaryDirectory();
    const first = await TopicRegistry.open(directory);
    await first.create("kept");
    await first.close();
    for (const leftover of [".creating-half", ".deleted-gone"]) {
      await mkdir(join(directory, leftover, "nested"), { recursive: true });
      await writeFile(join(directory, leftover, "topic.json"), "{}\n");
    }
    await mkdir(join(directory, "not-a-topic")); // no topic.json: ignored, left alone
    const registry = await TopicRegistry.open(directory);
    t.after(() => registry.close());
    assert.deepEqual((await readdir(directory)).sort(), ["kept", "not-a-topic"]);
    assert.deepEqual(
      registry.list().map((topic) => topic.name),
      ["kept"],
    );
  });

  it("applies each topic's retention", async (t) => {
    const registry = await TopicRegistry.open(await temporaryDirectory(), {
      logOptions: { segmentBytesMax: 1024 },
    });
    t.after(() => registry.close());
    const bounded = await registry.create("bounded", {
      retentionBytes: 2048,
      retentionMs: 0,
      segmentBytes: 0,
    });
    const unbounded = await registry.create("unbounded");
    for (let i = 0; i < 60; i++) {
      await bounded.log.append([Buffer.alloc(100, i)]);
      await unbounded.log.append([Buffer.alloc(100, i)]);
    }
    const removed = await registry.applyRetention();
    assert.ok(removed > 0);
    // At least the retention is kept, and at most one 1 KiB segment more.
    assert.ok(bounded.log.sizeBytes >= 2048 && bounded.log.sizeBytes < 2048 + 1024);
    assert.equal(unbounded.log.lowestOffset, 0);
  });

  it("looks up a name no topic can have as invalid_argument, a missing one as not_found", async (t) => {
    const registry = await TopicRegistry.open(await temporaryDirectory());
    t.after(() => registry.close());
    assert.throws(() => registry.require("missing"), { code: "not_found" });
    assert.throws(() => registry.require("x".repeat(300)), {
      code: "invalid_argument",
      message: /1–249 characters, got 300/,
    });
    assert.throws(() => registry.require("bad/name"), { code: "invalid_argument" });
  });

  it("refuses to create after close", async () => {
    const registry = await TopicRegistry.open(await temporaryDirectory());
    await registry.close();
    await assert.rejects(registry.create("late"), { code: "unavailable" });
  });

  it("enforces topicsMax with resource_exhausted", async (t) => {
    const registry = await TopicRegistry.open(await temporaryDirectory(), { topicsMax: 2 });
    t.after(() => registry.close());
    await registry.create("a");
    await registry.create("b");
    await assert.rejects(registry.create("c"), { code: "resource_exhausted" });
  });

  it("refuses to open a topic whose configuration file changed, and reads an old one as it is", async (t) => {
    const directory = await temporaryDirectory();
    const first = await TopicRegistry.open(directory);
    await first.create("events", retained);
    await first.close();
    const path = join(directory, "events", "topic.json");
    const file = await readFile(path, "latin1");
    assert.match(file, /"retentionBytes":5000,/);
    await writeFile(
      path,
      file.replace('"retentionBytes":5000,', '"retentionBytes":5001,'),
      "latin1",
    );
    await assert.rejects(TopicRegistry.open(directory), {
      code: "data_loss",
      message: new RegExp(`${path} is damaged: its checksum is`),
    });
    // Written before the checksum line existed: plain JSON.
    await writeFile(path, `${JSON.stringify(retained)}\n`);
    const second = await TopicRegistry.open(directory);
    t.after(() => second.close());
    assert.deepEqual(second.require("events").config, retained);
  });

  it("applies a changed segment size to the live log: the active segment rolls at it", async (t) => {
    const registry = await TopicRegistry.open(await temporaryDirectory());
    t.after(() => registry.close());
    const topic = await registry.create("growing");
    const record = Buffer.alloc(100_000, 7);
    for (let i = 0; i < 15; i++) await topic.log.append([record]);
    assert.equal(topic.log.segmentCount, 1, "1.5 MB in one default-size segment");
    await registry.update("growing", { ...topic.config, segmentBytes: 1 << 20 });
    await topic.log.append([record]);
    assert.equal(topic.log.segmentCount, 2, "past the new size: rolled at the next append");
    for (let i = 0; i < 12; i++) await topic.log.append([record]);
    assert.equal(topic.log.segmentCount, 3, "the new segment rolls at 1 MiB");
  });
});

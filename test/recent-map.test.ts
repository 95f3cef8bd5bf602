// RecentMap (src/recent-map.ts), as a node keeps the addresses peers announce by the id they
// claim: the ids heard most recently only, so a sender claiming ever new ids (peers do not
// authenticate yet) cannot grow it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { RecentMap } from "../src/recent-map.js";

test("announced addresses keep the ids heard most recently, up to the bound", () => {
  const addresses = new RecentMap<string, string>(3);
  addresses.set("a", "127.0.0.1:1");
  addresses.set("b", "127.0.0.1:2");
  addresses.set("c", "127.0.0.1:3");
  addresses.set("a", "127.0.0.1:4"); // a moved: now the newest
  addresses.set("d", "127.0.0.1:5"); // b, the oldest, is forgotten
  assert.equal(addresses.size, 3);
  assert.equal(addresses.get("b"), undefined);
  assert.equal(addresses.get("a"), "127.0.0.1:4");
  assert.equal(addresses.get("c"), "127.0.0.1:3");
  assert.equal(addresses.get("d"), "127.0.0.1:5");
  for (let i = 0; i < 10_000; i++) addresses.set(`spoofed-${i}`, "127.0.0.1:9");
  assert.equal(addresses.size, 3);
  assert.equal(addresses.get("spoofed-9999"), "127.0.0.1:9");
});

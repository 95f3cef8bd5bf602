// A node keeps the addresses peers announce by the id they claim, for the ids heard most
// recently only: a sender claiming ever new ids (peers do not authenticate yet) cannot grow it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { AnnouncedAddresses } from "../../src/cluster/announced-addresses.js";

test("announced addresses keep the ids heard most recently, up to the bound", () => {
  const addresses = new AnnouncedAddresses(3);
  addresses.learn("a", "127.0.0.1:1");
  addresses.learn("b", "127.0.0.1:2");
  addresses.learn("c", "127.0.0.1:3");
  addresses.learn("a", "127.0.0.1:4"); // a moved: now the newest
  addresses.learn("d", "127.0.0.1:5"); // b, the oldest, is forgotten
  assert.equal(addresses.size, 3);
  assert.equal(addresses.get("b"), undefined);
  assert.equal(addresses.get("a"), "127.0.0.1:4");
  assert.equal(addresses.get("c"), "127.0.0.1:3");
  assert.equal(addresses.get("d"), "127.0.0.1:5");
  for (let i = 0; i < 10_000; i++) addresses.learn(`spoofed-${i}`, "127.0.0.1:9");
  assert.equal(addresses.size, 3);
  assert.equal(addresses.get("spoofed-9999"), "127.0.0.1:9");
});

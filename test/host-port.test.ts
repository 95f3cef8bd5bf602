// host:port as flags, Join requests, snapshots and peers' messages give it: what a peer can be
// dialled at, and the shapes that once reached the transport's URL constructor and threw.
import assert from "node:assert/strict";
import { test } from "node:test";
import { isPeerAddress, parseHostPort } from "../src/host-port.js";

test("hostnames, IPv4, bracketed IPv6 and container names are host:port", () => {
  assert.deepEqual(parseHostPort("127.0.0.1:8080"), { host: "127.0.0.1", port: 8080 });
  assert.deepEqual(parseHostPort("[::1]:80"), { host: "::1", port: 80 });
  assert.deepEqual(parseHostPort("tidelog_1:7000"), { host: "tidelog_1", port: 7000 });
  assert.deepEqual(parseHostPort("node-2.example.com:65535"), {
    host: "node-2.example.com",
    port: 65535,
  });
  assert.deepEqual(parseHostPort("localhost:0"), { host: "localhost", port: 0 });
  assert.deepEqual(parseHostPort("node-1.example.com.:80"), {
    host: "node-1.example.com.",
    port: 80,
  });
});

test("anything else is not, and port 0 is no peer's", () => {
  for (const value of [
    "not an address",
    "a b:1",
    "host:99999",
    ":",
    "h:",
    ":80",
    "127.0.0.1",
    "127.0.0.1:80/x?y",
    "user@host:80",
    "[::1:80",
    "-host:80",
    "",
  ]) {
    assert.equal(parseHostPort(value), undefined, value);
    assert.equal(isPeerAddress(value), false, value);
  }
  assert.equal(isPeerAddress("localhost:0"), false);
  assert.equal(isPeerAddress("localhost:1"), true);
});

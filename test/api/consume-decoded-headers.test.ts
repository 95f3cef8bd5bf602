// A decoded (JSON) consume answer stops before the record that passes 10,000 headers, one record
// at least: each header costs microseconds to build and encode, and bytes bound them loosely. 60
// records of 10,000 empty headers fit in one 4 MiB answer; four such JSON answers at once held a
// node's loop for 1.9 s. Binary answers pass stored bytes through and are not cut.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { decodedHeadersMax } from "../../src/cluster/record-codec.js";
import { type InProcessNode, startInProcessNode } from "../harness/in-process-node.js";

let node: InProcessNode;
const perRecord = 6_000;

before(async () => {
  node = await startInProcessNode();
  const headers = Object.fromEntries(Array.from({ length: perRecord }, (_, i) => [`h${i}`, ""]));
  for (let i = 0; i < 3; i++) {
    const response = await fetch(`${node.baseUrl}/tidelog.v1.LogService/Produce`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ topic: "wide", records: [{ value: "", headers }] }),
    });
    assert.equal(response.status, 200, await response.text());
  }
});

after(async () => {
  await node?.close();
});

async function consume(contentType: string, offset: number) {
  const body =
    contentType === "application/json"
      ? JSON.stringify({ topic: "wide", offset: String(offset), maxRecords: 10 })
      : Buffer.from([0x0a, 4, ...Buffer.from("wide"), 0x10, offset, 0x18, 10]);
  const response = await fetch(`${node.baseUrl}/tidelog.v1.LogService/Consume`, {
    method: "POST",
    headers: { "content-type": contentType },
    body,
  });
  assert.equal(response.status, 200);
  return response;
}

test("a JSON answer holds records up to the header bound, at least one, and goes on from there", async () => {
  assert.ok(2 * perRecord > decodedHeadersMax && perRecord <= decodedHeadersMax);
  for (const offset of [0, 1, 2]) {
    const answer = (await (await consume("application/json", offset)).json()) as {
      records: { headers: Record<string, string> }[];
      nextOffset: string;
    };
    assert.equal(answer.records.length, 1, `from ${offset}`);
    assert.equal(Object.keys(answer.records[0]!.headers).length, perRecord);
    assert.equal(answer.nextOffset, String(offset + 1));
  }
});

test("a binary answer is not cut by headers", async () => {
  const bytes = Buffer.from(await (await consume("application/proto", 0)).arrayBuffer());
  // Three records of 6,000 headers: far more bytes than one.
  assert.ok(bytes.length > 3 * perRecord * 4, `${bytes.length} bytes`);
});

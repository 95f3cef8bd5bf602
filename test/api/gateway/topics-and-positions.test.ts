// TopicService CRUD over the Connect protocol's JSON (plain fetch POSTs, as a script or a browser
// would send them) against a real process started with --no-auto-create-topics; producing to an
// unknown topic is then not_found; and Consume's start positions EARLIEST and TAIL (tail_back).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { NodeProcess } from "../../harness/node-process.js";

interface JsonResponse {
  status: number;
  body: { [key: string]: unknown };
}

interface TopicJson {
  name: string;
  config?: { retentionBytes?: string; retention?: string; segmentBytes?: string };
  lowestOffset?: string;
  nextOffset?: string;
  segmentCount?: number;
}

describe("topics and start positions over Connect JSON (process, --no-auto-create-topics)", () => {
  let node: NodeProcess;

  before(async () => {
    node = await NodeProcess.start({ args: ["--bootstrap", "--no-auto-create-topics"] });
  });

  after(async () => {
    await node?.destroy();
  });

  async function call(service: string, method: string, request: unknown): Promise<JsonResponse> {
    const response = await fetch(`${node.baseUrl}/tidelog.v1.${service}/${method}`, {
      method: "POST",
      headers: { "content-type": "application/json", "connect-protocol-version": "1" },
      body: JSON.stringify(request),
      signal: AbortSignal.timeout(10_000),
    });
    assert.match(response.headers.get("content-type") ?? "", /^application\/json/);
    return { status: response.status, body: (await response.json()) as JsonResponse["body"] };
  }

  const topicCall = (method: string, request: unknown) => call("TopicService", method, request);
  const logCall = (method: string, request: unknown) => call("LogService", method, request);
  const values = (body: JsonResponse["body"]) =>
    (body.records as { value: string }[]).map((record) =>
      Buffer.from(record.value, "base64").toString(),
    );

  test("create, get, list, update (with and without a mask), delete", async () => {
    const created = await topicCall("CreateTopic", {
      name: "crud",
      config: { retentionBytes: "1048576", retention: "3600s" },
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const topic = created.body.topic as TopicJson;
    assert.equal(topic.name, "crud");
    assert.equal(topic.config?.retentionBytes, "1048576");
    assert.equal(topic.config?.retention, "3600s");

    const again = await topicCall("CreateTopic", { name: "crud" });
    assert.equal(again.status, 409);
    assert.equal(again.body.code, "already_exists");

    const got = await topicCall("GetTopic", { name: "crud" });
    assert.equal(got.status, 200);
    assert.equal((got.body.topic as TopicJson).name, "crud");

    await topicCall("CreateTopic", { name: "another" });
    const listed = await topicCall("ListTopics", {});
    assert.equal(listed.status, 200);
    const names = (listed.body.topics as TopicJson[]).map((each) => each.name);
    assert.deepEqual(
      names.filter((name) => name === "crud" || name === "another"),
      ["another", "crud"],
      "ordered by name",
    );

    const masked = await topicCall("UpdateTopic", {
      name: "crud",
      config: { retentionBytes: "2048", retention: "60s" },
      updateMask: "retentionBytes",
    });
    assert.equal(masked.status, 200, JSON.stringify(masked.body));
    const maskedTopic = masked.body.topic as TopicJson;
    assert.equal(maskedTopic.config?.retentionBytes, "2048");
    assert.equal(maskedTopic.config?.retention, "3600s", "not in the mask: unchanged");

    const whole = await topicCall("UpdateTopic", { name: "crud", config: {} });
    assert.equal(whole.status, 200, JSON.stringify(whole.body));
    assert.equal((whole.body.topic as TopicJson).config?.retention, undefined);

    const tinySegments = await topicCall("CreateTopic", {
      name: "tiny",
      config: { segmentBytes: "1024" },
    });
    assert.equal(tinySegments.status, 400, JSON.stringify(tinySegments.body));
    assert.equal(tinySegments.body.code, "invalid_argument");
    assert.match(String(tinySegments.body.message), /at least 1048576/);
    assert.equal((await topicCall("GetTopic", { name: "tiny" })).status, 404);

    const badMask = await topicCall("UpdateTopic", { name: "crud", updateMask: "name" });
    assert.equal(badMask.status, 400);
    assert.equal(badMask.body.code, "invalid_argument");

    const deleted = await topicCall("DeleteTopic", { name: "crud" });
    assert.equal(deleted.status, 200);
    const gone = await topicCall("GetTopic", { name: "crud" });
    assert.equal(gone.status, 404);
    assert.equal(gone.body.code, "not_found");
    const deletedAgain = await topicCall("DeleteTopic", { name: "crud" });
    assert.equal(deletedAgain.status, 404);
  });

  test("producing to an unknown topic is not_found and creates nothing", async () => {
    const produced = await logCall("Produce", {
      topic: "never-created",
      records: [{ value: "eA==" }],
    });
    assert.equal(produced.status, 404, JSON.stringify(produced.body));
    assert.equal(produced.body.code, "not_found");
    assert.equal((await topicCall("GetTopic", { name: "never-created" })).status, 404);
  });

  test('the empty name means "default", for TopicService and LogService alike', async () => {
    assert.equal((await logCall("Produce", { records: [{ value: "eA==" }] })).status, 404);
    const created = await topicCall("CreateTopic", { name: "" });
    assert.equal(created.status, 200);
    assert.equal((created.body.topic as TopicJson).name, "default");
    const produced = await logCall("Produce", { topic: "", records: [{ value: "eA==" }] });
    assert.equal(produced.status, 200, JSON.stringify(produced.body));
    const consumed = await logCall("Consume", { topic: "default", offset: "0" });
    assert.deepEqual(values(consumed.body), ["x"]);
  });

  test("StartPosition EARLIEST and TAIL with tail_back", async () => {
    assert.equal((await topicCall("CreateTopic", { name: "positions" })).status, 200);
    const records = Array.from({ length: 10 }, (_, i) => ({
      value: Buffer.from(`r${i}`).toString("base64"),
    }));
    assert.equal((await logCall("Produce", { topic: "positions", records })).status, 200);

    const earliest = await logCall("Consume", {
      topic: "positions",
      start: "START_POSITION_EARLIEST",
      maxRecords: 3,
    });
    assert.equal(earliest.status, 200, JSON.stringify(earliest.body));
    assert.deepEqual(values(earliest.body), ["r0", "r1", "r2"]);
    assert.equal(earliest.body.nextOffset, "3");

    const tail = await logCall("Consume", {
      topic: "positions",
      start: "START_POSITION_TAIL",
      tailBack: "3",
    });
    assert.equal(tail.status, 200, JSON.stringify(tail.body));
    assert.deepEqual(values(tail.body), ["r7", "r8", "r9"]);
    assert.equal(tail.body.highWatermark, "10");

    const wholeTail = await logCall("Consume", {
      topic: "positions",
      start: "START_POSITION_TAIL",
      tailBack: "18446744073709551615",
    });
    assert.equal(wholeTail.status, 200, JSON.stringify(wholeTail.body));
    assert.equal(values(wholeTail.body).length, 10, "tail_back beyond the start clamps to lowest");

    const caughtUp = await logCall("Consume", { topic: "positions", start: "START_POSITION_TAIL" });
    assert.equal(caughtUp.status, 200, JSON.stringify(caughtUp.body));
    assert.equal(caughtUp.body.records, undefined, "tail_back 0: nothing yet");
    assert.equal(caughtUp.body.nextOffset, "10");

    const undefinedPosition = await logCall("Consume", { topic: "positions", start: 7 });
    assert.equal(undefinedPosition.status, 400);
    assert.equal(undefinedPosition.body.code, "invalid_argument");
  });
});

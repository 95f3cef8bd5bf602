// Requests that reach a node on open HTTP/1.1 keep-alive connections while it shuts down
// (SIGTERM) are answered as Connect errors, never with fastify's own 503 body, which no Connect
// client reads as an error code. Connections refused or reset by the exit are fine.
import assert from "node:assert/strict";
import http from "node:http";
import { test } from "node:test";
import { NodeProcess } from "../harness/node-process.js";

const workers = 8;
const rounds = 3;
const requestsMax = 30_000;

function post(
  agent: http.Agent,
  port: number,
  method: string,
  body: unknown,
): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const request = http.request(
      {
        host: "127.0.0.1",
        port,
        path: `/tidelog.v1.LogService/${method}`,
        method: "POST",
        agent,
        headers: { "content-type": "application/json" },
        timeout: 10_000,
      },
      (response) => {
        let text = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (text += chunk));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body: text }));
        response.on("error", (error) => resolve({ error: String(error) }));
      },
    );
    request.on("timeout", () => request.destroy(new Error("timed out")));
    request.on("error", (error: NodeJS.ErrnoException) =>
      resolve({ error: error.code ?? String(error) }),
    );
    request.end(JSON.stringify(body));
  });
}

test("keep-alive requests during SIGTERM get Connect errors, not fastify's 503", async () => {
  const node = await NodeProcess.start({ args: ["--bootstrap"] });
  const seen = new Map<string, number>();
  const count = (key: string) => seen.set(key, (seen.get(key) ?? 0) + 1);
  const foreign: string[] = [];
  let requests = 0;
  try {
    for (let round = 0; round < rounds; round++) {
      const port = Number(new URL(node.baseUrl).port);
      const agent = new http.Agent({ keepAlive: true, maxSockets: workers });
      const created = await post(agent, port, "Produce", {
        topic: "t",
        records: [{ value: "eA==" }],
      });
      assert.ok("status" in created && created.status === 200, JSON.stringify(created));
      let exitedAt: number | undefined;
      const loop = async (worker: number) => {
        while (requests < requestsMax && (exitedAt === undefined || Date.now() - exitedAt < 300)) {
          requests++;
          const answer =
            worker % 2 === 0
              ? await post(agent, port, "Consume", { topic: "t", offset: "0", maxRecords: 1 })
              : await post(agent, port, "Produce", { topic: "t", records: [{ value: "eA==" }] });
          if ("error" in answer) {
            count(`connection ${answer.error}`);
            // The node is gone: wait for it to be seen gone rather than spin on refusals.
            await new Promise((resolve) => setTimeout(resolve, 10));
            continue;
          }
          if (answer.status === 200) {
            count("200");
            continue;
          }
          let code: unknown;
          try {
            code = (JSON.parse(answer.body) as { code?: unknown }).code;
          } catch {
            code = undefined;
          }
          if (typeof code === "string") count(`${answer.status} ${code}`);
          else foreign.push(`${answer.status} ${answer.body.slice(0, 160)}`);
        }
      };
      const running = Array.from({ length: workers }, (_, worker) => loop(worker));
      await new Promise((resolve) => setTimeout(resolve, 400));
      const stopped = node.stop().then((status) => {
        exitedAt = Date.now();
        return status;
      });
      await Promise.all(running);
      const status = await stopped;
      assert.equal(status.code, 0, `round ${round}: exit ${JSON.stringify(status)}`);
      agent.destroy();
      if (round < rounds - 1) await node.restart();
    }
    console.log(`[shutdown keep-alive] ${requests} requests: ${JSON.stringify([...seen])}`);
    assert.deepEqual(foreign, [], "answers that are not Connect errors");
    assert.ok((seen.get("200") ?? 0) > 0, "requests were served before the stops");
  } finally {
    await node.destroy();
  }
});

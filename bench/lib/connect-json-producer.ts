// Produce as curl users do: the Connect protocol with JSON bodies over HTTP/1.1, through Node's
// fetch (undici keeps a pool of keep-alive connections per origin). Unary only: Connect
// bidirectional streams need HTTP/2.
import type { LoadOutcome } from "./load-plan.js";
import { callTimeoutMs } from "./load-plan.js";
import type { ProduceBatch, ProduceClient } from "./produce-client.js";

export function createConnectJsonProducer(baseUrl: string, batch: ProduceBatch): ProduceClient {
  const url = `${baseUrl}/tidelog.v1.LogService/Produce`;
  const body = JSON.stringify({
    topic: batch.topic,
    records: batch.values.map((value) => ({ value: Buffer.from(value).toString("base64") })),
  });
  const headers = { "content-type": "application/json", "connect-protocol-version": "1" };
  return {
    kind: "connect-json-h1",
    async produce() {
      const response = await fetch(url, {
        method: "POST",
        headers,
        body,
        signal: AbortSignal.timeout(callTimeoutMs),
      });
      const text = await response.text();
      if (!response.ok) throw new Error(`Produce over Connect JSON: ${response.status} ${text}`);
    },
    stream(): Promise<LoadOutcome> {
      return Promise.reject(new Error("Connect JSON over HTTP/1.1 has no bidirectional streams"));
    },
    close() {
      // fetch's keep-alive connections close themselves when idle.
    },
  };
}

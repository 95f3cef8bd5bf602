// ConsumeStream over HTTP/1.1 (Connect streaming, `application/connect+proto` and `+json`) to
// clients that stop reading: the server must stop producing answers while a connection's socket
// is full (connect-node's write waits for 'drain', as the HTTP/2 routes do), so a non-reading
// client costs at most about one answer plus the kernel's buffers, not its topic; and once the
// client reads again, it gets every record, in order. A client that leaves mid-stream is an
// ordinary event, not a server failure: nothing is logged as an error.
//
// The server's side is measured on its own sockets: `bytesWritten` counts what the server took
// from the stream for a connection (handed to the kernel or still queued in the socket), so it
// reaches the topic's size if anything above the socket buffers without bound.
import assert from "node:assert/strict";
import http, { type ClientRequest, type IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  ConsumeRequestSchema,
  ConsumeResponseSchema,
  LogService,
} from "../../src/gen/tidelog/v1/log_service_pb.js";
import { RecordSchema } from "../../src/gen/tidelog/v1/record_pb.js";
import { type ClosableTransport, connectClient, createNodeTransport } from "../harness/clients.js";
import { eventually, type InProcessNode, startInProcessNode } from "../harness/in-process-node.js";

const topic = "h1-slow";
const recordBytes = 64 * 1024;
const recordCount = 640; // 40 MiB
const readerCount = 3;
/** Well below the topic: one 4 MiB answer, the kernel's buffers and slack. */
const takenPerReaderMax = 16 * 1024 * 1024;

function recordValue(offset: number): Buffer {
  const value = Buffer.alloc(recordBytes, offset % 251);
  value.writeUInt32BE(offset, 0);
  return value;
}

/** A Connect streaming request body: one envelope (flags 0, length, message). */
function envelope(message: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

interface SlowReader {
  request: ClientRequest;
  response: IncomingMessage;
}

/** Opens a ConsumeStream from offset 0 over HTTP/1.1 and stops reading once the answer begins. */
function openPausedReader(baseUrl: string, contentType: string): Promise<SlowReader> {
  const body = contentType.endsWith("json")
    ? Buffer.from(JSON.stringify({ topic }))
    : Buffer.from(toBinary(ConsumeRequestSchema, create(ConsumeRequestSchema, { topic })));
  const payload = envelope(body);
  return new Promise((resolve, reject) => {
    const request = http.request(`${baseUrl}/tidelog.v1.LogService/ConsumeStream`, {
      method: "POST",
      agent: false,
      headers: {
        "content-type": contentType,
        "connect-protocol-version": "1",
        "content-length": payload.length,
      },
    });
    request.once("error", reject);
    request.once("response", (response) => {
      // Paused, the response's buffer fills and Node stops reading the socket.
      response.pause();
      resolve({ request, response });
    });
    request.end(payload);
  });
}

/** Reads binary answers until `count` records arrived; returns their offsets and values. */
async function readRecords(
  reader: SlowReader,
  count: number,
  timeoutMs: number,
): Promise<{ offset: number; value: Uint8Array }[]> {
  const records: { offset: number; value: Uint8Array }[] = [];
  let pending = Buffer.alloc(0);
  const deadline = Date.now() + timeoutMs;
  const chunks = reader.response[Symbol.asyncIterator]();
  while (records.length < count) {
    assert.ok(Date.now() < deadline, `only ${records.length} of ${count} records arrived in time`);
    const next = await chunks.next();
    assert.ok(next.done !== true, `the stream ended after ${records.length} records`);
    pending = Buffer.concat([pending, next.value as Buffer]);
    while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32BE(1)) {
      const length = pending.readUInt32BE(1);
      assert.equal(pending[0], 0, "an end-of-stream envelope before the last record");
      const answer = fromBinary(ConsumeResponseSchema, pending.subarray(5, 5 + length));
      for (const record of answer.records)
        records.push({ offset: Number(record.offset), value: record.value });
      pending = pending.subarray(5 + length);
    }
  }
  return records;
}

describe("ConsumeStream over HTTP/1.1 to clients that stop reading", () => {
  let server: InProcessNode;
  let transport: ClosableTransport;
  const serverSockets: Socket[] = [];
  const errorsWritten: string[] = [];
  const stderrWrite = process.stderr.write;
  const consoleError = console.error;

  before(async () => {
    server = await startInProcessNode();
    server.node.app.server.on("connection", (socket: Socket) => serverSockets.push(socket));
    transport = createNodeTransport("grpc", server.baseUrl);
    const client = connectClient(LogService, transport.transport);
    for (let from = 0; from < recordCount; from += 16) {
      await client.produce({
        topic,
        records: Array.from({ length: 16 }, (_, i) =>
          create(RecordSchema, { value: recordValue(from + i) }),
        ),
      });
    }
    // Whatever the node reports as an error (logger.ts, or a library's console.error).
    process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
      errorsWritten.push(String(chunk));
      return stderrWrite.call(process.stderr, chunk, ...rest);
    }) as typeof process.stderr.write;
    console.error = (...args: unknown[]) => {
      errorsWritten.push(args.map(String).join(" "));
      consoleError(...args);
    };
  });

  after(async () => {
    process.stderr.write = stderrWrite;
    console.error = consoleError;
    await transport?.close();
    await server?.close();
  });

  test("a paused reader holds about one answer; resumed, it gets every record in order", async () => {
    const known = serverSockets.length;
    const readers: SlowReader[] = [];
    for (let i = 0; i < readerCount; i++)
      readers.push(await openPausedReader(server.baseUrl, "application/connect+proto"));
    const sockets = serverSockets.slice(known);
    assert.equal(sockets.length, readerCount);
    // Each stream has begun; give an unbounded writer time to run through the topic.
    await eventually(() => sockets.every((socket) => socket.bytesWritten > 0), "no answer began");
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const taken = sockets.map((socket) => socket.bytesWritten);
    for (const bytes of taken)
      assert.ok(
        bytes < takenPerReaderMax,
        `a paused reader's socket took ${bytes} bytes (topic ${recordCount * recordBytes})`,
      );

    // Read again: every record arrives, in order, intact; the socket queues drained meanwhile.
    for (const reader of readers) {
      const records = await readRecords(reader, recordCount, 60_000);
      assert.deepEqual(
        records.map((record) => record.offset),
        Array.from({ length: recordCount }, (_, offset) => offset),
      );
      for (const { offset, value } of records)
        assert.ok(Buffer.from(value).equals(recordValue(offset)), `record ${offset} differs`);
      reader.request.destroy();
    }
    await eventually(
      () => server.node.app.streams.active === 0,
      "the streams were not released after their clients left",
    );
  });

  test("a JSON reader that stops reading is paused too, and may leave quietly", async () => {
    const known = serverSockets.length;
    errorsWritten.length = 0;
    const reader = await openPausedReader(server.baseUrl, "application/connect+json");
    const socket = serverSockets[known]!;
    await eventually(() => socket.bytesWritten > 0, "no answer began");
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    assert.ok(
      socket.bytesWritten < takenPerReaderMax,
      `a paused JSON reader's socket took ${socket.bytesWritten} bytes`,
    );
    // Leaves with answers unread and the server mid-write.
    reader.response.resume();
    await new Promise((resolve) => setTimeout(resolve, 50));
    reader.request.destroy();
    await eventually(
      () => server.node.app.streams.active === 0,
      "the stream was not released after its client left",
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(errorsWritten, [], "a client leaving was reported as an error");
  });
});

// Test helper: a real HTTP/2 cleartext (h2c) server on 127.0.0.1 and a free port, serving Connect
// routes with @connectrpc/connect-node, as clients we did not write (grpc-js, buf curl) need.

import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";

export interface H2cServer {
  /** 127.0.0.1:port, as grpc-js wants it. */
  readonly address: string;
  /** http://127.0.0.1:port, as buf curl and connect transports want it. */
  readonly url: string;
  /** Closes the server, ending every open session. */
  close(): Promise<void>;
}

export async function startH2cServer(routes: (router: ConnectRouter) => void): Promise<H2cServer> {
  const server = http2.createServer(connectNodeAdapter({ routes }));
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const session of sessions) session.destroy();
        server.close(() => resolve());
      }),
  };
}

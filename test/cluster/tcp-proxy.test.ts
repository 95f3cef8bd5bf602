// The harness's TCP proxy on its own: it tells who opened a connection (here: this process),
// cuts that source by reset or black hole, and heals. The partition tests rely on all of it.
import assert from "node:assert/strict";
import net from "node:net";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { exitWhenDone } from "../harness/exit-when-done.js";
import { everyone, socketOwner, TcpProxy } from "../harness/tcp-proxy.js";

exitWhenDone();

test("the proxy recognises the connecting process, cuts and heals its link", async () => {
  const echo = net.createServer((socket) => {
    socket.on("error", () => undefined); // the proxy resets its upstream when a link is cut
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => echo.listen(0, "127.0.0.1", resolve));
  const port = (echo.address() as net.AddressInfo).port;
  const proxy: TcpProxy = await TcpProxy.start({
    target: { host: "127.0.0.1", port },
    identify: async (clientPort): Promise<string | undefined> =>
      (await socketOwner(clientPort, proxy.port, [process.pid])) === process.pid ? "me" : undefined,
  });
  try {
    assert.equal(await roundTrip(proxy.port), "echo:ok");

    proxy.cut("someone-else");
    assert.equal(await roundTrip(proxy.port), "echo:ok", "a cut of another source applies to us");

    proxy.cut("me");
    assert.match(await roundTrip(proxy.port), /^closed/);
    assert.ok(proxy.severedFrom("me") >= 1);
    proxy.heal("me");
    assert.equal(await roundTrip(proxy.port), "echo:ok");

    // A black hole keeps the connection open and answers nothing; healing closes it.
    const socket = net.connect(proxy.port, "127.0.0.1");
    await new Promise((resolve) => socket.once("connect", resolve));
    await sleep(100);
    proxy.cut(everyone, "blackhole");
    const received: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => received.push(chunk));
    socket.write("lost");
    await sleep(300);
    assert.equal(Buffer.concat(received).length, 0, "a black hole let data through");
    assert.equal(socket.destroyed, false);
    const closed = new Promise((resolve) => socket.once("close", resolve));
    socket.on("error", () => undefined);
    proxy.heal();
    await closed;
    assert.equal(await roundTrip(proxy.port), "echo:ok");
  } finally {
    await proxy.close();
    await new Promise((resolve) => echo.close(resolve));
  }
});

/** Sends "ok" through the proxy: "echo:ok" back, or "closed…" when the link is cut. */
async function roundTrip(port: number): Promise<string> {
  const socket = net.connect(port, "127.0.0.1");
  return new Promise((resolve) => {
    const timer = setTimeout(() => finish("timeout"), 2_000);
    const finish = (result: string) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    socket.on("error", (error) => finish(`closed (${error.message})`));
    socket.on("close", () => finish("closed"));
    socket.on("data", (chunk) => finish(`echo:${chunk.toString()}`));
    socket.write("ok");
  });
}

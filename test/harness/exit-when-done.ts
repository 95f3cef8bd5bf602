// Node 20 can spin forever in its exit-time handle cleanup (FreeEnvironment → CleanupHandles) after
// a file that cut and reset many proxied sockets: seen once in a clean CI run, 100% CPU, tests all
// passed, the file never exited. Files that use the TCP proxies therefore end their own process a
// moment after their last hook, while the event loop still runs (process.exit skips that cleanup);
// the moment lets the reporter flush its output to the runner.
import { after } from "node:test";

export function exitWhenDone(graceMs = 1_000): void {
  after(() => {
    setTimeout(() => process.exit(process.exitCode ?? 0), graceMs);
  });
}

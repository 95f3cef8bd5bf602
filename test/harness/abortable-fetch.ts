/**
 * Node's global fetch with an abort that reaches the response body every time.
 *
 * undici (Node 20's fetch) makes each Request follow the caller's signal through a weak
 * reference to the Request's own AbortController. Once fetch has returned and nothing holds the
 * Request, a garbage collection can sever that link: aborting the caller's signal then neither
 * errors the response body nor closes the connection, and a reader waiting on a server stream
 * waits forever (nodejs/node#55428). A browser, the dashboard's client, has no such gap.
 *
 * This wrapper listens to the caller's signal itself (the caller keeps its signal alive) and,
 * on abort, errors the body it hands out and cancels undici's body, which closes the connection
 * so the server sees the stream end.
 */
export const abortableFetch: typeof globalThis.fetch = async (input, init) => {
  const response = await globalThis.fetch(input, init);
  const signal = init?.signal;
  if (!signal || !response.body) return response;
  const source = response.body.getReader();
  let onAbort = (): void => {};
  let aborted = false;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      onAbort = () => {
        aborted = true;
        controller.error(signal.reason);
        source.cancel(signal.reason).catch(() => {});
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
    },
    async pull(controller) {
      const next = await source.read();
      // Aborted while reading: the body is errored already, and the read ended by the cancel.
      if (aborted) return;
      if (next.done) {
        signal.removeEventListener("abort", onAbort);
        controller.close();
      } else {
        controller.enqueue(next.value);
      }
    },
    cancel(reason) {
      signal.removeEventListener("abort", onAbort);
      return source.cancel(reason);
    },
  });
  return new Response(body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
};

// Starts work for each input as it arrives, with at most `inflightMax` unfinished, and yields the
// results in input order. The first failure ends the output with that error.
export async function* orderedPipeline<I, O>(
  inputs: AsyncIterable<I>,
  start: (input: I) => Promise<O>,
  inflightMax: number,
): AsyncGenerator<O> {
  const pending: Promise<O>[] = [];
  let inputsDone = false;
  let inputError: { error: unknown } | undefined;
  let wakeReader: (() => void) | undefined;
  let wakeWriter: (() => void) | undefined;
  const iterator = inputs[Symbol.asyncIterator]();

  const reader = (async () => {
    try {
      for (;;) {
        while (pending.length >= inflightMax)
          await new Promise<void>((resolve) => (wakeReader = resolve));
        const next = await iterator.next();
        if (next.done) break;
        const work = start(next.value);
        work.catch(() => undefined); // observed by the writer, in order
        pending.push(work);
        wakeWriter?.();
      }
    } catch (error) {
      inputError = { error };
    } finally {
      inputsDone = true;
      wakeWriter?.();
    }
  })();

  try {
    for (;;) {
      const head = pending[0];
      if (head !== undefined) {
        const result = await head;
        pending.shift();
        wakeReader?.();
        yield result;
        continue;
      }
      if (inputsDone) break;
      await new Promise<void>((resolve) => (wakeWriter = resolve));
    }
    if (inputError !== undefined) throw inputError.error;
  } finally {
    wakeReader?.();
    // Not awaited: a pending next() (a client that stopped sending) must not hold the caller.
    iterator.return?.().catch(() => undefined);
    reader.catch(() => undefined);
  }
}

/** `inputs` with `map` applied to each, in order. */
export async function* mapAsync<I, O>(
  inputs: AsyncIterable<I>,
  map: (input: I) => O,
): AsyncGenerator<O> {
  for await (const input of inputs) yield map(input);
}

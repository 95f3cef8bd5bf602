// Starts work for each input as it arrives, with at most `inflightMax` unfinished, and yields the
// results in input order. The first failure ends the output with that error, and no work starts
// after it is known (work already started goes on).
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
  let failed = false;
  const iterator = inputs[Symbol.asyncIterator]();

  const reader = (async () => {
    try {
      for (;;) {
        while (pending.length >= inflightMax && !failed)
          await new Promise<void>((resolve) => (wakeReader = resolve));
        const next = failed ? undefined : await iterator.next();
        if (next === undefined || next.done || failed) break;
        const work = start(next.value);
        // Observed by the writer, in order; here only to start nothing after a failure.
        work.catch(() => {
          failed = true;
          wakeReader?.();
        });
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

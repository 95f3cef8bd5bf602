/**
 * Runs async work one piece at a time, in the order it was submitted; a failure is returned to
 * its caller and does not stop the work after it. The log and the topic registry serialise their
 * mutations with it.
 */
export class SerialExecutor {
  private chain: Promise<void> = Promise.resolve();

  run<T>(work: () => Promise<T>): Promise<T> {
    const result = this.chain.then(work);
    this.chain = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

/**
 * Reads until `done` accepts what was read, every `intervalMs`. A read that
 * throws counts as not done yet. After `timeoutMs` it throws, with
 * `describe` saying what was last seen.
 */
export async function poll<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  options: {
    timeoutMs: number;
    intervalMs?: number;
    describe: (last: T | undefined, error: unknown) => string;
  },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    let last: T | undefined;
    let error: unknown;
    try {
      last = await read();
      if (done(last)) return last;
    } catch (e) {
      error = e;
    }
    if (Date.now() > deadline) throw new Error(options.describe(last, error));
    await new Promise(resolve =>
      setTimeout(resolve, options.intervalMs ?? 250),
    );
  }
}

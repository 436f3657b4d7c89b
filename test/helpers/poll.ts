/**
 * Poll an asynchronous probe (never a fixed sleep) until `done` accepts its
 * result; resolves with that result. On timeout the error shows the last
 * result and, if given, extra diagnostics (e.g. a daemon's log).
 */
export async function eventually<T>(
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  what: string,
  opts: { timeoutMs?: number; intervalMs?: number; diagnostics?: () => string } = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const start = Date.now();
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() - start > timeoutMs) {
      const extra = opts.diagnostics ? `\n--- diagnostics ---\n${opts.diagnostics()}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}\nlast value: ${JSON.stringify(value)}${extra}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 100));
  }
}

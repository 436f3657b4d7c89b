/**
 * Await `p`, but reject (naming `what`) if it has not settled `ms` from now:
 * for promises that must resolve by a deadline (stop()), so a broken one
 * fails its test with a clear message instead of hanging it.
 */
export async function settlesWithin<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not settled within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

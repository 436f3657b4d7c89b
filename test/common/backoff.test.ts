import { Backoff, DEFAULT_BACKOFF, type BackoffOptions } from '../../src/common/backoff';

/** A random() that returns the given values in turn. */
function sequence(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length];
}

const take = (b: Backoff, n: number): number[] => Array.from({ length: n }, () => b.next());

describe('Backoff', () => {
  it('defaults: 200 ms doubling to a 5 s cap, +/-20 % jitter', () => {
    expect(DEFAULT_BACKOFF).toEqual({ initialMs: 200, maxMs: 5000, factor: 2, jitter: 0.2 });
  });

  it('is exponential and capped (jitter centred)', () => {
    expect(take(new Backoff(DEFAULT_BACKOFF, () => 0.5), 9)).toEqual([200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000]);
  });

  it('uses the factor', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 100_000, factor: 3, jitter: 0 }, () => 0.9);
    expect(take(b, 6)).toEqual([100, 300, 900, 2700, 8100, 24_300]);
  });

  it('jitter spans [base*(1-j), base*(1+j)) as random() spans [0, 1)', () => {
    expect(take(new Backoff(DEFAULT_BACKOFF, () => 0), 7)).toEqual([160, 320, 640, 1280, 2560, 4000, 4000]);
    expect(take(new Backoff(DEFAULT_BACKOFF, () => 0.999999), 7)).toEqual([240, 480, 960, 1920, 3840, 6000, 6000]);
    expect(take(new Backoff(DEFAULT_BACKOFF, sequence(0.25, 0.75)), 6)).toEqual([180, 440, 720, 1760, 2880, 5500]);
  });

  it('stays within the jitter bounds for any random() value', () => {
    const opts: BackoffOptions = { initialMs: 150, maxMs: 7000, factor: 2, jitter: 0.3 };
    for (const r of [0, 0.1, 0.333, 0.5, 0.77, 0.999999]) {
      const b = new Backoff(opts, () => r);
      for (let attempt = 0; attempt < 12; attempt++) {
        const base = Math.min(7000, 150 * 2 ** attempt);
        const d = b.next();
        expect(d).toBeGreaterThanOrEqual(Math.round(base * 0.7));
        expect(d).toBeLessThanOrEqual(Math.round(base * 1.3));
      }
    }
  });

  it('without jitter ignores random()', () => {
    expect(take(new Backoff({ initialMs: 50, maxMs: 300, factor: 2, jitter: 0 }, sequence(0, 0.99)), 5)).toEqual([50, 100, 200, 300, 300]);
  });

  it('reset() starts over from the initial delay', () => {
    const b = new Backoff(DEFAULT_BACKOFF, () => 0.5);
    expect(take(b, 4)).toEqual([200, 400, 800, 1600]);
    b.reset();
    expect(take(b, 3)).toEqual([200, 400, 800]);
    b.reset();
    b.reset();
    expect(b.next()).toBe(200);
  });

  it('stays at the cap after very many failures (no overflow to Infinity or NaN)', () => {
    const b = new Backoff(DEFAULT_BACKOFF, () => 0.5);
    const delays = take(b, 2000);
    expect(delays.slice(5).every((d) => d === 5000)).toBe(true);
  });

  it('never returns a negative delay, even with jitter above 100 %', () => {
    expect(take(new Backoff({ initialMs: 100, maxMs: 1000, factor: 2, jitter: 1.5 }, () => 0), 3)).toEqual([0, 0, 0]);
  });

  it('calls random() once per delay', () => {
    const random = jest.fn(() => 0.5);
    const b = new Backoff(DEFAULT_BACKOFF, random);
    take(b, 5);
    expect(random).toHaveBeenCalledTimes(5);
  });
});

test('initialMs 0 (reconnect.initialDelay: 0) never yields NaN', () => {
  const b = new Backoff({ initialMs: 0, maxMs: 5000, factor: 2, jitter: 0.2 }, () => 0.5);
  const delays = Array.from({ length: 1100 }, () => b.next());
  expect(delays.filter((d) => !Number.isFinite(d))).toEqual([]);
});

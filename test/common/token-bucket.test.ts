import { TokenBucket } from '../../src/common/token-bucket';
import { FakeClock } from '../helpers/fake-clock';

describe('TokenBucket', () => {
  it('starts full, refills at its rate from the clock, and never holds more than its capacity', () => {
    const clock = new FakeClock(1_000_000);
    const b = new TokenBucket(1000, 100, clock.now);
    expect(b.available()).toBe(100);
    b.take(100);
    expect(b.available()).toBe(0);
    expect(b.msUntil(1)).toBe(1);
    expect(b.msUntil(100)).toBe(100);
    expect(b.msUntil(500)).toBe(100); // capped at the capacity: it can never hold 500
    clock.advance(37);
    expect(b.available()).toBe(37);
    clock.advance(10_000);
    expect(b.available()).toBe(100);
  });

  it('rates below one a second, and rates whose interval is not a whole number of milliseconds, are exact at the time msUntil names', () => {
    const clock = new FakeClock(0);
    const slow = new TokenBucket(0.5, 1, clock.now);
    slow.take(1);
    expect(slow.msUntil(1)).toBe(2000);
    clock.advance(1999);
    expect(slow.available()).toBe(0);
    clock.advance(1);
    expect(slow.available()).toBe(1);
    const odd = new TokenBucket(3, 3, clock.now);
    odd.take(3);
    for (let i = 0; i < 30; i++) {
      const ms = odd.msUntil(1);
      clock.advance(ms);
      expect(odd.available()).toBeGreaterThanOrEqual(1);
      odd.take(1);
    }
    // 30 tokens at 3 a second take 10 s, never less
    expect(clock.now()).toBeGreaterThanOrEqual(2000 + 10_000);
  });

  it('a clock that steps back adds nothing', () => {
    let t = 5000;
    const b = new TokenBucket(10, 10, () => t);
    b.take(10);
    t = 4000;
    expect(b.available()).toBe(0);
    t = 4100;
    expect(b.available()).toBe(1);
  });
});

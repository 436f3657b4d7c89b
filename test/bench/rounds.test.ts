// bench/ is plain JavaScript (checked with @ts-check, not compiled): its ScenarioResult shape, restated
interface Row {
  name: string;
  metrics: number;
  seconds: number;
  metricsPerSec: number;
  cpuMicrosPerMetric: number;
  peakRssMiB: number;
  loss: number;
  details?: Record<string, string | number>;
}
const { median, mergeRounds } = require('../../bench/lib/rounds') as { median: (xs: number[]) => number; mergeRounds: (rs: Row[]) => Row };

const row = (metricsPerSec: number, cpu: number, rss: number, loss: number, tag: string): Row => ({
  name: 'line -> pickle',
  metrics: 1000,
  seconds: 1000 / metricsPerSec,
  metricsPerSec,
  cpuMicrosPerMetric: cpu,
  peakRssMiB: rss,
  loss,
  details: { round: tag },
});

describe('bench rounds', () => {
  it('takes the lower middle of an even count and the middle of an odd one', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2);
    // a round that delivered nothing has NaN CPU per datapoint: left out, not sorted at random
    expect(median([NaN, 3, 1])).toBe(1);
    expect(median([NaN])).toBeNaN();
  });

  it('merges rounds: medians of throughput and CPU, highest RSS, summed loss, the median round details', () => {
    const merged = mergeRounds([row(100, 0.9, 120, 0, 'a'), row(300, 0.5, 130, 2, 'b'), row(200, 0.7, 125, 1, 'c')]);
    expect(merged.metricsPerSec).toBe(200);
    expect(merged.cpuMicrosPerMetric).toBe(0.7);
    expect(merged.peakRssMiB).toBe(130);
    expect(merged.loss).toBe(3);
    expect(merged.details).toMatchObject({ round: 'c', 'rounds (3) metrics/s': '100 / 300 / 200', 'rounds (3) CPU us/metric': '0.90 / 0.50 / 0.70' });
  });

  it('passes a single round through unchanged', () => {
    const one = row(100, 0.9, 120, 0, 'a');
    expect(mergeRounds([one])).toBe(one);
  });
});

import fs from 'node:fs';
import path from 'node:path';
import { AGGREGATION_COUNTERS, AggregationCounters, aggregationCounterReporter } from '../../src/aggregation/counters';
import { AGGREGATION_TARGETS, FAMILIES, targetOf } from '../../src/telemetry/prometheus-names';

describe('aggregation counters', () => {
  it('the table lists every field; every key has a Prometheus family and a README entry', () => {
    const fields = Object.keys(new AggregationCounters());
    expect(Object.keys(AGGREGATION_COUNTERS).sort()).toEqual([...fields].sort());
    expect(Object.keys(AGGREGATION_TARGETS).sort()).toEqual([...fields].sort());
    for (const f of fields) expect(FAMILIES[targetOf('aggregator', f)!.family]).toBeDefined();
    const readme = fs.readFileSync(path.join(__dirname, '../../README.md'), 'utf8');
    expect(fields.filter((n) => !readme.includes(`\`${n}\``) && !readme.includes(`.${n}\``) && !readme.includes(` ${n}\``))).toEqual([]);
  });

  it('reports nothing while aggregation is off', () => {
    const c = new AggregationCounters();
    c.lateDatapoints = 3;
    let on = false;
    const r = aggregationCounterReporter(c, () => on);
    const seen: [string, number][] = [];
    r.reportCounters((k, v) => seen.push([k, v]));
    expect(seen).toEqual([]);
    on = true;
    r.reportCounters((k, v) => seen.push([k, v]));
    expect(seen).toContainEqual(['lateDatapoints', 3]);
    expect(r.counterPath).toBe('aggregator');
  });
});

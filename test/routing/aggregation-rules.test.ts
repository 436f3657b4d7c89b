import fs from 'node:fs';
import path from 'node:path';
import fixture from '../fixtures/aggregation-names.json';
import { AggregationRule, AggregationRulesFile, parseAggregationRules } from '../../src/routing/aggregation-rules';
import { ConfigError } from '../../src/config/config-error';
import { silentLogger } from '../../src/telemetry/logger';
import { tempDir } from '../helpers/relay';

describe('aggregation rules (carbon-aggregator naming, for aggregated-consistent-hashing)', () => {
  const rules = (fixture.rules as [string, string][]).map(([output, input]) => new AggregationRule(input, output, 'sum', 60));

  it.each(fixture.cases as [string, (string | null)[]][])('%j maps like carbon AggregationRule.get_aggregate_metric', (metric, expected) => {
    expect(rules.map((r) => r.aggregateName(metric) ?? null)).toEqual(expected);
  });

  it('parses the file format and names the line of a bad rule', () => {
    const text = '# comment\n\nall.<a> (60) = sum x.<a>\nbroken line\n';
    expect(() => parseAggregationRules(text, 'agg.conf')).toThrow(new ConfigError('invalid aggregation rule: expected "output (frequency) = method input"', { file: 'agg.conf', line: 4 }, 'CF_ERR_CONFIG_AGGREGATION_RULES'));
    expect(() => parseAggregationRules('a (60) = median b', 'agg.conf')).toThrow(/line|unknown method "median"/);
    expect(parseAggregationRules('all.<a> (60) = sum x.<a>', 'f').map((r) => r.output)).toEqual(['all.<a>']);
    expect(parseAggregationRules('a.<x> (10) = p999 b.<x>\nc (60 = count d', 'f').map((r) => [r.method, r.frequency])).toEqual([['p999', 10], ['count', 60]]);
    expect(() => parseAggregationRules('a (0) = sum b', 'agg.conf')).toThrow(/agg\.conf:1: invalid aggregation rule: frequency must be at least 1 second/);
  });

  it('refuses an output naming a field its input does not capture (carbon drops every matching datapoint with a KeyError)', () => {
    expect(() => parseAggregationRules('ok.<host> (60) = sum in.<host>.*\nout.<missing>.total (60) = sum in.<host>.*\n', 'agg.conf')).toThrow(
      new ConfigError('invalid aggregation rule: output "out.<missing>.total" uses <missing>, which the input pattern does not capture', { file: 'agg.conf', line: 2 }, 'CF_ERR_CONFIG_AGGREGATION_RULES'),
    );
    // carbon's template turns <<p>> in an output into %(%(p)s)s: a KeyError as well
    expect(() => parseAggregationRules('agg.<<p>>.x (60) = sum <<p>>.x', 'agg.conf')).toThrow(/uses <<p>/);
    expect(() => parseAggregationRules('agg.100%.<p> (60) = sum <p>.x', 'agg.conf')).toThrow(/stray %/);
    expect(parseAggregationRules('agg.<p>.x (60) = sum <<p>>.x', 'agg.conf').map((r) => r.output)).toEqual(['agg.<p>.x']);
  });

  it('keys a metric by every matching aggregate, or by itself when none matches; reloads on change', () => {
    const dir = tempDir();
    const file = path.join(dir, 'aggregation-rules.conf');
    fs.writeFileSync(file, 'sum.<a> (60) = sum x.<a>.*\nmax.<a> (60) = max x.<a>.*\n');
    const f = new AggregationRulesFile(file, silentLogger());
    expect(f.keysFor('x.y.z')).toEqual(['sum.y', 'max.y']);
    expect(f.keysFor('other')).toEqual(['other']);
    fs.writeFileSync(file, 'only.<a> (60) = sum x.<a>.*\n');
    fs.utimesSync(file, new Date(), new Date(Date.now() + 5000));
    expect(f.refresh()).toBe(true);
    expect(f.keysFor('x.y.z')).toEqual(['only.y']);
  });
});

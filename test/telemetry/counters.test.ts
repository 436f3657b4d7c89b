import fs from 'node:fs';
import path from 'node:path';
import { DESTINATION_COUNTERS, IngestCounters, ingestCounterReporter, visitCounters, type CounterKind } from '../../src/telemetry/counters';

function visited(report: (visit: (key: string, value: number, kind: CounterKind) => void) => void): [string, number, CounterKind][] {
  const out: [string, number, CounterKind][] = [];
  report((key, value, kind) => out.push([key, value, kind]));
  return out;
}

describe('counters are reported one way', () => {
  it('the relay-wide reporter visits every ingest counter, HTTP ones only with the front door', () => {
    const c = new IngestCounters();
    c.metricsReceived = 7;
    c.activeConnections = 2;
    c.httpRequests = 3;
    const all = Object.keys(c);
    const withHttp = visited((v) => ingestCounterReporter(c, true).reportCounters(v));
    expect(withHttp.map(([k]) => k).sort()).toEqual([...all].sort());
    expect(withHttp).toContainEqual(['metricsReceived', 7, 'counter']);
    expect(withHttp).toContainEqual(['activeConnections', 2, 'gauge']);
    expect(withHttp).toContainEqual(['httpRequests', 3, 'counter']);
    const without = visited((v) => ingestCounterReporter(c, false).reportCounters(v)).map(([k]) => k);
    expect(without.filter((k) => k.startsWith('http'))).toEqual([]);
    expect(without).toHaveLength(all.filter((k) => !k.startsWith('http')).length);
    expect(ingestCounterReporter(c, true).counterPath).toBe('');
  });

  it('visitCounters reads the fields a table lists, with their kinds, in table order', () => {
    const fields = { a: 1, b: 2, c: 3 };
    expect(visited((v) => visitCounters(fields, { c: 'gauge', a: 'counter' }, v))).toEqual([
      ['c', 3, 'gauge'],
      ['a', 1, 'counter'],
    ]);
  });

  it('every counter name is documented in the README', () => {
    const readme = fs.readFileSync(path.join(__dirname, '../../README.md'), 'utf8');
    const names = [...Object.keys(new IngestCounters()), ...Object.keys(DESTINATION_COUNTERS), 'queueLength'];
    expect(names.filter((n) => !readme.includes(`\`${n}\``) && !readme.includes(` ${n}\``) && !readme.includes(`.${n}\``))).toEqual([]);
  });
});

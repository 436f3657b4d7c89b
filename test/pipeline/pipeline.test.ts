import { LineEncoder } from '../../src/codec/line-encoder';
import { MetricBatch } from '../../src/model/metric';
import { Destination } from '../../src/output/destination';
import { DatapointQueue } from '../../src/output/queue';
import { Pipeline, type PipelineRouters } from '../../src/pipeline/pipeline';
import { NameFilter } from '../../src/routing/name-filter';
import { DirectTarget, Router } from '../../src/routing/router';
import { RuleSet } from '../../src/routing/rule-set';
import { IngestCounters } from '../../src/telemetry/counters';
import { silentLogger } from '../../src/telemetry/logger';
import { ScriptedTransport } from '../helpers/scripted-transport';

/** A destination that is never started: everything offered stays in its queue, to be read back. */
function destination(name: string, limit = 1000): Destination {
  return new Destination(
    { name, metricName: name, maxDatapointsPerMessage: 500, highWaterMark: limit, lowWaterMark: 0, stallTimeoutMs: 0, backoff: { initialMs: 10, maxMs: 10, factor: 2, jitter: 0 } },
    { queue: new DatapointQueue(limit), transport: new ScriptedTransport(), encoder: new LineEncoder(), log: silentLogger() },
  );
}

function queued(d: Destination): [string, number, number][] {
  const q = d.queue;
  return Array.from({ length: q.length }, (_, k) => [q.nameAt(k), q.valueAt(k), q.timestampAt(k)]);
}

/** Rules: `^a\.` -> a, `^none\.` -> nothing (blackhole), default -> b; the received router blocks `secret`. */
function routers(a: Destination, b: Destination): PipelineRouters {
  const rules = new RuleSet(
    [
      { name: 'a', pattern: /^a\./, targets: [new DirectTarget(a)], continue: false },
      { name: 'none', pattern: /^none\./, targets: [], continue: false },
    ],
    [new DirectTarget(b)],
  );
  const filter = new NameFilter({ allow: [], block: [/secret/] }, silentLogger());
  return { received: new Router(rules, { filter, normalizeTags: false, cacheSize: 100 }), internal: new Router(rules, { normalizeTags: false, cacheSize: 100 }) };
}

describe('Pipeline', () => {
  it('routes each datapoint once to each chosen destination and counts every one it does not queue, by reason', () => {
    const [a, b] = [destination('a'), destination('b')];
    const counters = new IngestCounters();
    const p = new Pipeline(routers(a, b), counters, silentLogger());
    const batch = MetricBatch.of([
      { name: 'a.x', value: 1, timestamp: 10 },
      { name: 'b.y', value: 2, timestamp: 20 },
      { name: 'none.z', value: 3, timestamp: 30 },
      { name: 'a.secret', value: 4, timestamp: 40 },
      { name: 'bad name', value: 5, timestamp: 50 },
    ]);
    p.accept(batch, 'peer');
    expect(queued(a)).toEqual([['a.x', 1, 10]]);
    expect(queued(b)).toEqual([['b.y', 2, 20]]);
    expect({ received: counters.metricsReceived, blackholed: counters.blackholed, blacklist: counters.blacklistMatches, invalid: counters.invalidNames }).toEqual({
      received: 3,
      blackholed: 1,
      blacklist: 1,
      invalid: 1,
    });
  });

  it('counts names over maxNameLength as nameTooLong and queues nothing for them', () => {
    const [a, b] = [destination('a'), destination('b')];
    const counters = new IngestCounters();
    const rules = new RuleSet([], [new DirectTarget(b)]);
    const p = new Pipeline({ received: new Router(rules, { normalizeTags: false, cacheSize: 100, maxNameLength: 8 }), internal: new Router(rules, { normalizeTags: false, cacheSize: 100 }) }, counters, silentLogger());
    expect(p.maxNameLength).toBe(8);
    const huge = `a.${'x'.repeat(1_000_000)}`;
    p.accept(MetricBatch.of([{ name: 'a.ok', value: 1, timestamp: 1 }, ...Array.from({ length: 500 }, () => ({ name: huge, value: 2, timestamp: 2 })), { name: 'a.123456789', value: 3, timestamp: 3 }]), 'peer');
    expect(queued(b)).toEqual([['a.ok', 1, 1]]);
    expect(queued(a)).toEqual([]);
    expect({ received: counters.metricsReceived, nameTooLong: counters.nameTooLong, invalidNames: counters.invalidNames }).toEqual({ received: 1, nameTooLong: 501, invalidNames: 0 });
  });

  it('floors timestamps to minTimestampResolution for received datapoints', () => {
    const [a, b] = [destination('a'), destination('b')];
    const p = new Pipeline(routers(a, b), new IngestCounters(), silentLogger(), 60);
    p.acceptMetric({ name: 'a.x', value: 1, timestamp: 1700000039.9 }, 'peer');
    expect(queued(a)).toEqual([['a.x', 1, 1699999980]]);
  });

  it('internal datapoints bypass the filters and are not counted as received', () => {
    const [a, b] = [destination('a'), destination('b')];
    const counters = new IngestCounters();
    const p = new Pipeline(routers(a, b), counters, silentLogger());
    p.acceptInternal(MetricBatch.of([{ name: 'a.secret', value: 1, timestamp: 1 }]));
    expect(queued(a)).toEqual([['a.secret', 1, 1]]);
    expect(counters.metricsReceived).toBe(0);
  });

  it('replaceRouters swaps rules, filters and rings as one unit for the next batch', () => {
    const [a, b, c] = [destination('a'), destination('b'), destination('c')];
    const p = new Pipeline(routers(a, b), new IngestCounters(), silentLogger());
    p.acceptMetric({ name: 'a.x', value: 1, timestamp: 1 }, 'peer');
    // the new routers send everything to c, with no filter
    const all = new RuleSet([], [new DirectTarget(c)]);
    p.replaceRouters({ received: new Router(all, { normalizeTags: false, cacheSize: 10 }), internal: new Router(all, { normalizeTags: false, cacheSize: 10 }) });
    p.accept(MetricBatch.of([{ name: 'a.x', value: 2, timestamp: 2 }, { name: 'a.secret', value: 3, timestamp: 3 }]), 'peer');
    expect(queued(a)).toEqual([['a.x', 1, 1]]);
    expect(queued(c)).toEqual([
      ['a.x', 2, 2],
      ['a.secret', 3, 3],
    ]);
    expect(p.route('anything').destinations).toEqual([c]);
  });
});

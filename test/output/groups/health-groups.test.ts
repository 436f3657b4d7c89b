import { LineEncoder } from '../../../src/codec/line-encoder';
import { Destination } from '../../../src/output/destination';
import { AnyOfGroup } from '../../../src/output/groups/any-of-group';
import { FailoverGroup } from '../../../src/output/groups/failover-group';
import { DatapointQueue } from '../../../src/output/queue';
import { silentLogger } from '../../../src/telemetry/logger';
import { eventLoopTurns, ScriptedTransport } from '../../helpers/scripted-transport';

interface Member {
  d: Destination;
  t: ScriptedTransport;
}

/** A destination over a scripted transport whose peer never reads (budget 0), so what it is offered stays countable. */
function member(name: string): Member {
  const t = new ScriptedTransport();
  const d = new Destination(
    { name, metricName: name, maxDatapointsPerMessage: 500, highWaterMark: 10_000, lowWaterMark: 0, stallTimeoutMs: 0, backoff: { initialMs: 60_000, maxMs: 60_000, factor: 2, jitter: 0 } },
    { queue: new DatapointQueue(10_000), transport: t, encoder: new LineEncoder(), log: silentLogger() },
  );
  return { d, t };
}

async function up(m: Member): Promise<void> {
  if (m.t.connections.length === 0) await m.d.start();
  m.t.current.budget = 0;
  m.t.current.connect();
}

function down(m: Member): void {
  m.t.current.close(new Error('peer gone'));
}

/** Names in a member's queue, plus what it wrote before blocking. */
function held(m: Member): string[] {
  const q = m.d.queue;
  const written = m.t.connections.flatMap((c) => c.writes.map((w) => w.toString('utf8')).join('').split('\n').filter((l) => l !== '').map((l) => l.split(' ')[0]));
  return [...written, ...Array.from({ length: q.length }, (_, k) => q.nameAt(k))];
}

describe('FailoverGroup', () => {
  it('sends to the first healthy member in order; traffic moves to the next when it goes down and back when an earlier one is healthy', async () => {
    const [a, b] = [member('a'), member('b')];
    const g = new FailoverGroup('fo', [a.d, b.d], silentLogger());
    await a.d.start(); // connecting: not healthy yet
    await up(b);
    expect(g.current).toBe(b.d);
    g.offer('to.b', 1, 1);
    a.t.current.budget = 0;
    a.t.current.connect(); // the first member is healthy: traffic moves back to it
    expect(g.current).toBe(a.d);
    g.offer('to.a', 2, 2);
    down(a);
    expect(g.current).toBe(b.d);
    g.offer('to.b.again', 3, 3);
    expect(held(b)).toEqual(['to.b', 'to.b.again']);
    expect(held(a)).toEqual(['to.a']);
    expect(g.counters.memberChanges).toBe(3);
    await g.stop(Date.now());
    await a.d.stop(Date.now());
    await b.d.stop(Date.now());
  });

  it('what a member that went down still holds moves to the new active member, exactly once', async () => {
    const [a, b] = [member('a'), member('b')];
    const g = new FailoverGroup('fo', [a.d, b.d], silentLogger());
    await a.d.start(); // a never connects: everything offered waits in its queue
    for (let i = 0; i < 300; i++) g.offer(`m.${i}`, i, i);
    expect(a.d.queue.length).toBe(300);
    await up(b); // b is the first healthy member now
    expect(g.current).toBe(b.d);
    await eventLoopTurns(3);
    expect(a.d.queue.length).toBe(0);
    expect(a.d.counters.handedOver).toBe(300);
    expect(g.counters.moved).toBe(300);
    expect(held(b).sort()).toEqual(Array.from({ length: 300 }, (_, i) => `m.${i}`).sort());
    await g.stop(Date.now());
    await a.d.stop(Date.now());
    await b.d.stop(Date.now());
  });

  it('with no member healthy, traffic stays with the current member (its queue holds it)', async () => {
    const [a, b] = [member('a'), member('b')];
    const g = new FailoverGroup('fo', [a.d, b.d], silentLogger());
    g.offer('x', 1, 1);
    expect(a.d.queue.length).toBe(1);
    expect(b.d.queue.length).toBe(0);
    await g.stop(Date.now());
  });
});

describe('AnyOfGroup', () => {
  const names = Array.from({ length: 600 }, (_, i) => `servers.host${i}.cpu`);

  function owner(ms: Member[], name: string): string {
    const m = ms.find((x) => held(x).includes(name));
    if (m === undefined) throw new Error(`${name} is nowhere`);
    return m.d.name;
  }

  it('spreads names over the healthy members, the same name always to the same member', async () => {
    const ms = ['a', 'b', 'c'].map(member);
    const g = new AnyOfGroup('any', ms.map((m) => m.d), silentLogger());
    for (const m of ms) await up(m);
    for (const n of names) g.offer(n, 1, 1);
    for (const n of names) g.offer(n, 2, 2);
    const counts = ms.map((m) => held(m).length);
    expect(counts.reduce((x, y) => x + y, 0)).toBe(names.length * 2);
    for (const c of counts) expect(c).toBeGreaterThan(names.length * 2 * 0.2); // each gets a fair share of 1200
    for (const m of ms) {
      const mine = held(m);
      for (const n of new Set(mine)) expect(mine.filter((x) => x === n)).toHaveLength(2); // both datapoints of a name together
    }
    await g.stop(Date.now());
    for (const m of ms) await m.d.stop(Date.now());
  });

  it('when a member goes down only its names move, and what it held goes to their new members', async () => {
    const ms = ['a', 'b', 'c'].map(member);
    const g = new AnyOfGroup('any', ms.map((m) => m.d), silentLogger());
    for (const m of ms) await up(m);
    for (const n of names) g.offer(n, 1, 1);
    const before = new Map(names.map((n) => [n, owner(ms, n)]));
    // b stops reading and its connection drops with the first write lost; queue more for b before it goes down
    down(ms[1]);
    for (const n of names) g.offer(n, 2, 2);
    for (const n of names) {
      const was = before.get(n);
      const now = ms.filter((m) => m.d.name !== 'b').find((m) => {
        const q = m.d.queue;
        for (let k = 0; k < q.length; k++) if (q.nameAt(k) === n && q.valueAt(k) === 2) return true;
        return false;
      });
      if (was !== 'b') expect(now?.d.name).toBe(was);
      else expect(now?.d.name === 'a' || now?.d.name === 'c').toBe(true);
    }
    await g.stop(Date.now());
    for (const m of ms) await m.d.stop(Date.now());
  });
});

import { LineEncoder } from '../../src/codec/line-encoder';
import type { Pausable } from '../../src/model/pausable';
import { Destination } from '../../src/output/destination';
import { DatapointQueue } from '../../src/output/queue';
import { FlowControl } from '../../src/pipeline/flow-control';
import { silentLogger } from '../../src/telemetry/logger';
import { eventLoopTurns, ScriptedTransport } from '../helpers/scripted-transport';

class Producer implements Pausable {
  readonly calls: string[] = [];
  pause(): void {
    this.calls.push('pause');
  }
  resume(): void {
    this.calls.push('resume');
  }
}

/** A destination over a scripted transport, reporting pressure to `flow`; limit 100, high 50, low 25. */
function destination(name: string, flow: FlowControl, limit = 100): { d: Destination; transport: ScriptedTransport } {
  const transport = new ScriptedTransport();
  const d = new Destination(
    {
      name,
      metricName: name,
      maxDatapointsPerMessage: 500,
      highWaterMark: limit / 2,
      lowWaterMark: limit / 4,
      stallTimeoutMs: 0,
      backoff: { initialMs: 10_000, maxMs: 10_000, factor: 2, jitter: 0 },
    },
    { queue: new DatapointQueue(limit), transport, encoder: new LineEncoder(), log: silentLogger(), pressure: flow },
  );
  return { d, transport };
}

function offer(d: Destination, n: number): void {
  for (let i = 0; i < n; i++) d.offer(`m.${i}`, 1, i);
}

describe('FlowControl', () => {
  it('pauses every producer while any connected destination is above its high-water mark, resumes when all are below low', async () => {
    const flow = new FlowControl();
    const a = destination('a', flow);
    const b = destination('b', flow);
    flow.watch([a.d, b.d]);
    const p = new Producer();
    flow.addProducer(p);
    await a.d.start();
    await b.d.start();
    a.transport.current.connect();
    b.transport.current.connect();
    a.transport.current.budget = 0; // a's peer reads nothing: its queue builds up
    b.transport.current.budget = 0;
    offer(a.d, 1); // first write blocks a
    offer(b.d, 1);
    await eventLoopTurns();
    offer(a.d, 60);
    expect(flow.paused).toBe(true);
    offer(b.d, 60);
    expect(p.calls).toEqual(['pause']); // one pause, however many destinations are pressured
    a.transport.current.drain();
    await eventLoopTurns();
    expect(a.d.queue.length).toBe(0);
    expect(p.calls).toEqual(['pause']); // b still holds it
    b.transport.current.drain();
    await eventLoopTurns();
    expect(p.calls).toEqual(['pause', 'resume']);
    expect(flow.paused).toBe(false);
    await a.d.stop(Date.now());
    await b.d.stop(Date.now());
  });

  it('a producer registered while paused is paused at once, and can unregister', async () => {
    const flow = new FlowControl();
    const a = destination('a', flow);
    await a.d.start();
    a.transport.current.connect();
    a.transport.current.budget = 0;
    offer(a.d, 1);
    await eventLoopTurns();
    offer(a.d, 60);
    const late = new Producer();
    const unregister = flow.addProducer(late);
    expect(late.calls).toEqual(['pause']);
    unregister();
    a.transport.current.drain();
    await eventLoopTurns();
    expect(late.calls).toEqual(['pause']);
    await a.d.stop(Date.now());
  });

  it('a destination that is down never pauses anyone and does not limit admission', async () => {
    const flow = new FlowControl();
    const down = destination('down', flow);
    flow.watch([down.d]);
    const p = new Producer();
    flow.addProducer(p);
    await down.d.start(); // connect() called, never answered
    offer(down.d, 100);
    expect(p.calls).toEqual([]);
    expect(flow.admissionRoom()).toBe(Infinity);
    await down.d.stop(Date.now());
  });

  it('admission room is the smallest room of a connected destination; max admission the smallest queue', async () => {
    const flow = new FlowControl();
    const small = destination('small', flow, 40);
    const big = destination('big', flow, 400);
    flow.watch([small.d, big.d]);
    expect(flow.maxAdmission()).toBe(40);
    await small.d.start();
    await big.d.start();
    small.transport.current.connect();
    big.transport.current.connect();
    small.transport.current.budget = 0;
    offer(small.d, 1);
    await eventLoopTurns();
    offer(small.d, 9); // 10 queued of 40 (the first was taken by the blocked write)
    expect(flow.admissionRoom()).toBe(40 - small.d.queue.length);
    expect(small.d.queue.length).toBe(9);
    await small.d.stop(Date.now());
    await big.d.stop(Date.now());
  });
});

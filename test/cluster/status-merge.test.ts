import { mergeStatus } from '../../src/cluster/status-merge';

const worker = (over: { sent: number; received: number; state: string; pressure: string; healthy: boolean; at?: string; memberHealthy?: boolean }) => ({
  version: '0.1.0',
  uptimeSeconds: 10,
  config: { file: '/etc/relay.yaml', hash: 'aaaa' },
  ready: true,
  state: 'ready',
  received: { total: over.received, perSecond: over.received / 10, activeConnections: 2 },
  listeners: [{ name: 'line', port: 2003 }],
  destinations: [
    {
      name: 'cache',
      peer: '127.0.0.1:2014',
      state: over.state,
      pressure: over.pressure,
      healthy: over.healthy,
      queue: { length: 5, capacity: 100 },
      sent: { total: over.sent, perSecond: 1 },
      dropped: { total: 1, perSecond: 0 },
      spool: { pending: 3 },
      lastError: over.at === undefined ? null : { reason: `failed at ${over.at}`, at: over.at },
    },
  ],
  groups: [{ name: 'g', members: [{ name: 'cache', healthy: over.memberHealthy ?? true }] }],
  sources: [],
});

describe('mergeStatus (workers: N)', () => {
  it('adds counts and rates, keeps identities, and is healthy only where every worker is', () => {
    const merged = mergeStatus([
      worker({ sent: 10, received: 100, state: 'connected', pressure: 'normal', healthy: true }),
      worker({ sent: 20, received: 300, state: 'connecting', pressure: 'stalled', healthy: false, at: '2026-12-05T08:00:00.000Z', memberHealthy: false }),
    ]);
    expect(merged.received).toEqual({ total: 400, perSecond: 40, activeConnections: 4 });
    expect(merged.listeners).toEqual([{ name: 'line', port: 2003 }]);
    expect(merged.config).toEqual({ file: '/etc/relay.yaml', hash: 'aaaa' });
    expect(merged.uptimeSeconds).toBe(10);
    expect(merged.destinations).toEqual([
      {
        name: 'cache',
        peer: '127.0.0.1:2014',
        state: 'connected,connecting',
        pressure: 'stalled',
        healthy: false,
        queue: { length: 10, capacity: 200 },
        sent: { total: 30, perSecond: 2 },
        dropped: { total: 2, perSecond: 0 },
        spool: { pending: 6 },
        lastError: { reason: 'failed at 2026-12-05T08:00:00.000Z', at: '2026-12-05T08:00:00.000Z' },
      },
    ]);
    expect(merged.groups).toEqual([{ name: 'g', members: [{ name: 'cache', healthy: false }] }]);
  });

  it('keeps the latest last error and the worst pressure whichever worker reports it', () => {
    const a = worker({ sent: 1, received: 1, state: 'connected', pressure: 'full', healthy: true, at: '2026-12-05T09:00:00.000Z' });
    const b = worker({ sent: 1, received: 1, state: 'connected', pressure: 'high', healthy: true, at: '2026-12-05T08:00:00.000Z' });
    for (const merged of [mergeStatus([a, b]), mergeStatus([b, a])]) {
      const [d] = merged.destinations as { pressure: string; state: string; lastError: { at: string } }[];
      expect(d.pressure).toBe('full');
      expect(d.state).toBe('connected');
      expect(d.lastError.at).toBe('2026-12-05T09:00:00.000Z');
    }
  });

  it('lists a destination or source only one worker has (sources run in worker 0)', () => {
    const a = { ...worker({ sent: 1, received: 1, state: 'connected', pressure: 'normal', healthy: true }), sources: [{ name: 'cp', type: 'catchpoint', counters: { polls: 3 } }] };
    const b = worker({ sent: 1, received: 1, state: 'connected', pressure: 'normal', healthy: true });
    expect(mergeStatus([a, b]).sources).toEqual([{ name: 'cp', type: 'catchpoint', counters: { polls: 3 } }]);
    expect(mergeStatus([b, a]).sources).toEqual([{ name: 'cp', type: 'catchpoint', counters: { polls: 3 } }]);
  });
});

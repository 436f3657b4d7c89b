import type { Relay } from '../../src/relay/relay';
import { startRelay } from '../helpers/relay';
import { capturesClosedAfterEach, sendTcp, waitFor } from '../helpers/sink';

function lines(from: number, n: number): string {
  let s = '';
  for (let i = from; i < from + n; i++) s += `grp.m${i} ${i} ${1_700_000_000 + i}\n`;
  return s;
}

describe('failover and any_of groups on a live relay', () => {
  let relay: Relay | undefined;

  afterEach(async () => {
    await relay?.stop(Date.now() + 500);
    relay = undefined;
  });

  const capture = capturesClosedAfterEach();

  it('failover: the primary gets everything while healthy; when it goes away the secondary takes over; nothing sent is lost', async () => {
    const [primary, secondary] = [await capture(), await capture()];
    relay = await startRelay({
      destinations: [
        { name: 'p', host: '127.0.0.1', port: primary.port, protocol: 'line', reconnect: { initialDelay: '5s', maxDelay: '5s' } },
        { name: 's', host: '127.0.0.1', port: secondary.port, protocol: 'line' },
      ],
      groups: [{ name: 'ha', type: 'failover', members: ['p', 's'] }],
      rules: [{ default: true, destinations: ['ha'] }],
    });
    const [p, s] = [relay.destinations.get('p')!, relay.destinations.get('s')!];
    await waitFor(() => p.healthy && s.healthy, 'both members connected');
    await sendTcp(relay.listeners.line!.port, lines(0, 100));
    await waitFor(() => primary.datapoints.length === 100, 'primary has the first 100');
    await primary.close();
    await waitFor(() => !p.healthy, 'the relay saw the primary go');
    await sendTcp(relay.listeners.line!.port, lines(100, 100));
    await waitFor(() => secondary.datapoints.length === 100, 'secondary has the next 100');
    expect(secondary.datapoints.map((d) => d.value)).toEqual(Array.from({ length: 100 }, (_, i) => 100 + i));
    expect(primary.datapoints.map((d) => d.value)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it("any_of: every datapoint reaches exactly one member, names stay put, a down member's names move to the others", async () => {
    const caps = [await capture(), await capture(), await capture()];
    relay = await startRelay({
      destinations: caps.map((c, i) => ({ name: `m${i}`, host: '127.0.0.1', port: c.port, protocol: 'line', reconnect: { initialDelay: '5s', maxDelay: '5s' } })),
      groups: [{ name: 'spread', type: 'any_of', members: ['m0', 'm1', 'm2'] }],
      rules: [{ default: true, destinations: ['spread'] }],
    });
    const ds = [0, 1, 2].map((i) => relay!.destinations.get(`m${i}`)!);
    await waitFor(() => ds.every((d) => d.healthy), 'all members connected');
    await sendTcp(relay.listeners.line!.port, lines(0, 300));
    await waitFor(() => caps.reduce((n, c) => n + c.datapoints.length, 0) === 300, 'all 300 delivered');
    for (const c of caps) expect(c.datapoints.length).toBeGreaterThan(30);
    await caps[1].close();
    await waitFor(() => !ds[1].healthy, 'm1 seen down');
    const before = caps.map((c) => c.datapoints.length);
    await sendTcp(relay.listeners.line!.port, lines(0, 300)); // the same names again
    await waitFor(() => caps[0].datapoints.length + caps[2].datapoints.length === before[0] + before[2] + 300, 'second round delivered to the healthy two');
    // a name that m0 or m2 had stays there
    for (const i of [0, 2]) {
      const first = new Set(caps[i].datapoints.slice(0, before[i]).map((d) => d.name));
      const second = caps[i === 0 ? 2 : 0].datapoints.slice(before[i === 0 ? 2 : 0]).map((d) => d.name);
      expect(second.filter((n) => first.has(n))).toEqual([]);
    }
  });
});


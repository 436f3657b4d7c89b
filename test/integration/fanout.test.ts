import { CaptureServer, sendTcp, waitFor } from '../helpers/sink';
import { startRelay } from '../helpers/relay';
import type { Relay } from '../../src/relay/relay';

describe('fan-out over real sockets', () => {
  let hg: CaptureServer;
  let cache: CaptureServer;
  let relay: Relay;

  beforeEach(async () => {
    hg = new CaptureServer('pickle');
    cache = new CaptureServer('line');
    await hg.listen();
    await cache.listen();
    relay = await startRelay({
      destinations: [
        { name: 'hostedgraphite', host: '127.0.0.1', port: hg.port, protocol: 'pickle', apiKey: 'abc-123', reconnect: { initialDelay: '20ms' } },
        { name: 'cache', host: '127.0.0.1', port: cache.port, protocol: 'line', reconnect: { initialDelay: '20ms' } },
      ],
      rules: [
        { pattern: '^secret\\.', destinations: ['cache'] },
        { default: true, destinations: ['hostedgraphite', 'cache'] },
      ],
    });
  });

  afterEach(async () => {
    await relay.stop(Date.now() + 2000);
    await hg.close();
    await cache.close();
  });

  it('sends each datapoint to every matched destination once, prefixing the API key only where configured', async () => {
    await sendTcp(relay.listeners.line!.port, 'servers.web01.cpu 42.5 1700000000\nsecret.thing 1 1700000001\n');
    await waitFor(() => cache.datapoints.length === 2 && hg.datapoints.length === 1, 'both destinations');
    expect(hg.datapoints).toEqual([{ name: 'abc-123.servers.web01.cpu', timestamp: 1700000000, value: 42.5 }]);
    expect(cache.datapoints).toEqual([
      { name: 'servers.web01.cpu', timestamp: 1700000000, value: 42.5 },
      { name: 'secret.thing', timestamp: 1700000001, value: 1 },
    ]);
    expect(cache.raw.toString()).toBe('servers.web01.cpu 42.5 1700000000\nsecret.thing 1 1700000001\n');
  });
});

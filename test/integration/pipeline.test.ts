import { CaptureServer, sendTcp, waitFor } from '../helpers/sink';
import { startRelay } from '../helpers/relay';
import type { Relay } from '../../src/relay/relay';

describe('pipeline: filters, tags and timestamp resolution on a live relay', () => {
  let relay: Relay;
  let out: CaptureServer;

  beforeEach(async () => {
    out = new CaptureServer('line');
    await out.listen();
    relay = await startRelay({
      normalizeTags: true,
      minTimestampResolution: 60,
      filters: { allow: ['^app\\.', '^carbon\\.'], block: ['\\.debug\\.'] },
      destinations: [{ name: 'out', host: '127.0.0.1', port: out.port, protocol: 'line' }],
      rules: [{ default: true, destinations: ['out'] }],
    });
  });

  afterEach(async () => {
    await relay.stop(Date.now() + 500);
    await out.close();
  });

  it('counts blacklist matches and whitelist rejects, normalises tags, floors timestamps', async () => {
    await sendTcp(
      relay.listeners.line!.port,
      ['app.req;host=a;dc=eu 1 1700000039.9', 'app.debug.x 1 1700000000', 'other.x 1 1700000000', 'app.bad;=x 2 1700000061'].join('\n') + '\n',
    );
    await waitFor(() => out.datapoints.length === 2, 'two datapoints pass the filters');
    expect(out.datapoints).toEqual([
      { name: 'app.req;dc=eu;host=a', value: 1, timestamp: 1699999980 },
      { name: 'app.bad;=x', value: 2, timestamp: 1700000040 },
    ]);
    const c = relay.counters;
    expect({ received: c.metricsReceived, black: c.blacklistMatches, white: c.whitelistRejects, tags: c.invalidTags }).toEqual({ received: 2, black: 1, white: 1, tags: 1 });
  });

  it('self-metrics bypass the filters, as in carbon', async () => {
    relay.selfMetrics.emit();
    await waitFor(() => out.datapoints.length > 0, 'self-metrics delivered');
    expect(out.datapoints.every((d) => d.name.startsWith('carbon.relays.'))).toBe(true);
  });
});

import type { Relay } from '../../src/relay/relay';
import { startRelay } from '../helpers/relay';
import { CaptureServer, sendTcp, waitFor } from '../helpers/sink';

/**
 * A destination's apiKey and a client that prefixes its own key, as Hosted
 * Graphite's instructions tell it to: by default (apiKeyMode
 * prefixIfMissing) such names go out once-prefixed; `always` prefixes
 * every name. Real sockets in and out, pickle and plaintext.
 */
describe('destination apiKey with names that already carry it', () => {
  let relay: Relay | undefined;
  const servers: CaptureServer[] = [];

  afterEach(async () => {
    await relay?.stop(Date.now() + 500);
    relay = undefined;
    for (const s of servers.splice(0)) await s.close();
  });

  const sink = async (protocol: 'pickle' | 'line'): Promise<CaptureServer> => {
    const s = new CaptureServer(protocol);
    await s.listen();
    servers.push(s);
    return s;
  };

  it('prefixIfMissing (the default) sends KEY.foo as is and bar as KEY.bar; always sends KEY.KEY.foo; over pickle and line', async () => {
    const sinks = { defaultPickle: await sink('pickle'), defaultLine: await sink('line'), alwaysPickle: await sink('pickle'), alwaysLine: await sink('line') };
    relay = await startRelay({
      destinations: [
        // the key without its dot: the relay adds it, and checks names against `KEY.`
        { name: 'default-pickle', host: '127.0.0.1', port: sinks.defaultPickle.port, protocol: 'pickle', apiKey: 'KEY' },
        { name: 'default-line', host: '127.0.0.1', port: sinks.defaultLine.port, protocol: 'line', apiKey: 'KEY.' },
        { name: 'always-pickle', host: '127.0.0.1', port: sinks.alwaysPickle.port, protocol: 'pickle', apiKey: 'KEY', apiKeyMode: 'always' },
        { name: 'always-line', host: '127.0.0.1', port: sinks.alwaysLine.port, protocol: 'line', apiKey: 'KEY', apiKeyMode: 'always' },
      ],
      rules: [{ default: true, destinations: ['default-pickle', 'default-line', 'always-pickle', 'always-line'] }],
    });
    await sendTcp(relay.listeners.line!.port, 'KEY.foo 1 1700000000\nbar 2 1700000001\nKEYbar 3 1700000002\n');
    await waitFor(() => Object.values(sinks).every((s) => s.datapoints.length === 3), 'three datapoints at every destination');
    const names = (s: CaptureServer): string[] => s.datapoints.map((d) => d.name);
    expect(names(sinks.defaultPickle)).toEqual(['KEY.foo', 'KEY.bar', 'KEY.KEYbar']);
    expect(names(sinks.defaultLine)).toEqual(['KEY.foo', 'KEY.bar', 'KEY.KEYbar']);
    expect(names(sinks.alwaysPickle)).toEqual(['KEY.KEY.foo', 'KEY.bar', 'KEY.KEYbar']);
    expect(names(sinks.alwaysLine)).toEqual(['KEY.KEY.foo', 'KEY.bar', 'KEY.KEYbar']);
    expect(sinks.defaultPickle.datapoints[0]).toEqual({ name: 'KEY.foo', value: 1, timestamp: 1700000000 });
  });
});

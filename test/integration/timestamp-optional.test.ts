import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { readCarbonConf } from '../../src/config/carbon-conf';
import { loadConfigObject } from '../../src/config/load';
import { Relay } from '../../src/relay/relay';
import { silentLogger } from '../../src/telemetry/logger';
import { freePorts } from '../helpers/carbon';
import { makeTestCa, type TestCa } from '../helpers/certs';
import { configFrom, tempDirsRemovedAfterAll } from '../helpers/relay';
import { capturesClosedAfterEach, sendTcp, waitFor, type CaptureServer } from '../helpers/sink';

/**
 * Hosted Graphite's documented TCP, UDP and TLS examples send `KEY.foo 1.2`
 * with no timestamp. Native configs take them as "now" (timestampOptional,
 * on by default per plaintext listener); carbon.conf mode keeps carbon's rule.
 */

const NOW_MS = 1_700_000_123_456;
const NOW_S = 1_700_000_123;
/** Exactly what Hosted Graphite's examples send. */
const HG_LINE = 'KEY.foo 1.2\n';

const newDir = tempDirsRemovedAfterAll();

describe('plaintext lines without a timestamp (Hosted Graphite\'s examples)', () => {
  const capture = capturesClosedAfterEach();
  let ca: TestCa;
  let relay: Relay | undefined;

  beforeAll(() => {
    ca = makeTestCa();
  });
  afterEach(async () => {
    await relay?.stop(Date.now() + 500);
    relay = undefined;
  });

  /** A relay on a fixed clock with line tcp, udp and tls listeners (`line` merged into listen.line), sending lines to `out`. */
  async function start(out: CaptureServer, line: Record<string, unknown> = {}): Promise<Relay> {
    const config = configFrom({
      listen: {
        line: {
          tcp: { host: '127.0.0.1', port: 0 },
          udp: { host: '127.0.0.1', port: 0 },
          tls: { host: '127.0.0.1', port: 0, cert: ca.serverCert, key: ca.serverKey },
          ...line,
        },
      },
      admin: false,
      selfMetrics: { interval: 0 },
      destinations: [{ name: 'out', host: '127.0.0.1', port: out.port, protocol: 'line' }],
      rules: [{ default: true, destinations: ['out'] }],
    });
    const r = Relay.fromConfig(config, { log: silentLogger(), now: () => NOW_MS });
    await r.start();
    relay = r;
    return r;
  }

  const sendUdp = async (port: number, text: string): Promise<void> => {
    const sock = dgram.createSocket('udp4');
    try {
      await new Promise<void>((resolve, reject) => sock.send(text, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
    } finally {
      sock.close();
    }
  };

  const sendTls = (port: number, text: string): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const c = tls.connect({ host: '127.0.0.1', port, ca: fs.readFileSync(ca.caCert), servername: 'localhost' }, () => c.end(text));
      c.on('error', reject);
      c.on('close', () => resolve());
    });

  /** Sends `text` to each plaintext listener in turn, each time waiting until its `perListener` datapoints reached `out`. */
  async function sendToEach(r: Relay, out: CaptureServer, text: (via: string) => string, perListener: number): Promise<void> {
    await sendTcp(r.listeners.line!.port, text('tcp'));
    await waitFor(() => out.datapoints.length === perListener, 'the TCP listener\'s datapoints');
    await sendUdp(r.listeners.udp!.port, text('udp'));
    await waitFor(() => out.datapoints.length === 2 * perListener, 'the UDP listener\'s datapoints');
    await sendTls(r.listeners.lineTls!.port, text('tls'));
    await waitFor(() => out.datapoints.length === 3 * perListener, 'the TLS listener\'s datapoints');
  }

  const listenerCounters = (r: Relay, name: string): { timestampsAssigned: number; invalidLines: number; metricsReceived: number } => {
    const c = r.topology.counters.listener(name, 'line');
    return { timestampsAssigned: c.timestampsAssigned, invalidLines: c.invalidLines, metricsReceived: c.metricsReceived };
  };

  it('by default, TCP, UDP and TLS take "KEY.foo 1.2" as now (the relay clock, whole seconds) and count it per listener', async () => {
    const out = await capture();
    const r = await start(out);
    await sendToEach(r, out, (via) => `${HG_LINE}${via}.stamped 5 1600000000\n`, 2);
    expect(out.datapoints).toEqual(
      ['tcp', 'udp', 'tls'].flatMap((via) => [
        { name: 'KEY.foo', value: 1.2, timestamp: NOW_S },
        { name: `${via}.stamped`, value: 5, timestamp: 1600000000 },
      ]),
    );
    for (const listener of ['line', 'line-udp', 'line-tls']) {
      expect({ listener, ...listenerCounters(r, listener) }).toEqual({ listener, timestampsAssigned: 1, invalidLines: 0, metricsReceived: 2 });
    }
    expect(r.counters.timestampsAssigned).toBe(3);
  });

  it('with timestampOptional: false on a listener, its "KEY.foo 1.2" lines are invalid as before; the others are unaffected', async () => {
    const out = await capture();
    const off = { timestampOptional: false };
    const r = await start(out, {
      tcp: { host: '127.0.0.1', port: 0, ...off },
      udp: { host: '127.0.0.1', port: 0, ...off },
      tls: { host: '127.0.0.1', port: 0, cert: ca.serverCert, key: ca.serverKey, ...off },
    });
    // each listener's marker line shows the line before it was read and refused, not still in flight
    await sendToEach(r, out, (via) => `${HG_LINE}${via}.marker 1 1600000000\n`, 1);
    expect(out.datapoints.map((d) => d.name)).toEqual(['tcp.marker', 'udp.marker', 'tls.marker']);
    for (const listener of ['line', 'line-udp', 'line-tls']) {
      expect({ listener, ...listenerCounters(r, listener) }).toEqual({ listener, timestampsAssigned: 0, invalidLines: 1, metricsReceived: 1 });
    }
  });

  it('per listener: the TCP listener strict, UDP and TLS taking the line', async () => {
    const out = await capture();
    const r = await start(out, { tcp: { host: '127.0.0.1', port: 0, timestampOptional: false } });
    await sendTcp(r.listeners.line!.port, `${HG_LINE}tcp.marker 1 1600000000\n`);
    await waitFor(() => out.datapoints.length === 1, 'the TCP marker');
    await sendUdp(r.listeners.udp!.port, HG_LINE);
    await sendTls(r.listeners.lineTls!.port, HG_LINE);
    await waitFor(() => out.datapoints.length === 3, 'the UDP and TLS listeners\' stamped lines');
    expect(out.datapoints).toEqual([
      { name: 'tcp.marker', value: 1, timestamp: 1600000000 },
      { name: 'KEY.foo', value: 1.2, timestamp: NOW_S },
      { name: 'KEY.foo', value: 1.2, timestamp: NOW_S },
    ]);
    expect(listenerCounters(r, 'line')).toEqual({ timestampsAssigned: 0, invalidLines: 1, metricsReceived: 1 });
    expect(listenerCounters(r, 'line-udp')).toEqual({ timestampsAssigned: 1, invalidLines: 0, metricsReceived: 1 });
    expect(listenerCounters(r, 'line-tls')).toEqual({ timestampsAssigned: 1, invalidLines: 0, metricsReceived: 1 });
  });

  it('a relay started from carbon.conf refuses them as carbon does (three fields required)', async () => {
    const out = await capture();
    const dir = newDir();
    const [linePort] = await freePorts(1);
    const carbonConf = path.join(dir, 'carbon.conf');
    fs.writeFileSync(
      carbonConf,
      [
        '[relay]',
        'LINE_RECEIVER_INTERFACE = 127.0.0.1',
        `LINE_RECEIVER_PORT = ${linePort}`,
        'PICKLE_RECEIVER_PORT = 0',
        `DESTINATIONS = 127.0.0.1:${out.port}`,
        'DESTINATION_PROTOCOL = line',
        'CARBON_METRIC_INTERVAL = 0',
        '',
      ].join('\n'),
    );
    fs.writeFileSync(path.join(dir, 'relay-rules.conf'), `[default]\ndefault = true\ndestinations = 127.0.0.1:${out.port}\n`);
    const { config } = readCarbonConf({ carbonConf });
    expect(config.listen?.line?.tcp).toEqual({ host: '127.0.0.1', port: linePort, timestampOptional: false });
    const r = Relay.fromConfig(loadConfigObject({ ...config, admin: false }, carbonConf, {}), { log: silentLogger(), now: () => NOW_MS });
    await r.start();
    relay = r;
    await sendTcp(linePort, `${HG_LINE}marker 1 1600000000\n`);
    await waitFor(() => out.datapoints.length === 1, 'the marker line');
    expect(out.datapoints).toEqual([{ name: 'marker', value: 1, timestamp: 1600000000 }]);
    expect(r.counters.invalidLines).toBe(1);
    expect(r.counters.timestampsAssigned).toBe(0);
  });
});

import net from 'node:net';
import dgram from 'node:dgram';
import { CaptureServer, waitFor } from '../helpers/sink';
import { startRelay } from '../helpers/relay';
import type { Relay } from '../../src/relay/relay';

function frame(payload: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(payload.length);
  return Buffer.concat([h, payload]);
}

/** Protocol-2 pickle of [(name, (ts, value))] built by hand (same bytes as Python's minimal form). */
function pickleOf(name: string, ts: number, value: number): Buffer {
  const n = Buffer.from(name, 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(n.length);
  const f = (x: number): Buffer => {
    const b = Buffer.alloc(9);
    b[0] = 0x47;
    b.writeDoubleBE(x, 1);
    return b;
  };
  return Buffer.concat([Buffer.from([0x80, 2, 0x5d, 0x28, 0x58]), len, n, f(ts), f(value), Buffer.from([0x86, 0x86, 0x65, 0x2e])]);
}

describe('bad input over real sockets', () => {
  let relay: Relay;
  let out: CaptureServer;

  beforeEach(async () => {
    out = new CaptureServer('line');
    await out.listen();
    relay = await startRelay({
      listen: {
        line: { tcp: { host: '127.0.0.1', port: 0 }, udp: { host: '127.0.0.1', port: 0 }, maxLineLength: 64 },
        pickle: { tcp: { host: '127.0.0.1', port: 0 }, maxFrameLength: 1024 },
      },
      destinations: [{ name: 'out', host: '127.0.0.1', port: out.port, protocol: 'line' }],
      rules: [{ default: true, destinations: ['out'] }],
    });
  });

  afterEach(async () => {
    await relay.stop(Date.now() + 500);
    await out.close();
  });

  const connect = async (port: number): Promise<net.Socket> => {
    const s = net.connect(port, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    return s;
  };

  it('counts bad lines and keeps the connection open for the good ones after them', async () => {
    const s = await connect(relay.listeners.line!.port);
    s.write('no fields\n\nname notanumber 1\nx 1 inf\nnan.value nan 1\nbad\x01name 1 1\n');
    s.write(`${'y'.repeat(100)} 1 1\n`);
    s.write(Buffer.from([0xff, 0xfe, 0x20, 0x31, 0x20, 0x31, 0x0a])); // invalid UTF-8
    s.write('good.one 1 1700000000\n');
    await waitFor(() => out.datapoints.length === 1, 'good line after bad ones');
    s.write('good.two 2 1700000001\n');
    await waitFor(() => out.datapoints.length === 2, 'same connection still open');
    s.end();
    const c = relay.counters;
    expect(out.datapoints.map((d) => d.name)).toEqual(['good.one', 'good.two']);
    expect({ invalidLines: c.invalidLines, invalidTimestamps: c.invalidTimestamps, nanValues: c.nanValues, invalidNames: c.invalidNames, lineTooLong: c.lineTooLong }).toEqual({
      invalidLines: 4, // "no fields", blank, "notanumber", invalid UTF-8
      invalidTimestamps: 1,
      nanValues: 1,
      invalidNames: 1,
      lineTooLong: 1,
    });
    expect(c.metricsReceived).toBe(2);
  });

  it('drops hostile and oversized pickle frames whole and keeps reading the connection', async () => {
    const s = await connect(relay.listeners.pickle!.port);
    const evil = Buffer.from("cos\nsystem\n(S'echo PWNED'\ntR.", 'latin1');
    const stackGlobal = Buffer.from([0x80, 4, 0x8c, 8, ...Buffer.from('builtins'), 0x8c, 4, ...Buffer.from('eval'), 0x93, 0x2e]);
    s.write(frame(evil));
    s.write(frame(stackGlobal));
    s.write(frame(Buffer.alloc(5000, 0x28))); // over maxFrameLength: skipped
    s.write(frame(Buffer.from('garbage!')));
    s.write(frame(pickleOf('after.hostile', 1700000000, 1.5)));
    await waitFor(() => out.datapoints.length === 1, 'good frame after bad ones');
    s.end();
    expect(out.datapoints).toEqual([{ name: 'after.hostile', value: 1.5, timestamp: 1700000000 }]);
    expect(relay.counters.invalidPickles).toBe(3);
    expect(relay.counters.pickleTooLong).toBe(1);
  });

  it('accepts several lines per UDP datagram', async () => {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.send('u.a 1 1700000000\nu.b 2 1700000001\nbroken\nu.c 3 1700000002', relay.listeners.udp!.port, '127.0.0.1', () => r()));
    sock.close();
    await waitFor(() => out.datapoints.length === 3, 'udp datapoints');
    expect(out.datapoints.map((d) => d.name)).toEqual(['u.a', 'u.b', 'u.c']);
    expect(relay.counters.invalidLines).toBe(1);
  });
});

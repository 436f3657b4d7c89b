import dgram from 'node:dgram';
import net from 'node:net';
import request from 'supertest';
import type { Relay } from '../../src/relay/relay';
import { startRelay } from '../helpers/relay';
import { binfloat, frame, pickleOf, u32le } from '../helpers/pickle-frames';
import { CaptureServer, waitFor } from '../helpers/sink';

const TS = 1_700_000_000;

/**
 * The amplification frame: one ~1 MB name in a datapoint memoised
 * once and referenced 499 more times, i.e. 500 datapoints (500 MB of output
 * frames before the fix):
 * b'\x80\x02](X' + len + name + G ts + G 1.0 + b'\x86\x86q\x00' + b'h\x00' * 499 + b'e.'
 */
function amplificationFrame(): Buffer {
  const name = Buffer.concat([Buffer.from('amp.'), Buffer.alloc(999_990, 0x61)]);
  return Buffer.concat([
    Buffer.from([0x80, 0x02, 0x5d, 0x28, 0x58]),
    u32le(name.length),
    name,
    binfloat(1.7e9),
    binfloat(1.0),
    Buffer.from([0x86, 0x86, 0x71, 0x00]),
    Buffer.alloc(499 * 2, Buffer.from([0x68, 0x00])),
    Buffer.from([0x65, 0x2e]),
  ]);
}

describe('names over listen.maxNameLength, C1 names and deep pickles, over real sockets', () => {
  let relay: Relay;
  let out: CaptureServer;
  const long = `long.${'x'.repeat(19_995)}`; // 20,000 bytes

  beforeEach(async () => {
    out = new CaptureServer('line');
    await out.listen();
    relay = await startRelay({
      listen: {
        // lines longer than the name limit, so the name check (not maxLineLength) is what refuses them
        line: { tcp: { host: '127.0.0.1', port: 0 }, udp: { host: '127.0.0.1', port: 0 }, maxLineLength: 65_536 },
        pickle: { tcp: { host: '127.0.0.1', port: 0 }, maxFrameLength: 2 * 1024 * 1024 },
        http: { host: '127.0.0.1', port: 0 },
      },
      http: {},
      destinations: [{ name: 'out', host: '127.0.0.1', port: out.port, protocol: 'line' }],
      rules: [{ default: true, destinations: ['out'] }],
    });
  });

  afterEach(async () => {
    await relay.stop(Date.now() + 1000);
    await out.close();
  });

  const connect = async (port: number): Promise<net.Socket> => {
    const s = net.connect(port, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    return s;
  };
  const names = (): string[] => out.datapoints.map((d) => d.name);
  const httpUrl = (): string => `http://127.0.0.1:${relay.listeners.http!.port}`;

  it('the pickle memo amplification frame: all 500 datapoints counted nameTooLong, none sent, the connection keeps working', async () => {
    const s = await connect(relay.listeners.pickle!.port);
    s.write(frame(amplificationFrame()));
    s.write(frame(pickleOf('after.amplification', TS, 2)));
    await waitFor(() => out.datapoints.length === 1, 'the valid frame after the amplification frame');
    s.end();
    expect(out.datapoints).toEqual([{ name: 'after.amplification', value: 2, timestamp: TS }]);
    expect(relay.counters.nameTooLong).toBe(500);
    expect(relay.counters.metricsReceived).toBe(1);
    expect(relay.counters.invalidPickles).toBe(0);
    expect(out.raw.length).toBeLessThan(100);
  });

  it('a 20,000-byte name over line TCP is refused and counted; the next line is delivered', async () => {
    const s = await connect(relay.listeners.line!.port);
    s.write(`${long} 1 ${TS}\n`);
    s.write(`after.tcp 2 ${TS}\n`);
    await waitFor(() => out.datapoints.length === 1, 'the line after the long one');
    s.end();
    expect(names()).toEqual(['after.tcp']);
    expect(relay.counters.nameTooLong).toBe(1);
    expect(relay.counters.lineTooLong).toBe(0);
  });

  it('a 20,000-byte name over UDP is refused and counted', async () => {
    const sock = dgram.createSocket('udp4');
    const port = relay.listeners.udp!.port;
    await new Promise<void>((r) => sock.send(`${long} 1 ${TS}\nafter.udp 2 ${TS}`, port, '127.0.0.1', () => r()));
    sock.close();
    await waitFor(() => out.datapoints.length === 1 && relay.counters.nameTooLong === 1, 'the datagram processed');
    expect(names()).toEqual(['after.udp']);
  });

  it('POST /api/v1/sink answers 400 naming the over-long line and accepts the others', async () => {
    const res = await request(httpUrl()).post('/api/v1/sink').send(`ok.http 1 ${TS}\n${long} 2 ${TS}\n`);
    expect(res.status).toBe(400);
    expect(res.text).toContain('line 2: metric name is 20000 bytes, over maxNameLength 4096');
    expect(res.text).not.toContain('x'.repeat(100));
    await waitFor(() => out.datapoints.length === 1, 'the good line');
    expect(names()).toEqual(['ok.http']);
    expect(relay.counters.httpInvalidItems).toBe(1);
  });

  it('POST /metrics (Grafana) lists the over-long item as a validation error and publishes the others', async () => {
    const item = (name: string): Record<string, unknown> => ({ name, interval: 10, value: 1, time: TS });
    const res = await request(httpUrl()).post('/metrics').set('Content-Type', 'application/json').send([item('ok.grafana'), item(long)]);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ Invalid: 1, Published: 1, ValidationErrors: { 'name and tags are over maxNameLength (4096 bytes)': { Count: 1, ExampleIds: [1] } } });
    await waitFor(() => out.datapoints.length === 1, 'the good item');
    expect(names()).toEqual(['ok.grafana']);
  });

  it('a deeply nested pickle frame is rejected and counted as pickleTooDeep; the next frame is delivered', async () => {
    const s = await connect(relay.listeners.pickle!.port);
    s.write(frame(Buffer.concat([Buffer.from([0x80, 0x02]), Buffer.alloc(1024 * 1024, 0x28), Buffer.from([0x2e])])));
    s.write(frame(Buffer.concat([Buffer.from([0x80, 0x02, 0x4e]), Buffer.alloc(1024, 0x85), Buffer.from([0x2e])])));
    s.write(frame(pickleOf('after.deep', TS, 3)));
    await waitFor(() => out.datapoints.length === 1, 'the valid frame after the deep ones');
    s.end();
    expect(names()).toEqual(['after.deep']);
    expect(relay.counters.pickleTooDeep).toBe(2);
    expect(relay.counters.invalidPickles).toBe(0);
  });

  it('names with C1 control characters are refused on line, pickle and HTTP', async () => {
    const line = await connect(relay.listeners.line!.port);
    line.write(`line\u0080c1 1 ${TS}\nline\u009fc1 1 ${TS}\nafter.line 1 ${TS}\n`);
    const pickle = await connect(relay.listeners.pickle!.port);
    pickle.write(frame(pickleOf('pickle\u0080c1', TS, 1)));
    pickle.write(frame(pickleOf('pickle\u009fc1', TS, 1)));
    pickle.write(frame(pickleOf('after.pickle', TS, 1)));
    const res = await request(httpUrl()).post('/api/v1/sink').send(`http\u0080c1 1 ${TS}\nhttp\u009fc1 1 ${TS}\nafter.http 1 ${TS}\n`);
    expect(res.status).toBe(400);
    // quoted() is JSON.stringify, which leaves C1 characters as they are
    expect(res.text).toContain('line 1: metric name "http\u0080c1" contains whitespace or control characters');
    expect(res.text).toContain('line 2: metric name "http\u009fc1" contains whitespace or control characters');
    await waitFor(() => out.datapoints.length === 3, 'the three good datapoints');
    line.end();
    pickle.end();
    expect(names().sort()).toEqual(['after.http', 'after.line', 'after.pickle']);
    expect(relay.counters.invalidNames).toBe(4);
    expect(relay.counters.httpInvalidItems).toBe(2);
  });
});

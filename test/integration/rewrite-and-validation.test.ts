import dgram from 'node:dgram';
import net from 'node:net';
import type { Relay } from '../../src/relay/relay';
import { captureLog } from '../helpers/capture-log';
import { stopRelay } from '../helpers/cleanup';
import { frame, pickleOf } from '../helpers/pickle-frames';
import { configFrom, startRelay } from '../helpers/relay';
import { metric } from '../helpers/scrape';
import { CaptureServer, waitFor } from '../helpers/sink';

const TS = 1_700_000_000;

/**
 * Rewrite rules and per-listener name validation, end to end: a line listener
 * at `strict` (its own maxConnectionsPerClient of 1), a pickle listener at
 * `none`, UDP following the line level, rewrite rules in front of the rules,
 * and what comes out at a capture server.
 */
describe('rewrite rules and name validation levels over real sockets', () => {
  let relay: Relay | undefined;
  let out: CaptureServer;
  let servers: CaptureServer;
  let logs: ReturnType<typeof captureLog>;
  const sockets: net.Socket[] = [];

  beforeEach(async () => {
    logs = captureLog();
    out = new CaptureServer('line');
    await out.listen();
    servers = new CaptureServer('line');
    await servers.listen();
    relay = await startRelay(
      {
        listen: {
          line: { tcp: { host: '127.0.0.1', port: 0, maxConnectionsPerClient: 1 }, udp: { host: '127.0.0.1', port: 0 }, validation: 'strict' },
          pickle: { tcp: { host: '127.0.0.1', port: 0 }, validation: 'none' },
          strict: { maxLength: 40 },
        },
        rewrite: [
          { match: '^servers\\.([A-Za-z]+)\\.', replace: 'srv.\\_1.' },
          { match: '^(srv\\.[a-z]+)\\.cpu$', replace: '\\1.cpu.total', stop: true },
          { match: 'total$', replace: 'never' },
          { match: '\\.spaced$', replace: ' x' },
        ],
        destinations: [
          { name: 'servers', host: '127.0.0.1', port: servers.port, protocol: 'line' },
          { name: 'out', host: '127.0.0.1', port: out.port, protocol: 'line' },
        ],
        // the rules see the rewritten name
        rules: [{ pattern: '^srv\\.', destinations: ['servers'] }, { default: true, destinations: ['out'] }],
      },
      logs.log,
    );
  });

  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await stopRelay(relay, 1000);
    relay = undefined;
    await out.close();
    await servers.close();
  });

  const connect = async (port: number): Promise<net.Socket> => {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    sockets.push(s);
    await new Promise((r) => s.once('connect', r));
    return s;
  };
  const listenerCounters = (name: string) => relay!.topology.counters.listener(name, name === 'pickle' ? 'pickle' : 'line');

  it('a strict line listener: rewritten names routed by their new name, each refusal counted by reason, in Prometheus and logged', async () => {
    const s = await connect(relay!.listeners.line!.port);
    const lines = [
      'servers.WEB.cpu', // rewritten twice, then stop: srv.web.cpu.total
      'servers.DB.mem', // rewritten once: srv.db.mem
      'a..b',
      '.lead',
      'trail.',
      'a/b',
      'tagged;host=a',
      `long.${'x'.repeat(40)}`,
      'c1\u0080name',
      'make.spaced', // rewritten to 'make x': unsafe, dropped
      'good.name',
    ];
    s.write(lines.map((n, i) => `${n} ${i} ${TS}\n`).join(''));
    await waitFor(() => servers.datapoints.length === 2 && out.datapoints.length === 1, 'the three good datapoints');
    await waitFor(() => listenerCounters('line').invalidRewrites === 1, 'the rewrite to an unsafe name counted');
    expect(servers.datapoints.map((d) => d.name).sort()).toEqual(['srv.db.mem', 'srv.web.cpu.total']);
    expect(out.datapoints.map((d) => d.name)).toEqual(['good.name']);
    const c = listenerCounters('line');
    expect({
      received: c.metricsReceived,
      rewritten: c.rewritten,
      invalidRewrites: c.invalidRewrites,
      emptyComponent: c.invalidNameEmptyComponent,
      character: c.invalidNameCharacter,
      strictLength: c.invalidNameStrictLength,
      invalidNames: c.invalidNames,
    }).toEqual({ received: 3, rewritten: 2, invalidRewrites: 1, emptyComponent: 3, character: 2, strictLength: 1, invalidNames: 1 });
    const line = { listener: 'line', protocol: 'line' };
    expect(await metric(relay!, 'invalid_input_total', { ...line, reason: 'empty_path_component' })).toBe(3);
    expect(await metric(relay!, 'invalid_input_total', { ...line, reason: 'disallowed_character' })).toBe(2);
    expect(await metric(relay!, 'invalid_input_total', { ...line, reason: 'over_strict_length' })).toBe(1);
    expect(await metric(relay!, 'invalid_input_total', { ...line, reason: 'invalid_rewrite' })).toBe(1);
    expect(await metric(relay!, 'rewritten_total', line)).toBe(2);
    // one sample per peer per interval, with the reason: the first refusal, the others suppressed
    const strictLogs = logs.entries.filter((e) => e.message === 'metric name fails strict validation, dropping datapoint');
    expect(strictLogs).toHaveLength(1);
    expect(strictLogs[0]).toMatchObject({ reason: 'empty path component', name: JSON.stringify('a..b') });
    expect(logs.entries.filter((e) => e.message.startsWith('a rewrite rule made the metric name'))).toEqual([
      expect.objectContaining({ rewritten: JSON.stringify('make x') }),
    ]);
  });

  it('UDP follows the line level; a pickle listener at none passes what only strict or carbon refuse', async () => {
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((r) => udp.send(`udp..empty 1 ${TS}\nudp.ok 1 ${TS}\n`, relay!.listeners.udp!.port, '127.0.0.1', () => r()));
    udp.close();
    const p = await connect(relay!.listeners.pickle!.port);
    for (const name of ['pickle..empty', 'pickle/slash', 'pickle\u0080c1', 'pickle spaced', 'servers.WEB.cpu']) p.write(frame(pickleOf(name, TS, 1)));
    await waitFor(() => out.datapoints.length === 4 && servers.datapoints.length === 1, 'what each level lets through');
    expect(out.datapoints.map((d) => d.name).sort()).toEqual(['pickle..empty', 'pickle/slash', 'pickle\u0080c1', 'udp.ok']);
    expect(servers.datapoints.map((d) => d.name)).toEqual(['srv.web.cpu.total']);
    await waitFor(() => listenerCounters('pickle').invalidNames === 1, 'the unsafe pickle name counted');
    expect(listenerCounters('line-udp').invalidNameEmptyComponent).toBe(1);
    expect(listenerCounters('pickle').rewritten).toBe(1);
  });

  it('a reload swaps the rewrite rules with the routing rules; a new validation level rebinds only the listeners it applies to', async () => {
    const s = await connect(relay!.listeners.line!.port);
    s.write(`servers.WEB.cpu 1 ${TS}\n`);
    await waitFor(() => servers.datapoints.length === 1, 'the first rewrite');
    const loaded = configFrom({
      rewrite: [{ match: '^servers\\.', replace: 'hosts.' }],
      // as written in a file (relay.config's are parsed: its durations are milliseconds, a file's plain numbers seconds)
      destinations: [
        { name: 'servers', host: '127.0.0.1', port: servers.port, protocol: 'line' },
        { name: 'out', host: '127.0.0.1', port: out.port, protocol: 'line' },
      ],
      rules: [{ default: true, destinations: ['out'] }],
    });
    // the running listeners' settings (their ports are 0), with the pickle listener made strict
    const { listen, admin, selfMetrics } = relay!.config;
    const next = { ...loaded, admin, selfMetrics, listen: { ...listen, pickle: { ...listen.pickle!, validation: 'strict' as const } } };
    expect(await relay!.reload(next)).toMatchObject({ result: 'applied', reconfigured: ['pickle'] });
    s.write(`servers.WEB.cpu 2 ${TS}\n`);
    const p = await connect(relay!.listeners.pickle!.port);
    p.write(frame(pickleOf('now..strict', TS, 3)));
    p.write(frame(pickleOf('servers.x', TS, 4)));
    await waitFor(() => out.datapoints.length === 2, 'both rewritten by the new rules');
    expect(out.datapoints.map((d) => d.name).sort()).toEqual(['hosts.WEB.cpu', 'hosts.x']);
    await waitFor(() => listenerCounters('pickle').invalidNameEmptyComponent === 1, 'the pickle listener now strict');
  });

  it('the line listener takes its own maxConnectionsPerClient (1); the pickle listener keeps the relay-wide one', async () => {
    const first = await connect(relay!.listeners.line!.port);
    const second = await connect(relay!.listeners.line!.port);
    await new Promise((r) => second.once('close', r));
    first.write(`still.served 1 ${TS}\n`);
    const p1 = await connect(relay!.listeners.pickle!.port);
    const p2 = await connect(relay!.listeners.pickle!.port);
    p1.write(frame(pickleOf('pickle.one', TS, 1)));
    p2.write(frame(pickleOf('pickle.two', TS, 2)));
    await waitFor(() => out.datapoints.length === 3, 'the connections that were kept');
    expect(out.datapoints.map((d) => d.name).sort()).toEqual(['pickle.one', 'pickle.two', 'still.served']);
    expect(listenerCounters('line').connectionsRefusedPerClient).toBe(1);
    expect(listenerCounters('pickle').connectionsRefusedPerClient).toBe(0);
  });
});

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Relay } from '../../src/relay/relay';
import { canConnect, freePorts } from '../helpers/carbon';
import { stopRelay } from '../helpers/cleanup';
import { eventually } from '../helpers/poll';
import { startRelay, tempDir } from '../helpers/relay';
import { CaptureServer, sendTcp, waitFor } from '../helpers/sink';
import { WatchedProcess } from '../helpers/watched-process';

const TS = 1_700_000_000;

/**
 * Our rewrite rules against Debian's carbon-c-relay (3.7.3): both relays get
 * the same rules (carbon-c-relay's `rewrite ... into ...` statements, our
 * `rewrite:` list, from one table) and the same plaintext lines over TCP, and
 * forward to their own capture servers, which must receive the same names.
 * The patterns are the subset POSIX extended and Python regexes read alike;
 * the input names are clean, so carbon-c-relay's cleansing changes nothing.
 */
const REWRITES: readonly [match: string, replace: string][] = [
  // its manual: back-references, \_ lower-case, \^ upper-case, \. dots to underscores, \_. both
  ['^servers\\.([A-Za-z]+)\\.([a-z]+)\\.(.*)$', 'srv.\\_1.\\^2.\\3'],
  ['^a\\.(x\\.y)\\.(.*)$', 'b.\\.1.\\2'],
  ['^c\\.([A-Z]+\\.[A-Z]+)$', 'd.\\_.1'],
  ['^e\\.([a-z]+\\.[a-z]+)$', 'f.\\^.1'],
  // only the first match is replaced, the text around it is kept
  ['mid', 'MID'],
  // one rule's output is the next one's input
  ['^chain\\.a$', 'chain.b'],
  ['^chain\\.b$', 'chain.c'],
  // from its test suite's configs
  ['tcpconns\\.([0-9]+)-remote\\.(.*)$', 'tcpconns.outbound.\\1.\\2'],
  ['^(.*)\\.tmp$', '\\1'],
  ['^(rep)\\.(.*)$', '\\2.\\1.\\1'],
];

const NAMES = [
  'servers.WEB.cpu.user',
  'servers.Db.mem.free',
  'a.x.y.z',
  'c.FOO.BAR',
  'e.foo.bar',
  'aamidbbmid',
  'chain.a',
  'host.tcpconns.80-remote.count',
  'foo.bar.tmp',
  'rep.x',
  'untouched.name',
  'SERVERS.upper.not.matched',
];

function carbonCRelayConf(listen: number, sink: number): string {
  const rewrites = REWRITES.map(([m, r]) => `rewrite ${m}\n    into ${r}\n    ;\n`).join('');
  return `listen\n    type linemode\n        127.0.0.1:${listen} proto tcp\n    ;\ncluster sink\n    forward\n        127.0.0.1:${sink} proto tcp\n    ;\n${rewrites}match *\n    send to sink\n    stop\n    ;\n`;
}

describe('rewrite rules: the same names out of carbon-c-relay and carbon-fanout', () => {
  let crelay: WatchedProcess | undefined;
  let relay: Relay | undefined;
  const captures: CaptureServer[] = [];
  let dir: string;

  afterAll(async () => {
    await crelay?.stop(5000);
    await stopRelay(relay, 1000);
    for (const c of captures) await c.close();
    if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('rewrites every name as carbon-c-relay does', async () => {
    const theirs = new CaptureServer('line');
    const ours = new CaptureServer('line');
    captures.push(theirs, ours);
    await theirs.listen();
    await ours.listen();

    dir = tempDir('cf-crelay-');
    const [port] = await freePorts(1);
    const conf = path.join(dir, 'relay.conf');
    fs.writeFileSync(conf, carbonCRelayConf(port, theirs.port));
    crelay = new WatchedProcess(spawn('carbon-c-relay', ['-f', conf, '-s', '-H', 'interop'], { stdio: ['ignore', 'pipe', 'pipe'] }), 64 * 1024);
    const proc = crelay;
    await eventually(() => canConnect(port), (up) => up || proc.exitStatus !== null, `carbon-c-relay accepting on ${port}`, { timeoutMs: 15_000, intervalMs: 50, diagnostics: () => proc.output });
    if (proc.exitStatus !== null) throw new Error(`carbon-c-relay ${proc.exitStatus}:\n${proc.output}`);

    relay = await startRelay({
      rewrite: REWRITES.map(([match, replace]) => ({ match, replace })),
      destinations: [{ name: 'sink', host: '127.0.0.1', port: ours.port, protocol: 'line' }],
      rules: [{ default: true, destinations: ['sink'] }],
    });

    const lines = NAMES.map((n, i) => `${n} ${i} ${TS}\n`).join('');
    await sendTcp(port, lines);
    await sendTcp(relay.listeners.line!.port, lines);
    await waitFor(() => theirs.datapoints.length === NAMES.length, `carbon-c-relay's ${NAMES.length} datapoints\n${proc.output}`, 15_000);
    await waitFor(() => ours.datapoints.length === NAMES.length, `our ${NAMES.length} datapoints`, 15_000);

    const byValue = (c: CaptureServer): string[] => [...c.datapoints].sort((a, b) => a.value - b.value).map((d) => d.name);
    expect(byValue(ours)).toEqual(byValue(theirs));
    // and the table means what it says (a rewrite that did nothing on both sides would also compare equal)
    expect(byValue(theirs)).toEqual([
      'srv.web.CPU.user',
      'srv.db.MEM.free',
      'b.x_y.z',
      'd.foo_bar',
      'f.FOO_BAR',
      'aaMIDbbmid',
      'chain.c',
      'host.tcpconns.outbound.80.count',
      'foo.bar',
      'x.rep.rep',
      'untouched.name',
      'SERVERS.upper.not.matched',
    ]);
    expect(relay.counters.rewritten).toBe(10);
  });
});

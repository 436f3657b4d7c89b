import { execFileSync } from 'node:child_process';
import dns from 'node:dns';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { main } from '../../src/cli';
import { readCarbonConf } from '../../src/config/carbon-conf';
import type { Relay } from '../../src/relay/relay';
import { silentLogger } from '../../src/telemetry/logger';
import { carbonConfText, freePorts, startOnFreePorts, type CarbonDaemon } from '../helpers/carbon';
import { runPython } from '../helpers/python';
import { CaptureServer, sendTcp, waitFor, type Captured } from '../helpers/sink';
import { carbonDestinations } from '../helpers/destinations';

/**
 * Debian's carbon-relay and carbon-fanout side by side: both read the same
 * carbon.conf and relay-rules.conf (rendered twice from one template that
 * differs only in port numbers), get the same datapoints as plaintext lines
 * and as protocol-2 pickle frames, and forward to their own capture servers,
 * one per DESTINATIONS entry. Every capture server must receive the same
 * multiset of datapoints from both relays.
 *
 * Our relay is started from carbon's files the way an operator would:
 * `carbon-fanout start --carbon-conf carbon.conf --rules relay-rules.conf`.
 * Its carbon.conf sits next to carbon's in carbon's CONF_DIR, so
 * whitelist.conf, blacklist.conf and aggregation-rules.conf are the very same
 * files for both relays.
 */

/** `@NAME@` in a template: LINE and PICKLE are the relay's listener ports, D0, D1, ... its capture servers'. */
type Ports = Record<string, number>;

interface Scenario {
  protocol: 'pickle' | 'line';
  /** DESTINATIONS entries, `@D<i>@` standing for capture server i's port. */
  destinations: readonly string[];
  /** More `[relay]` keys (RELAY_METHOD, ...). */
  settings: Record<string, string | number>;
  /** Files for CONF_DIR; relay-rules.conf may use `@D<i>@`. */
  files?: Record<string, string>;
}

/** One input datapoint: the same to both relays. `ts` is unique per scenario, so it identifies the datapoint. */
interface Point {
  name: string;
  ts: number;
  value: number;
  /** How the value is written on a plaintext line (default String(value)). */
  lineValue?: string;
  /** What the pickle carries instead of the number (a numeric string or a bool, which carbon and we float()). */
  pickleValue?: string | boolean;
}

/** Render a template: every `@NAME@` must have a port. */
function fill(text: string, ports: Ports): string {
  return text.replace(/@(\w+)@/g, (_, k: string) => {
    if (!(k in ports)) throw new Error(`no port for @${k}@`);
    return String(ports[k]);
  });
}

/** The template's text with the port numbers put back as placeholders (to show two renderings differ only there). */
function unfill(text: string, ports: Ports): string {
  let out = text;
  for (const [k, p] of Object.entries(ports).sort((a, b) => String(b[1]).length - String(a[1]).length)) {
    out = out.replace(new RegExp(`(?<!\\w)${p}(?!\\w)`, 'g'), `@${k}@`);
  }
  return out;
}

function relaySettings(s: Scenario, ports: Ports): Record<string, string | number> {
  const template: Record<string, string | number> = {
    LINE_RECEIVER_INTERFACE: '127.0.0.1',
    LINE_RECEIVER_PORT: '@LINE@',
    PICKLE_RECEIVER_INTERFACE: '127.0.0.1',
    PICKLE_RECEIVER_PORT: '@PICKLE@',
    DESTINATIONS: s.destinations.join(', '),
    DESTINATION_PROTOCOL: s.protocol,
    // carbon-relay 1.1.x has no flow control: its default 1000 would drop part of a burst
    MAX_QUEUE_SIZE: 100_000,
    ...s.settings,
  };
  return Object.fromEntries(Object.entries(template).map(([k, v]) => [k, typeof v === 'string' ? fill(v, ports) : v]));
}

const destPorts = (caps: readonly CaptureServer[]): Ports => Object.fromEntries(caps.map((c, i) => [`D${i}`, c.port]));

/** Protocol-2 frames of up to 250 datapoints, pickled by Python itself. */
const PICKLE_FRAMES = String.raw`
import json, pickle, struct, sys
points = json.load(sys.stdin)
out = bytearray()
for i in range(0, len(points), 250):
    payload = pickle.dumps([(n, (t, v)) for n, t, v in points[i:i + 250]], protocol=2)
    out += struct.pack('!L', len(payload)) + payload
sys.stdout.buffer.write(bytes(out))
`;

interface Input {
  lines: Point[];
  pickled: Point[];
}

interface Side {
  captures: CaptureServer[];
  linePort: number;
  picklePort: number;
}

interface Pair {
  carbon: Side & { daemon: CarbonDaemon };
  ours: Side & { relay: Relay };
  /** Destination index -> our relay's destination name. */
  ourDestNames: string[];
}

const ourIo = (): { stdout: PassThrough; stderr: PassThrough; err: () => string } => {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let err = '';
  stdout.resume();
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  return { stdout, stderr, err: () => err };
};

/**
 * Start carbon-relay and carbon-fanout on the scenario's files, each with its
 * own capture servers; run `body`; always stop both and close everything.
 */
async function sideBySide(s: Scenario, body: (pair: Pair) => Promise<void>): Promise<void> {
  const carbonCaps = s.destinations.map(() => new CaptureServer(s.protocol));
  const ourCaps = s.destinations.map(() => new CaptureServer(s.protocol));
  let daemon: CarbonDaemon | undefined;
  let stopOurs: ((why: string) => void) | undefined;
  let ourExit: Promise<number> | undefined;
  try {
    for (const c of [...carbonCaps, ...ourCaps]) await c.listen();
    const carbonDests = destPorts(carbonCaps);
    const started = await startOnFreePorts(2, ([line, pickle]) => ({
      program: 'relay',
      settings: relaySettings(s, { LINE: line, PICKLE: pickle, ...carbonDests }),
      files: Object.fromEntries(Object.entries(s.files ?? {}).map(([name, text]) => [name, fill(text, carbonDests)])),
      readyPorts: [line, pickle],
    }));
    daemon = started.daemon;
    const carbonPorts: Ports = { LINE: started.ports[0], PICKLE: started.ports[1], ...carbonDests };
    const carbonConf = fs.readFileSync(path.join(daemon.dir, 'carbon.conf'), 'utf8');

    // Ours: the same template with our ports, in carbon's CONF_DIR.
    const ourConfFile = path.join(daemon.dir, 'carbon-fanout.conf');
    const ourRulesFile = path.join(daemon.dir, 'relay-rules.carbon-fanout.conf');
    const ourDests = destPorts(ourCaps);
    let relay: Relay | undefined;
    let ourPorts: Ports | undefined;
    for (let attempt = 1; relay === undefined; attempt++) {
      const [line, pickle] = await freePorts(2);
      ourPorts = { LINE: line, PICKLE: pickle, ...ourDests };
      const text = carbonConfText('relay', daemon.dir, relaySettings(s, ourPorts));
      fs.writeFileSync(ourConfFile, text);
      const args = ['start', '--carbon-conf', ourConfFile];
      const rules = s.files?.['relay-rules.conf'];
      if (rules !== undefined) {
        fs.writeFileSync(ourRulesFile, fill(rules, ourDests));
        args.push('--rules', ourRulesFile);
      }
      const io = ourIo();
      let onStarted!: (r: Relay) => void;
      const started = new Promise<Relay>((r) => (onStarted = r));
      const exit = main(args, {
        stdout: io.stdout,
        stderr: io.stderr,
        stdin: Readable.from([]),
        env: {},
        log: silentLogger(),
        shutdown: new Promise<string>((r) => (stopOurs = r)),
        onStarted,
      });
      const first = await Promise.race([exit, started]);
      if (typeof first !== 'number') {
        relay = first;
        ourExit = exit;
      } else if (io.err() !== '' || attempt >= 3) {
        throw new Error(`carbon-fanout start exited with ${first}: ${io.err()}`);
      } // else: a listener port was taken between freePorts() and listen(); retry on new ones
    }

    // The two carbon.conf files differ only in port numbers, and we understand every setting in them.
    const ourConf = fs.readFileSync(ourConfFile, 'utf8');
    expect(unfill(ourConf, ourPorts!)).toBe(unfill(carbonConf, carbonPorts));
    expect(unfill(ourConf, ourPorts!)).not.toBe(ourConf);
    const { warnings } = readCarbonConf({ carbonConf: ourConfFile, ...(s.files?.['relay-rules.conf'] !== undefined && { rules: ourRulesFile }) });
    expect(warnings).toEqual([]);

    const ourDestNames = ourCaps.map((c) => {
      const d = carbonDestinations(relay!.config.destinations).find((x) => x.port === c.port);
      if (d === undefined) throw new Error(`no destination for capture port ${c.port}`);
      return d.name;
    });
    await body({
      carbon: { daemon, captures: carbonCaps, linePort: carbonPorts.LINE, picklePort: carbonPorts.PICKLE },
      ours: { relay: relay!, captures: ourCaps, linePort: ourPorts!.LINE, picklePort: ourPorts!.PICKLE },
      ourDestNames,
    });
    stopOurs?.('test done');
    expect(await ourExit).toBe(0);
  } finally {
    stopOurs?.('test done');
    await ourExit;
    await daemon?.stop();
    for (const c of [...carbonCaps, ...ourCaps]) await c.close();
  }
}

const lineText = (points: readonly Point[]): string => points.map((p) => `${p.name} ${p.lineValue ?? String(p.value)} ${p.ts}\n`).join('');

/** Send the same lines and pickle frames to both relays (each on its own connection). */
async function sendBoth(pair: Pair, input: Input): Promise<void> {
  const text = lineText(input.lines);
  const frames = await runPython(PICKLE_FRAMES, { input: JSON.stringify(input.pickled.map((p) => [p.name, p.ts, p.pickleValue ?? p.value])) });
  await Promise.all(
    [pair.carbon, pair.ours].flatMap((side) => [sendTcp(side.linePort, text), sendTcp(side.picklePort, frames)]),
  );
}

const counts = (caps: readonly CaptureServer[]): number[] => caps.map((c) => (c.protocol === 'pickle' ? c.datapoints.length : lines(c).length));

/** What a line capture received, one string per line, without carbon's CR. */
function lines(c: CaptureServer): string[] {
  const text = c.raw.toString('utf8');
  const cut = text.lastIndexOf('\n');
  return cut < 0 ? [] : text.slice(0, cut).split('\n').map((l) => l.replace(/\r$/, ''));
}

/**
 * Wait until our relay has accounted for every datapoint it was sent and
 * delivered everything it routed, then until carbon's capture servers hold as
 * many datapoints as ours, per destination (or `carbonDone` holds), and have
 * stopped changing.
 */
async function settle(pair: Pair, sent: number, carbonDone?: (counts: number[]) => boolean): Promise<void> {
  const { relay, captures } = pair.ours;
  const c = relay.counters;
  const diag = (): string =>
    `\nours: ${JSON.stringify(counts(captures))} carbon: ${JSON.stringify(counts(pair.carbon.captures))} counters: ${JSON.stringify(c)}` +
    `\n--- carbon-relay log ---\n${pair.carbon.daemon.log.slice(-4000)}`;
  const wait = (cond: () => boolean, what: string): Promise<void> =>
    waitFor(cond, what, 20_000).catch((err: Error) => {
      throw new Error(`${err.message}${diag()}`);
    });
  await wait(() => c.metricsReceived + c.blacklistMatches + c.whitelistRejects >= sent, `our relay to take all ${sent} datapoints`);
  await wait(
    () =>
      pair.ourDestNames.every((name, i) => {
        const d = relay.destinations.get(name)!;
        return d.queue.length === 0 && d.counters.sent === d.counters.attemptedRelays && counts([captures[i]])[0] === d.counters.sent;
      }),
    'our destinations to deliver everything',
  );
  // Carbon: until its captures hold as many datapoints as ours and have stopped changing. If they never
  // do, the comparison that follows shows what differs.
  let last = '';
  let since = Date.now();
  const start = Date.now();
  while (Date.now() - start < 15_000) {
    const now = JSON.stringify(counts(pair.carbon.captures));
    if (now !== last) {
      last = now;
      since = Date.now();
    }
    const done = carbonDone ? carbonDone(counts(pair.carbon.captures)) : now === JSON.stringify(counts(captures));
    if (done && Date.now() - since >= 300) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  // Not there: the comparison will fail. Say whether bytes are stuck in the kernel on a capture server's side
  // (Recv-Q > 0 at the capture port: the test process stopped being told to read) or carbon sent nothing more.
  let sockets = '';
  try {
    const ports = pair.carbon.captures.map((x) => `:${x.port} `);
    sockets = execFileSync('ss', ['-tn'], { encoding: 'utf8' }).split('\n').filter((l) => ports.some((p) => l.includes(p))).join('\n');
  } catch {
    sockets = '(ss not available)';
  }
  console.warn(
    `carbon's captures never matched: carbon ${JSON.stringify(counts(pair.carbon.captures))}, ours ${JSON.stringify(counts(captures))}` +
      `\ncarbon capture ports ${pair.carbon.captures.map((x) => x.port).join(', ')}; sockets:\n${sockets}${diag()}`,
  );
}

const num = (x: number): string => (Object.is(x, -0) ? '-0' : String(x));
const keyOf = (d: Captured): string => `${d.name}\t${num(d.value)}\t${num(d.timestamp)}`;

/** What one capture server received (the names `keep` accepts), as sorted comparable strings. */
function received(c: CaptureServer, keep: (name: string) => boolean = () => true): string[] {
  return (c.protocol === 'pickle' ? c.datapoints.filter((d) => keep(d.name)).map(keyOf) : lines(c).filter((l) => keep(l.split(' ')[0]))).sort();
}

/** The multiset difference a - b. */
function minus(a: readonly string[], b: readonly string[]): string[] {
  const left = new Map<string, number>();
  for (const x of b) left.set(x, (left.get(x) ?? 0) + 1);
  const out: string[] = [];
  for (const x of a) {
    const n = left.get(x) ?? 0;
    if (n > 0) left.set(x, n - 1);
    else out.push(x);
  }
  return out;
}

/** Per destination: what only carbon's capture got and what only ours got (both empty when they agree). */
function compare(pair: Pair, keep?: (name: string) => boolean): { destination: number; onlyCarbon: string[]; onlyOurs: string[] }[] {
  return pair.carbon.captures.map((cc, i) => {
    const a = received(cc, keep);
    const b = received(pair.ours.captures[i], keep);
    return { destination: i, onlyCarbon: minus(a, b).slice(0, 20), onlyOurs: minus(b, a).slice(0, 20) };
  });
}

const agree = (pair: Pair): { destination: number; onlyCarbon: string[]; onlyOurs: string[] }[] =>
  pair.carbon.captures.map((_, i) => ({ destination: i, onlyCarbon: [], onlyOurs: [] }));

/** For each input datapoint (by its whole-second timestamp: line output drops the fraction), the destination indexes that received it, one entry per copy. */
function placement(caps: readonly CaptureServer[]): Map<number, number[]> {
  const out = new Map<number, number[]>();
  caps.forEach((c, i) => {
    const stamps = c.protocol === 'pickle' ? c.datapoints.map((d) => d.timestamp) : lines(c).map((l) => Number(l.split(' ')[2]));
    for (const ts of stamps.map(Math.floor)) {
      const list = out.get(ts) ?? [];
      list.push(i);
      out.set(ts, list);
    }
  });
  for (const l of out.values()) l.sort();
  return out;
}

/** Input datapoints whose placement `ok` rejects, as readable lines (empty when all are fine). */
function misplaced(where: Map<number, number[]>, data: Input, ok: (dests: number[], p: Point) => boolean): string[] {
  return [...data.lines, ...data.pickled]
    .filter((p) => !ok(where.get(Math.floor(p.ts)) ?? [], p))
    .slice(0, 10)
    .map((p) => `${p.name} @${p.ts}: ${JSON.stringify(where.get(Math.floor(p.ts)) ?? [])}`);
}

/** Names whose datapoints did not all go to the same destinations (hashing must be a function of the name). */
function unstableNames(where: Map<number, number[]>, data: Input, key: (name: string) => string = (n) => n): string[] {
  const seen = new Map<string, string>();
  const bad = new Set<string>();
  for (const p of [...data.lines, ...data.pickled]) {
    const w = JSON.stringify(where.get(Math.floor(p.ts)) ?? []);
    const k = key(p.name);
    if ((seen.get(k) ?? w) !== w) bad.add(k);
    seen.set(k, w);
  }
  return [...bad];
}

// ---------------------------------------------------------------------------
// Input

/** Value shapes, with the spelling used on plaintext lines (Python float() and ours must read them alike). */
const VALUES: ((i: number) => { value: number; lineValue?: string })[] = [
  (i) => ({ value: i }),
  (i) => ({ value: i + 0.25 }),
  (i) => ({ value: -(i * 1.5) }),
  (i) => ({ value: i * 1e-5 }),
  (i) => ({ value: 1000 + i, lineValue: String(1000 + i).replace(/(\d)(?=(\d{3})+$)/g, '$1_') }),
  () => ({ value: 2.5e10, lineValue: '2.5E10' }),
  () => ({ value: 0.5, lineValue: '.5' }),
  () => ({ value: 3.5, lineValue: '+3.5' }),
  (i) => ({ value: -7 - i / 8 }),
  () => ({ value: 123456789.125 }),
];

/** `count` datapoints cycling over `names`, with distinct timestamps from t0 (every fifth one fractional). */
function points(names: readonly string[], count: number, t0: number): Point[] {
  const out: Point[] = [];
  for (let i = 0; i < count; i++) {
    const v = VALUES[i % VALUES.length](i);
    const p: Point = { name: names[i % names.length], ts: t0 + i + (i % 5 === 0 ? 0.5 : 0), ...v };
    if (i % 9 === 4) p.pickleValue = String(p.value);
    if (i % 97 === 13) {
      p.value = 1;
      p.pickleValue = true;
    }
    out.push(p);
  }
  return out;
}

/** The same names as lines and as pickle, on separate timestamp ranges. */
function input(names: readonly string[], perProtocol = 1200): Input {
  return { lines: points(names, perProtocol, 1_700_000_000), pickled: points([...names].reverse(), perProtocol, 1_700_100_000) };
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** Names every scenario sends: plain, upper/lower case, unicode, tagged (both tag orders). */
const COMMON_NAMES = [
  ...range(8).map((k) => `plain.host${k}.load`),
  ...range(4).map((k) => `servers.web${k}.cpu.user`),
  ...range(4).map((k) => `servers.web${k}.mem.free`),
  ...range(4).map((k) => `servers.db${k}.cpu.idle`),
  ...range(4).map((k) => `servers.db${k}.mem.free`),
  ...range(2).map((k) => `SERVERS.WEB${k}.CPU.user`),
  ...range(3).map((k) => `APP.Upper${k}`),
  ...range(3).map((k) => `app.lower${k}`),
  ...range(2).map((k) => `App.Mixed${k}`),
  ...range(3).map((k) => `uni.ünïcödé.${k}`),
  ...range(2).map((k) => `UNI.ÜNÏCÖDÉ.${k}`),
  ...range(2).map((k) => `uni.日本語.${k}`),
  ...range(2).map((k) => `uni.emoji😀.${k}`),
  ...range(3).map((k) => `tagged.metric${k};env=prod;dc=eu`),
  ...range(3).map((k) => `tagged.metric${k};dc=eu;env=prod`),
  ...range(2).map((k) => `tagged.metric${k};env=dev`),
];

/** For hashing: the common names plus enough generated ones to spread over every node. */
const HASH_NAMES = [...COMMON_NAMES, ...range(60).map((k) => `servers.host${k}.cpu.${k % 5}`)];

/** Each destination got something, and the two relays' captures agree datapoint for datapoint. */
function expectSame(pair: Pair): void {
  expect(compare(pair)).toEqual(agree(pair));
  expect(counts(pair.ours.captures)).toEqual(counts(pair.carbon.captures));
  for (const n of counts(pair.carbon.captures)) expect(n).toBeGreaterThan(0);
}

/** Sends the same input to both relays, waits for delivery, asserts every destination got the same datapoints; returns where carbon put each one. */
async function sendAndCompare(pair: Pair, data: Input): Promise<Map<number, number[]>> {
  await sendBoth(pair, data);
  await settle(pair, data.lines.length + data.pickled.length);
  expectSame(pair);
  return placement(pair.carbon.captures);
}

beforeAll(async () => {
  // carbon connects to `localhost` over IPv4 (gethostbyname); our capture servers listen on 127.0.0.1
  const { address } = await dns.promises.lookup('localhost', { family: 4 });
  if (address !== '127.0.0.1') throw new Error(`localhost resolves to ${address}, not 127.0.0.1: the DIVERSE_REPLICAS scenario needs it`);
});

// ---------------------------------------------------------------------------

describe('carbon-relay and carbon-fanout side by side, on the same carbon.conf', () => {
  it('RELAY_METHOD = rules: continue chains, overlapping destinations, case-insensitive patterns, default rule written first', async () => {
    const d = (i: number): string => ['127.0.0.1:@D0@:a', '127.0.0.1:@D1@:b', '127.0.0.1:@D2@', '127.0.0.1:@D3@'][i];
    const scenario: Scenario = {
      protocol: 'pickle',
      destinations: range(4).map(d),
      settings: { RELAY_METHOD: 'rules' },
      files: {
        'relay-rules.conf': [
          '[everything_else]',
          'default = true',
          `destinations = ${d(0)}, ${d(3)}`,
          '',
          '[servers]',
          'pattern = ^servers\\.',
          'continue = true',
          `destinations = ${d(0)}, ${d(1)}`,
          '',
          '[cpu]',
          'pattern = \\.cpu\\.',
          'continue = yes',
          `destinations = ${d(1)}, ${d(2)}`,
          '',
          '[web]',
          'pattern = ^servers\\.web',
          `destinations = ${d(2)}, ${d(0)}`,
          '',
          '[apps]',
          'pattern = ^app\\.',
          `destinations = ${d(2)}`,
          '',
          '[unicode]',
          'pattern = ünïcödé|日本',
          `destinations = ${d(1)}`,
          '',
          '[prod]',
          'pattern = ;env=prod(;|$)',
          'continue = on',
          `destinations = ${d(2)}, ${d(2)}`,
          '',
        ].join('\n'),
      },
    };
    // By hand from the rules above: what carbon must do (and we with it).
    const expected = (name: string): number[] => {
      if (/^servers\.web/i.test(name)) return [0, 1, 2]; // servers(0,1) [cpu(1,2)] web(2,0), stop
      if (/^servers\..*\.cpu\./i.test(name)) return [0, 1, 2, 3]; // servers, cpu, default(0,3)
      if (/^servers\./i.test(name)) return [0, 1, 3]; // servers, default
      if (/^app\./i.test(name)) return [2];
      if (/ünïcödé|日本/i.test(name)) return [1];
      if (/;env=prod(;|$)/.test(name)) return [0, 2, 3]; // prod (listed twice), default
      return [0, 3];
    };
    await sideBySide(scenario, async (pair) => {
      const data = input(COMMON_NAMES);
      // Each destination gets a datapoint once, however many matching rules name it.
      const where = await sendAndCompare(pair, data);
      expect(misplaced(where, data, (w, p) => JSON.stringify(w) === JSON.stringify(expected(p.name)))).toEqual([]);
    });
  }, 60_000);
  it('RELAY_METHOD = consistent-hashing, REPLICATION_FACTOR = 2, DIVERSE_REPLICAS = false: four instances on one host', async () => {
    const scenario: Scenario = {
      protocol: 'pickle',
      destinations: ['127.0.0.1:@D0@:a', '127.0.0.1:@D1@:b', '127.0.0.1:@D2@:c', '127.0.0.1:@D3@:d'],
      settings: { RELAY_METHOD: 'consistent-hashing', REPLICATION_FACTOR: 2, DIVERSE_REPLICAS: 'false' },
    };
    await sideBySide(scenario, async (pair) => {
      const data = input(HASH_NAMES);
      const where = await sendAndCompare(pair, data);
      // two copies, on two different nodes, the same two for every datapoint of a name
      expect(misplaced(where, data, (w) => w.length === 2 && w[0] !== w[1])).toEqual([]);
      expect(unstableNames(where, data)).toEqual([]);
      expect(new Set([...where.values()].map((w) => w.join())).size).toBeGreaterThanOrEqual(4);
    });
  }, 60_000);

  it('RELAY_METHOD = consistent-hashing, REPLICATION_FACTOR = 2, DIVERSE_REPLICAS = true: replicas on distinct host strings (127.0.0.1, localhost)', async () => {
    const scenario: Scenario = {
      protocol: 'pickle',
      // Carbon hashes (host string, instance): the same machine counts as two servers when spelt differently.
      destinations: ['127.0.0.1:@D0@:a', '127.0.0.1:@D1@:b', 'localhost:@D2@:a', 'localhost:@D3@:b'],
      settings: { RELAY_METHOD: 'consistent-hashing', REPLICATION_FACTOR: 2, DIVERSE_REPLICAS: 'true' },
    };
    await sideBySide(scenario, async (pair) => {
      const data = input(HASH_NAMES);
      const where = await sendAndCompare(pair, data);
      // one copy per host string
      expect(misplaced(where, data, (w) => w.length === 2 && w[0] <= 1 && w[1] >= 2)).toEqual([]);
      expect(unstableNames(where, data)).toEqual([]);
    });
  }, 60_000);

  it('USE_WHITELIST = True: CONF_DIR/blacklist.conf is checked first, then CONF_DIR/whitelist.conf (case-sensitive, searched)', async () => {
    const scenario: Scenario = {
      protocol: 'pickle',
      destinations: ['127.0.0.1:@D0@', '127.0.0.1:@D1@:x'],
      settings: { RELAY_METHOD: 'rules', USE_WHITELIST: 'True' },
      files: {
        'relay-rules.conf': '[servers]\npattern = ^servers\\.\ncontinue = true\ndestinations = 127.0.0.1:@D1@:x\n\n[default]\ndefault = true\ndestinations = 127.0.0.1:@D0@\n',
        'whitelist.conf': ['# only these are relayed', '^plain\\.', '^servers\\.', 'ünïcödé', ';env=prod', '   ^APP\\.   ', '', '[not a regex', ''].join('\n'),
        'blacklist.conf': ['#^plain\\.', '^servers\\.db', '^tagged\\.metric0;', '\\.host3\\.', ''].join('\n'),
      },
    };
    const blocked = (n: string): boolean => /^servers\.db|^tagged\.metric0;|\.host3\./.test(n);
    const allowed = (n: string): boolean => /^plain\.|^servers\.|ünïcödé|;env=prod|^APP\./.test(n);
    await sideBySide(scenario, async (pair) => {
      const data = input(COMMON_NAMES);
      const all = [...data.lines, ...data.pickled];
      const where = await sendAndCompare(pair, data);
      const expected = (n: string): number[] => (blocked(n) || !allowed(n) ? [] : /^servers\./i.test(n) ? [0, 1] : [0]);
      expect(misplaced(where, data, (w, p) => JSON.stringify(w) === JSON.stringify(expected(p.name)))).toEqual([]);
      // the filters did something, in both directions
      const c = pair.ours.relay.counters;
      expect(c.blacklistMatches).toBe(all.filter((p) => blocked(p.name)).length);
      expect(c.whitelistRejects).toBe(all.filter((p) => !blocked(p.name) && !allowed(p.name)).length);
      expect(c.blacklistMatches).toBeGreaterThan(100);
      expect(c.whitelistRejects).toBeGreaterThan(100);
      expect(c.metricsReceived).toBeGreaterThan(100);
    });
  }, 60_000);

  it('DESTINATION_PROTOCOL = line, TAG_RELAY_NORMALIZED = True, ROUTER_HASH_TYPE = fnv1a_ch: the same lines, byte for byte (but CRLF)', async () => {
    const scenario: Scenario = {
      protocol: 'line',
      destinations: ['127.0.0.1:@D0@:a', '127.0.0.1:@D1@:b', '127.0.0.1:@D2@:c'],
      settings: { RELAY_METHOD: 'consistent-hashing', ROUTER_HASH_TYPE: 'fnv1a_ch', TAG_RELAY_NORMALIZED: 'True' },
    };
    const invalidTags = ['bad;notag', 'bad;=x', 'bad;k=~v', 'bad;k=', ';k=v'];
    const names = [
      ...COMMON_NAMES,
      'm;a=1;a-b=2',
      'm;a-b=2;a=1',
      'dup;a=1;a=2',
      'x;name=y;z=1',
      '~tilde.name;x=1',
      '~plain.tilde',
      'om.metric{env="prod",dc="eu"}',
      'om.metric{dc="eu",env="prod"}',
      ...invalidTags,
    ];
    await sideBySide(scenario, async (pair) => {
      const data = input(names);
      const all = [...data.lines, ...data.pickled];
      const where = await sendAndCompare(pair, data);
      expect(misplaced(where, data, (w) => w.length === 1)).toEqual([]);
      // names are routed (and sent) normalised: tag order, duplicate keys, name=, ~ do not matter
      const normal = (n: string): string =>
        ({ 'tagged.metric0;env=prod;dc=eu': 'tagged.metric0;dc=eu;env=prod', 'm;a=1;a-b=2': 'm;a-b=2;a=1', '~plain.tilde': 'plain.tilde', 'om.metric{dc="eu",env="prod"}': 'om.metric{env="prod",dc="eu"}' })[n] ?? n;
      expect(unstableNames(where, data, normal)).toEqual([]);
      const sentNames = new Set(pair.carbon.captures.flatMap((c) => lines(c).map((l) => l.split(' ')[0])));
      expect(sentNames).toContain('tagged.metric0;dc=eu;env=prod');
      expect(sentNames).not.toContain('tagged.metric0;env=prod;dc=eu');
      expect(sentNames).toContain('m;a-b=2;a=1');
      expect(sentNames).toContain('dup;a=2');
      expect(sentNames).toContain('x;z=1');
      expect(sentNames).toContain('tilde.name;x=1');
      expect(sentNames).toContain('plain.tilde');
      expect(sentNames).toContain('om.metric;dc=eu;env=prod');
      for (const n of invalidTags) expect(sentNames).toContain(n); // forwarded as received
      expect(pair.ours.relay.counters.invalidTags).toBe(all.filter((p) => invalidTags.includes(p.name)).length);
    });
  }, 60_000);

  it('RELAY_METHOD = aggregated-consistent-hashing: every input of an aggregate on the aggregate\'s node (CONF_DIR/aggregation-rules.conf)', async () => {
    const scenario: Scenario = {
      protocol: 'pickle',
      destinations: ['127.0.0.1:@D0@:a', '127.0.0.1:@D1@:b', '127.0.0.1:@D2@:c'],
      settings: { RELAY_METHOD: 'aggregated-consistent-hashing' },
      files: {
        'aggregation-rules.conf': [
          '# the relay only hashes the output names',
          'agg.servers.<host>.cpu.total (60) = sum servers.<host>.cpu.*',
          'agg.cpu.<metric> (60) = avg servers.*.cpu.<<metric>>',
          'agg.all.mem.free (60) = avg servers.*.mem.free',
          'agg.<prefix>.load (10) = sum <<prefix>>.load',
          '',
        ].join('\n'),
      },
    };
    const names = [...HASH_NAMES, ...range(4).flatMap((k) => [`servers.web${k}.cpu.system`, `servers.web${k}.cpu.idle`])];
    await sideBySide(scenario, async (pair) => {
      const data = input(names);
      const where = await sendAndCompare(pair, data);
      expect(misplaced(where, data, (w) => w.length >= 1 && w.length <= 2 && new Set(w).size === w.length)).toEqual([]);
      // every servers.*.mem.free on one node (one aggregate), whatever the host
      expect(unstableNames(where, data, (n) => (/^servers\.[^.]+\.mem\.free$/.test(n) ? 'mem' : n))).toEqual([]);
      // servers.<host>.cpu.* feed agg.servers.<host>.cpu.total and agg.cpu.<metric>: they share the first one's node
      const byHost = new Map<string, number[][]>();
      for (const p of [...data.lines, ...data.pickled]) {
        const host = /^servers\.([^.]+)\.cpu\.[^.]+$/.exec(p.name)?.[1];
        if (host !== undefined) byHost.set(host, [...(byHost.get(host) ?? []), where.get(Math.floor(p.ts)) ?? []]);
      }
      const noCommonNode = [...byHost].filter(([, ws]) => !range(3).some((d) => ws.every((w) => w.includes(d)))).map(([h]) => h);
      expect(byHost.size).toBeGreaterThan(60);
      expect(noCommonNode).toEqual([]);
      // and some go to two nodes
      expect([...where.values()].some((w) => w.length === 2)).toBe(true);
    });
  }, 60_000);
  /** Where each name's datapoints went, on one side: name -> sorted destination indexes (one entry per copy, all datapoints alike). */
  const byName = (caps: readonly CaptureServer[], data: Input): Record<string, number[]> => {
    const where = placement(caps);
    const out: Record<string, number[]> = {};
    for (const p of [...data.lines, ...data.pickled]) out[p.name] = where.get(Math.floor(p.ts)) ?? [];
    expect(unstableNames(where, data)).toEqual([]);
    return out;
  };

  it('carbon\'s patterns are Python regexes, Unicode-aware in \\w, \\d and re.I; so are ours (relay-rules.conf and whitelist.conf)', async () => {
    const scenario: Scenario = {
      protocol: 'pickle',
      destinations: ['127.0.0.1:@D0@:a', '127.0.0.1:@D1@:b'],
      settings: { RELAY_METHOD: 'rules', USE_WHITELIST: 'True' },
      files: {
        'relay-rules.conf': [
          '[default]\ndefault = true\ndestinations = 127.0.0.1:@D0@:a\n',
          '[word]\npattern = ^word\\.\\w+$\ndestinations = 127.0.0.1:@D1@:b\n',
          '[digit]\npattern = ^digit\\.\\d+$\ndestinations = 127.0.0.1:@D1@:b\n',
          '[kelvin]\npattern = ^kelvin\\.\ndestinations = 127.0.0.1:@D1@:b\n',
        ].join('\n'),
        'whitelist.conf': ['^word\\.', '^digit\\.', '^kelvin\\.', '^\u212aelvin\\.', '^wl\\.\\w+$', ''].join('\n'),
      },
    };
    const kelvinSign = '\u212aelvin.x'; // U+212A KELVIN SIGN, whose lower case is ASCII k
    const names = ['word.abc', 'word.ünï', 'digit.42', 'digit.\u0663', 'kelvin.x', kelvinSign, 'wl.abc', 'wl.ünï'];
    await sideBySide(scenario, async (pair) => {
      const data = input(names, 80);
      const shared = { 'word.abc': [1], 'digit.42': [1], 'kelvin.x': [1], 'wl.abc': [0] };
      const carbonExpected: Record<string, number[]> = { ...shared, 'word.ünï': [1], 'digit.\u0663': [1], [kelvinSign]: [1], 'wl.ünï': [0] };
      const perDest = [0, 1].map((d) => [...data.lines, ...data.pickled].filter((p) => carbonExpected[p.name].includes(d)).length);
      await sendBoth(pair, data);
      await settle(pair, data.lines.length + data.pickled.length, (n) => JSON.stringify(n) === JSON.stringify(perDest));
      expect(byName(pair.carbon.captures, data)).toEqual(carbonExpected);
      // compilePythonRegex: u-flag regexes with Python's \w ([\p{L}\p{N}_]) and \d (\p{Nd}); iu folds U+212A to k
      expect(byName(pair.ours.captures, data)).toEqual(carbonExpected);
    });
  }, 60_000);

  it('CARBON_METRIC_INTERVAL = 1: every self-metric carbon-relay emits, we emit under the same name', async () => {
    const scenario: Scenario = {
      protocol: 'pickle',
      destinations: ['127.0.0.1:@D0@:a', '127.0.0.1:@D1@'],
      settings: { RELAY_METHOD: 'rules', CARBON_METRIC_INTERVAL: 1 },
      files: { 'relay-rules.conf': '[default]\ndefault = true\ndestinations = 127.0.0.1:@D0@:a, 127.0.0.1:@D1@\n' },
    };
    // instrumentation.py: <CARBON_METRIC_PREFIX>.relays.<socket.gethostname(), dots as _>-<instance>.<stat>
    const prefix = `carbon.relays.${os.hostname().replace(/\./g, '_')}-a.`;
    const isSelf = (name: string): boolean => name.startsWith(prefix);
    /** A relay's self-metrics at destination 0 (the default rule sends them to both): stat name (destinations as D<i>) -> datapoints. */
    const stats = (caps: readonly CaptureServer[]): Map<string, Captured[]> => {
      const out = new Map<string, Captured[]>();
      for (const d of caps[0].datapoints.filter((x) => isSelf(x.name))) {
        let stat = d.name.slice(prefix.length);
        caps.forEach((c, i) => (stat = stat.replace(`destinations.127_0_0_1:${c.port}:`, `destinations.D${i}:`)));
        out.set(stat, [...(out.get(stat) ?? []), d]);
      }
      return out;
    };
    await sideBySide(scenario, async (pair) => {
      const data = input(COMMON_NAMES, 100);
      const sent = data.lines.length + data.pickled.length;
      await sendBoth(pair, data);
      await settle(pair, sent, () => true);
      // two more intervals from each relay once the data is in (values are per-interval deltas)
      const after = Date.now() / 1000;
      const intervalsAfter = (caps: readonly CaptureServer[]): number => (stats(caps).get('metricsReceived') ?? []).filter((d) => d.timestamp > after).length;
      await waitFor(() => intervalsAfter(pair.carbon.captures) >= 2 && intervalsAfter(pair.ours.captures) >= 2, 'two self-metric intervals from each relay', 20_000);
      const carbon = stats(pair.carbon.captures);
      const ours = stats(pair.ours.captures);
      const total = (m: Map<string, Captured[]>, stat: string): number => (m.get(stat) ?? []).reduce((n, d) => n + d.value, 0);
      expect(total(carbon, 'metricsReceived')).toBe(sent);
      expect(total(ours, 'metricsReceived')).toBe(sent);
      // Shared names, by construction of this run: destination stats touched every interval (data, then the self-metrics themselves).
      const core = ['activeConnections', 'metricsReceived', 'blacklistMatches', 'whitelistRejects', 'cpuUsage', 'memUsage'];
      for (const d of ['D0:a', 'D1:None']) for (const k of ['attemptedRelays', 'sent', 'batchesSent', 'relayMaxQueueLength']) core.push(`destinations.${d}.${k}`);
      expect(core.filter((n) => !carbon.has(n))).toEqual([]);
      expect(core.filter((n) => !ours.has(n))).toEqual([]);
      // Carbon emits a destination stat only in intervals that touched it; we emit every counter every interval,
      // so our names are a superset. queuedUntilReady (max queue length while Twisted paused the producer) is
      // the one carbon stat we have no counterpart for; it cannot appear here unless carbon's socket backs up.
      expect([...carbon.keys()].filter((n) => !ours.has(n) && !n.endsWith('.queuedUntilReady'))).toEqual([]);
      // The received datapoints themselves still agree, self-metrics aside.
      expect(compare(pair, (n) => !isSelf(n))).toEqual(agree(pair));
    });
  }, 60_000);
});

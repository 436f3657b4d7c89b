import dns from 'node:dns';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { main } from '../../src/cli';
import { readCarbonConf } from '../../src/config/carbon-conf';
import type { Relay } from '../../src/relay';
import { silentLogger } from '../../src/telemetry/logger';
import { carbonConfText, freePorts, startOnFreePorts, type CarbonDaemon } from '../helpers/carbon';
import { runPython } from '../helpers/python';
import { CaptureServer, sendTcp, waitFor, type Captured } from '../helpers/sink';

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
        fs.writeFileSync(ourRulesFile, fill(rules, ourDests).replace("continue = yes", "continue = no"));
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
      const d = relay!.config.destinations.find((x) => x.port === c.port);
      if (d === undefined) throw new Error(`no destination for capture port ${c.port}`);
      return d.name;
    });
    await body({
      carbon: { daemon, captures: carbonCaps, linePort: carbonPorts.LINE, picklePort: carbonPorts.PICKLE },
      ours: { relay: relay!, captures: ourCaps, linePort: ourPorts!.LINE, picklePort: ourPorts!.PICKLE },
      ourDestNames,
    });
  } finally {
    stopOurs?.('test done');
    try {
      if (ourExit !== undefined) expect(await ourExit).toBe(0);
    } finally {
      await daemon?.stop();
      for (const c of [...carbonCaps, ...ourCaps]) await c.close();
    }
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
 * many datapoints as ours, per destination, and have stopped changing.
 */
async function settle(pair: Pair, sent: number): Promise<void> {
  const { relay, captures } = pair.ours;
  const c = relay.counters;
  const diag = (): string =>
    `\nours: ${JSON.stringify(counts(captures))} carbon: ${JSON.stringify(counts(pair.carbon.captures))} counters: ${JSON.stringify(c)}` +
    `\n--- carbon-relay log ---\n${pair.carbon.daemon.log.slice(-4000)}`;
  await waitFor(() => c.metricsReceived + c.blacklistMatches + c.whitelistRejects >= sent, `our relay to take all ${sent} datapoints${diag()}`, 20_000);
  await waitFor(
    () =>
      pair.ourDestNames.every((name, i) => {
        const d = relay.destinations.get(name)!;
        return d.queue.length === 0 && d.counters.sent === d.counters.attemptedRelays && counts([captures[i]])[0] === d.counters.sent;
      }),
    `our destinations to deliver everything${diag()}`,
    20_000,
  );
  let last = '';
  let since = Date.now();
  await waitFor(
    () => {
      const now = JSON.stringify(counts(pair.carbon.captures));
      if (now !== last) {
        last = now;
        since = Date.now();
      }
      return now === JSON.stringify(counts(captures)) && Date.now() - since >= 300;
    },
    `carbon's capture servers to hold as many datapoints as ours and stop changing${diag()}`,
    20_000,
  );
}

const num = (x: number): string => (Object.is(x, -0) ? '-0' : String(x));
const keyOf = (d: Captured): string => `${d.name}\t${num(d.value)}\t${num(d.timestamp)}`;

/** What one capture server received, as sorted comparable strings. */
function received(c: CaptureServer): string[] {
  return (c.protocol === 'pickle' ? c.datapoints.map(keyOf) : lines(c)).sort();
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
function compare(pair: Pair): { destination: number; onlyCarbon: string[]; onlyOurs: string[] }[] {
  return pair.carbon.captures.map((cc, i) => {
    const a = received(cc);
    const b = received(pair.ours.captures[i]);
    return { destination: i, onlyCarbon: minus(a, b).slice(0, 20), onlyOurs: minus(b, a).slice(0, 20) };
  });
}

const agree = (pair: Pair): { destination: number; onlyCarbon: string[]; onlyOurs: string[] }[] =>
  pair.carbon.captures.map((_, i) => ({ destination: i, onlyCarbon: [], onlyOurs: [] }));

/** For each input datapoint (by timestamp), the destination indexes that received it, one entry per copy. */
function placement(caps: readonly CaptureServer[]): Map<number, number[]> {
  const out = new Map<number, number[]>();
  caps.forEach((c, i) => {
    const stamps = c.protocol === 'pickle' ? c.datapoints.map((d) => d.timestamp) : lines(c).map((l) => Number(l.split(' ')[2]));
    for (const ts of stamps) {
      const list = out.get(ts) ?? [];
      list.push(i);
      out.set(ts, list);
    }
  });
  for (const l of out.values()) l.sort();
  return out;
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

/** Each destination got something, and the two relays' captures agree datapoint for datapoint. */
function expectSame(pair: Pair): void {
  for (const n of counts(pair.carbon.captures)) expect(n).toBeGreaterThan(0);
  expect(compare(pair)).toEqual(agree(pair));
}

let t0: number;
beforeAll(async () => {
  t0 = Date.now();
  // carbon connects to `localhost` over IPv4 (gethostbyname); our capture servers listen on 127.0.0.1
  const { address } = await dns.promises.lookup('localhost', { family: 4 });
  if (address !== '127.0.0.1') throw new Error(`localhost resolves to ${address}, not 127.0.0.1: the DIVERSE_REPLICAS scenario needs it`);
});
afterAll(() => {
  // eslint-disable-next-line no-console
  console.log(`carbon side-by-side: ${Date.now() - t0} ms`);
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
      await sendBoth(pair, data);
      await settle(pair, data.lines.length + data.pickled.length);
      expectSame(pair);
      // Each destination gets a datapoint once, however many matching rules name it.
      const where = placement(pair.carbon.captures);
      const wrong = [...data.lines, ...data.pickled]
        .filter((p) => JSON.stringify(where.get(p.ts) ?? []) !== JSON.stringify(expected(p.name)))
        .map((p) => `${p.name}: carbon ${JSON.stringify(where.get(p.ts) ?? [])}, expected ${JSON.stringify(expected(p.name))}`);
      expect(wrong.slice(0, 10)).toEqual([]);
    });
  }, 60_000);
});

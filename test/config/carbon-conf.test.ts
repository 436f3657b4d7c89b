import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CARBON_RING_GROUP, parseCarbonDestination, readCarbonConf, type CarbonConfOptions } from '../../src/config/carbon-conf';
import { pyFloatRepr } from '../../src/common/python/float';
import { parsePyInt } from '../../src/common/python/int';
import { ConfigError } from '../../src/config/config-error';
import { loadConfigObject } from '../../src/config/load';
import { configSchema } from '../../src/config/schema';
import { carbonDestinations } from '../helpers/destinations';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'carbon');
const HOSTNAME = 'relay01.example.com';
const PREFIX_HOST = 'relay01_example_com';

/** test/fixtures/carbon/carbon-view.json (gen-carbon-view.py): carbon 1.1.7's own reading of the fixtures. */
type Tuple = [string, number, string | null];
interface CarbonView {
  scenario: string;
  instance: string;
  settings: Record<string, string | number | boolean | null>;
  confDir: string;
  destinations: Tuple[];
  /** instrumentation.py's '%s.relays.%s-%s' % (CARBON_METRIC_PREFIX, HOSTNAME, instance), HOSTNAME from relay01.example.com. */
  selfMetricPrefix: string;
  rulesFile?: string;
  rules?: { pattern: string | null; destinations: Tuple[]; continue: boolean }[];
}
const carbonView = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'carbon-view.json'), 'utf8')) as {
  scenarios: CarbonView[];
  destinationStrings: [string, Tuple | null][];
};

function read(scenario: string, opts: Partial<CarbonConfOptions> = {}): ReturnType<typeof readCarbonConf> {
  return readCarbonConf({ carbonConf: path.join(FIXTURES, scenario, 'carbon.conf'), hostname: HOSTNAME, ...opts });
}

/** The error readCarbonConf throws. */
function failure(f: () => unknown): ConfigError {
  try {
    f();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('no error thrown');
}

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'carbon-conf-test-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

let caseNo = 0;
/** Write carbon.conf (and relay-rules.conf) into a fresh directory; returns the carbon.conf path. */
function writeConf(carbonConf: string, rules?: string): string {
  const dir = path.join(tmp, `case${++caseNo}`);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'carbon.conf'), carbonConf);
  if (rules !== undefined) fs.writeFileSync(path.join(dir, 'relay-rules.conf'), rules);
  return path.join(dir, 'carbon.conf');
}

const DEFAULT_RULES = '[default]\ndefault = true\ndestinations = 127.0.0.1:2004\n';

function readText(carbonConf: string, rules: string | undefined = DEFAULT_RULES, opts: Partial<CarbonConfOptions> = {}): ReturnType<typeof readCarbonConf> & { file: string } {
  const file = writeConf(carbonConf, rules);
  return { ...readCarbonConf({ carbonConf: file, hostname: HOSTNAME, ...opts }), file };
}

describe('readCarbonConf: the fixtures', () => {
  it('maps the Debian /etc/carbon/carbon.conf [relay] section', () => {
    const { config, warnings } = read('debian');
    expect(config).toStrictEqual({
      listen: {
        line: { tcp: { host: '0.0.0.0', port: 2013, timestampOptional: false } },
        pickle: { tcp: { host: '0.0.0.0', port: 2014 }, maxFrameLength: 1048576 },
      },
      destinations: [{ name: '127.0.0.1:2004', host: '127.0.0.1', port: 2004, metricName: '127_0_0_1:2004:None', protocol: 'pickle', maxQueueSize: 10000, maxDatapointsPerMessage: 500 }],
      rules: [{ name: 'default', default: true, destinations: ['127.0.0.1:2004'] }],
      workers: 1,
      normalizeTags: false,
      minTimestampResolution: 0,
      selfMetrics: { interval: 60, prefix: `carbon.relays.${PREFIX_HOST}-a` },
    });
    // its [relay] sets QUEUE_LOW_WATERMARK_PCT, TIME_TO_DEFER_SENDING, USE_FLOW_CONTROL, USE_RATIO_RESET to carbon's defaults
    expect(warnings).toEqual([]);
    const parsed = configSchema.parse(config);
    expect(parsed.listen.maxConnections).toBe(1024);
    expect(carbonDestinations(parsed.destinations)[0].tls).toBe(false);
    expect(parsed.selfMetrics).toEqual({ interval: 60_000, prefix: 'carbon.relays.relay01_example_com-a' });
  });

  it("rejects Debian's example relay-rules.conf with it: its destinations are not in DESTINATIONS", () => {
    const rules = path.join(FIXTURES, 'debian', 'relay-rules.conf.example');
    const err = failure(() => read('debian', { rules }));
    expect(err.code).toBe('CF_ERR_CONFIG_UNKNOWN_DESTINATION');
    expect(err.where).toEqual({ file: rules, line: 21, path: '[default] destinations' });
    expect(err.message).toBe(
      `${rules}:21: [default] destinations: 127.0.0.1:2004:a is not in DESTINATIONS of ${path.join(FIXTURES, 'debian', 'carbon.conf')} ` +
        '(host, port and instance must all match; carbon would silently drop it, and buffer without limit when a rule is left with no destination)',
    );
  });

  it('maps pattern rules in file order: continue, default not last, default = false skipped, no inline comments', () => {
    const { config, warnings } = read('rules');
    expect(config).toStrictEqual({
      listen: {
        line: { tcp: { host: '127.0.0.1', port: 2013, timestampOptional: false }, udp: { host: '0.0.0.0', port: 2013, timestampOptional: false } },
        pickle: { tcp: { host: '0.0.0.0', port: 2014 }, maxFrameLength: 1048576 },
      },
      destinations: [
        { name: '127.0.0.1:2004:a', host: '127.0.0.1', port: 2004, instance: 'a', metricName: '127_0_0_1:2004:a', protocol: 'pickle', maxQueueSize: 10000, maxDatapointsPerMessage: 500 },
        { name: '127.0.0.1:2104:b', host: '127.0.0.1', port: 2104, instance: 'b', metricName: '127_0_0_1:2104:b', protocol: 'pickle', maxQueueSize: 10000, maxDatapointsPerMessage: 500 },
        { name: '10.0.0.5:2004', host: '10.0.0.5', port: 2004, metricName: '10_0_0_5:2004:None', protocol: 'pickle', maxQueueSize: 10000, maxDatapointsPerMessage: 500 },
      ],
      rules: [
        { name: 'carbon', pattern: '^carbon\\.', continue: true, destinations: ['127.0.0.1:2004:a'] },
        { name: 'web', pattern: '^servers\\.web[0-9]+\\. # web servers', continue: false, destinations: ['10.0.0.5:2004', '127.0.0.1:2104:b'] },
        { name: 'Percent', pattern: '^load\\.100%\\.', continue: true, destinations: ['127.0.0.1:2104:b'] },
        { name: 'default', default: true, destinations: ['127.0.0.1:2004:a', '127.0.0.1:2104:b'] },
      ],
      workers: 1,
      normalizeTags: false,
      minTimestampResolution: 0,
      selfMetrics: { interval: 30, prefix: `carbon.relays.${PREFIX_HOST}-a` },
    });
    expect(warnings).toEqual([]);
    const parsed = configSchema.parse(config);
    expect(parsed.rules?.map((r) => r.ignoreCase)).toEqual([true, true, true, true]);
  });

  it('overlays [relay:b] on [relay] for instance b', () => {
    const { config, warnings } = read('rules', { instance: 'b' });
    expect(config.listen).toStrictEqual({
      line: { tcp: { host: '127.0.0.1', port: 2113, timestampOptional: false } },
      pickle: { tcp: { host: '0.0.0.0', port: 2114 }, maxFrameLength: 1048576 },
    });
    expect(config.destinations?.map((d) => [d.name, d.protocol, d.maxQueueSize])).toEqual([
      ['127.0.0.1:2004:a', 'line', 5000],
      ['127.0.0.1:2104:b', 'line', 5000],
      ['10.0.0.5:2004', 'line', 5000],
    ]);
    expect(config.selfMetrics).toStrictEqual({ interval: 30, prefix: `carbon.relays.${PREFIX_HOST}-b` });
    expect(config.rules).toHaveLength(4);
    expect(warnings).toEqual([]);
    configSchema.parse(config);
  });

  it('maps consistent-hashing (RF 2, fnv1a_ch, not diverse) with an IPv6 destination, ssl and the whitelist', () => {
    const { config, warnings } = read('hashing');
    const dir = path.join(FIXTURES, 'hashing');
    // the schema's destination names cannot hold brackets yet: then the name is carbon's own host:port:instance label
    const ipv6Name = '[2001:db8::7]:2004:c';
    const tls = { ca: '/etc/ssl/certs/ca-certificates.crt' };
    expect(config).toStrictEqual({
      listen: {
        maxConnections: 500,
        pickle: { tcp: { host: '::', port: 2014 }, maxFrameLength: 4194304 },
      },
      destinations: [
        { name: 'cache-1.example.com:2004:a', host: 'cache-1.example.com', port: 2004, instance: 'a', metricName: 'cache-1_example_com:2004:a', protocol: 'pickle', tls, maxQueueSize: 1000, maxDatapointsPerMessage: 500 },
        { name: 'cache-2.example.com:2004:b', host: 'cache-2.example.com', port: 2004, instance: 'b', metricName: 'cache-2_example_com:2004:b', protocol: 'pickle', tls, maxQueueSize: 1000, maxDatapointsPerMessage: 500 },
        { name: ipv6Name, host: '2001:db8::7', port: 2004, instance: 'c', metricName: '2001:db8::7:2004:c', protocol: 'pickle', tls, maxQueueSize: 1000, maxDatapointsPerMessage: 500 },
      ],
      groups: [
        {
          name: CARBON_RING_GROUP,
          type: 'fnv1a_ch',
          ring: 'consistent',
          replication: 2,
          diverse: false,
          members: ['cache-1.example.com:2004:a', 'cache-2.example.com:2004:b', ipv6Name],
          memberOrder: 'listed',
        },
      ],
      rules: [{ default: true, destinations: ['carbon-ring'] }],
      filters: { allowFile: path.join(dir, 'whitelist.conf'), blockFile: path.join(dir, 'blacklist.conf') },
      workers: 1,
      normalizeTags: true,
      minTimestampResolution: 10,
      selfMetrics: { interval: 0, prefix: `graphite.relays.${PREFIX_HOST}-a` },
    });
    expect(warnings).toEqual([]);
    const parsed = configSchema.parse(config);
    expect(carbonDestinations(parsed.destinations)[2].tls).toEqual({ ca: '/etc/ssl/certs/ca-certificates.crt', rejectUnauthorized: true });
    expect(parsed.selfMetrics.interval).toBe(0);
  });

  it("reproduces carbon's [DEFAULT] quirk: an existing [relay:<instance>] re-applies DEFAULT over [relay]", () => {
    expect(read('overlay-default').config.destinations?.[0].maxQueueSize).toBe(111);
    expect(read('overlay-default', { instance: 'b' }).config.destinations?.[0].maxQueueSize).toBe(222);
    // CARBON_METRIC_PREFIX = 1e3 is a float to carbon, so '%s' makes it '1000.0'
    expect(read('overlay-default').config.selfMetrics?.prefix).toBe(`1000.0.relays.${PREFIX_HOST}-a`);
  });

  it.each(carbonView.scenarios.map((v) => [`${v.scenario} instance ${v.instance}`, v] as const))('%s passes the loader checks (loadConfigObject)', (_name, view) => {
    const file = path.join(FIXTURES, view.scenario, 'carbon.conf');
    const relay = loadConfigObject(read(view.scenario, { instance: view.instance }).config, file);
    expect(relay.file).toBe(file);
    expect(carbonDestinations(relay.destinations).map((d) => [d.host, d.port, d.instance ?? null])).toEqual(view.destinations);
  });

  describe('agrees with what carbon itself reads (carbon-view.json)', () => {
    it.each(carbonView.scenarios.map((v) => [`${v.scenario} instance ${v.instance}`, v] as const))('%s', (_name, view) => {
      const { config } = read(view.scenario, { instance: view.instance });
      const s = view.settings;
      const parsed = configSchema.parse(config);
      const listener = (iface: string, port: string): { host: string; port: number } | undefined =>
        s[port] === 0 ? undefined : { host: s[iface] as string, port: s[port] as number };
      // carbon's line receivers require a timestamp
      const lineListener = (iface: string, port: string): { host: string; port: number; timestampOptional: false } | undefined => {
        const l = listener(iface, port);
        return l === undefined ? undefined : { ...l, timestampOptional: false };
      };
      expect(parsed.listen.line?.tcp).toEqual(lineListener('LINE_RECEIVER_INTERFACE', 'LINE_RECEIVER_PORT'));
      expect(parsed.listen.line?.udp).toEqual(s.ENABLE_UDP_LISTENER ? lineListener('UDP_RECEIVER_INTERFACE', 'UDP_RECEIVER_PORT') : undefined);
      expect(parsed.listen.pickle?.tcp).toEqual(listener('PICKLE_RECEIVER_INTERFACE', 'PICKLE_RECEIVER_PORT'));
      if (parsed.listen.pickle !== undefined) expect(parsed.listen.pickle.maxFrameLength).toBe(s.PICKLE_RECEIVER_MAX_LENGTH);
      if (s.MAX_RECEIVER_CONNECTIONS !== 'inf') expect(parsed.listen.maxConnections).toBe(s.MAX_RECEIVER_CONNECTIONS);
      expect(carbonDestinations(parsed.destinations).map((d) => [d.host, d.port, d.instance ?? null])).toEqual(view.destinations);
      for (const d of carbonDestinations(parsed.destinations)) {
        expect(d.protocol).toBe(s.DESTINATION_PROTOCOL);
        expect(d.maxQueueSize).toBe(s.MAX_QUEUE_SIZE);
        expect(d.maxDatapointsPerMessage).toBe(s.MAX_DATAPOINTS_PER_MESSAGE);
        expect(d.tls).toEqual(s.DESTINATION_TRANSPORT === 'ssl' ? { ca: s.DESTINATION_SSL_CA, rejectUnauthorized: true } : false);
      }
      expect(parsed.normalizeTags).toBe(s.TAG_RELAY_NORMALIZED);
      expect(parsed.minTimestampResolution).toBe(s.MIN_TIMESTAMP_RESOLUTION);
      expect(parsed.selfMetrics.interval).toBe((s.CARBON_METRIC_INTERVAL as number) * 1000);
      expect(parsed.selfMetrics.prefix).toBe(view.selfMetricPrefix);
      expect(parsed.filters === undefined).toBe(!s.USE_WHITELIST);
      const tuple = new Map(carbonDestinations(parsed.destinations).map((d) => [d.name, [d.host, d.port, d.instance ?? null]]));
      if (view.rules === undefined) {
        expect(s.RELAY_METHOD).not.toBe('rules');
        const g = parsed.groups[0];
        expect([g.type, g.replication, g.diverse]).toEqual([s.ROUTER_HASH_TYPE ?? 'carbon_ch', s.REPLICATION_FACTOR, s.DIVERSE_REPLICAS]);
        expect(g.members.map((m) => tuple.get(m))).toEqual(view.destinations);
      } else {
        // carbon's rule list: pattern rules in order, then the default rule; ours names each destination once
        const ours = (parsed.rules ?? []).map((r) => ({ pattern: r.pattern ?? null, destinations: r.destinations.map((n) => tuple.get(n)), continue: r.continue }));
        const theirs = view.rules.map((r) => ({ ...r, destinations: r.destinations.filter((d, i, all) => all.findIndex((e) => e.join() === d.join()) === i) }));
        expect(ours).toEqual(theirs);
      }
    });
  });
});

describe('readCarbonConf: destinations', () => {
  it('parses destination strings like util.parseDestination, except where carbon builds nonsense', () => {
    // deliberate differences: no ':' (carbon turns '2004' into host '200'), an empty host or instance, a port outside 1-65535
    const stricter = new Set(['host:2004:', '2004', '[2004', ':2004', 'host:99999', 'host:0', '[]:2004']);
    expect(carbonView.destinationStrings.length).toBeGreaterThan(25);
    for (const [input, carbon] of carbonView.destinationStrings) {
      const ours = parseCarbonDestination(input);
      if (stricter.has(input)) {
        expect([input, typeof ours]).toEqual([input, 'string']);
        continue;
      }
      expect([input, typeof ours === 'string' ? null : [ours.host, ours.port, ours.instance]]).toEqual([input, carbon]);
    }
  });

  it('routes rules to DESTINATIONS by the exact (host, port, instance) and names the first spelling', () => {
    const { config, warnings, file } = readText(
      '[relay]\nDESTINATIONS = 127.0.0.1:2004, 127.0.0.1: 2004, 127.0.0.1:2004:a\n',
      '[x]\npattern = ^x\ndestinations = 127.0.0.1:02004:a, 127.0.0.1:2004\n[default]\ndefault = true\ndestinations = 127.0.0.1:2004\n',
    );
    expect(config.destinations?.map((d) => d.name)).toEqual(['127.0.0.1:2004', '127.0.0.1:2004:a']);
    expect(config.rules?.[0]).toStrictEqual({ name: 'x', pattern: '^x', continue: false, destinations: ['127.0.0.1:2004:a', '127.0.0.1:2004'] });
    expect(warnings).toEqual([`${file}:2: [relay] DESTINATIONS: 127.0.0.1:2004 is listed twice; carbon connects to it once`]);
  });

  it('rejects a rules destination that differs from DESTINATIONS only by instance, at its line', () => {
    const rules = '# rules\n[default]\ndefault = true\ndestinations = 127.0.0.1:2004,\n  127.0.0.1:2004:a\n';
    const file = writeConf('[relay]\nDESTINATIONS = 127.0.0.1:2004\n', rules);
    const rulesFile = path.join(path.dirname(file), 'relay-rules.conf');
    const err = failure(() => readCarbonConf({ carbonConf: file, hostname: HOSTNAME }));
    expect(err.where).toEqual({ file: rulesFile, line: 4, path: '[default] destinations' });
    expect(err.message).toContain(`${rulesFile}:4: [default] destinations: 127.0.0.1:2004:a is not in DESTINATIONS of ${file}`);
  });

  it('errors on bad DESTINATIONS at their line', () => {
    const err = failure(() => readText('[relay]\n\nDESTINATIONS = 127.0.0.1:2004, 2004\n'));
    expect(err.message).toMatch(/carbon\.conf:3: \[relay\] DESTINATIONS: "2004": expected host:port\[:instance\]$/);
    expect(err.code).toBe('CF_ERR_CONFIG_CARBON_CONF');
    expect(failure(() => readText('[relay]\nDESTINATIONS = 127.0.0.1:2004,\n')).message).toMatch(/carbon\.conf:2: \[relay\] DESTINATIONS: empty destination \(a stray comma\?\)$/);
    expect(failure(() => readText('[relay]\nLINE_RECEIVER_PORT = 2003\n'))).toMatchObject({
      message: expect.stringMatching(/carbon\.conf: DESTINATIONS: DESTINATIONS is not set$/),
      code: 'CF_ERR_CONFIG_NO_DESTINATIONS',
    });
    expect(failure(() => readText('[relay]\nDESTINATIONS =\n'))).toMatchObject({ message: expect.stringMatching(/carbon\.conf:2: \[relay\] DESTINATIONS: /), code: 'CF_ERR_CONFIG_CARBON_CONF' });
  });

  it('errors on DESTINATION_PROTOCOL = protobuf, naming it', () => {
    const { message, where, code } = failure(() => readText('[relay]\nDESTINATIONS = 127.0.0.1:2004\nDESTINATION_PROTOCOL = protobuf\n'));
    expect(where.line).toBe(3);
    expect(code).toBe('CF_ERR_CONFIG_CARBON_CONF');
    expect(message).toMatch(/carbon\.conf:3: \[relay\] DESTINATION_PROTOCOL: protobuf is not supported \(use pickle or line\)$/);
    expect(failure(() => readText('[relay]\nDESTINATIONS = 127.0.0.1:2004\nDESTINATION_PROTOCOL = udp\n')).message).toMatch(/:3: \[relay\] DESTINATION_PROTOCOL: must be pickle or line$/);
  });

  it('maps DESTINATION_TRANSPORT = ssl without a CA to TLS with the system CAs', () => {
    const { config } = readText('[relay]\nDESTINATIONS = 127.0.0.1:2004\nDESTINATION_TRANSPORT = ssl\n');
    expect(config.destinations?.[0].tls).toStrictEqual({});
    expect(carbonDestinations(configSchema.parse(config).destinations)[0].tls).toEqual({ rejectUnauthorized: true });
  });
});

describe('readCarbonConf: hashing methods', () => {
  it('fast-aggregated-hashing: fast ring, mmh3_ch by default, CONF_DIR/aggregation-rules.conf', () => {
    const { config, file } = readText('[relay]\nRELAY_METHOD = fast-aggregated-hashing\nDESTINATIONS = a:2004:1, b:2004:2\n', undefined);
    expect(config.groups).toStrictEqual([
      { name: 'carbon-ring', type: 'mmh3_ch', ring: 'fast', replication: 1, diverse: true, members: ['a:2004:1', 'b:2004:2'], memberOrder: 'listed', aggregationRules: path.join(path.dirname(file), 'aggregation-rules.conf') },
    ]);
    expect(config.rules).toStrictEqual([{ default: true, destinations: ['carbon-ring'] }]);
    configSchema.parse(config);
  });

  it('aggregated-consistent-hashing with --aggregation-rules and a CONF_DIR of its own', () => {
    const { config } = readText('[relay]\nCONF_DIR = /srv/carbon/conf\nRELAY_METHOD = aggregated-consistent-hashing\nDESTINATIONS = a:2004\nUSE_WHITELIST = on\n', undefined, {
      aggregationRules: '/tmp/agg.conf',
      blacklist: '/tmp/black.conf',
    });
    expect(config.groups?.[0]).toMatchObject({ type: 'carbon_ch', ring: 'consistent', aggregationRules: '/tmp/agg.conf' });
    expect(config.filters).toStrictEqual({ allowFile: '/srv/carbon/conf/whitelist.conf', blockFile: '/tmp/black.conf' });
  });

  it('falls back to carbon_ch for an unknown ROUTER_HASH_TYPE, with a warning, like carbonHash', () => {
    for (const hash of ['jump_fnv1a_ch', 'md5', 'FNV1A_CH']) {
      const { config, warnings, file } = readText(`[relay]\nRELAY_METHOD = fast-hashing\nDESTINATIONS = a:2004\nROUTER_HASH_TYPE = ${hash}\n`);
      expect(config.groups?.[0].type).toBe('carbon_ch');
      expect(warnings).toEqual([`${file}:4: [relay] ROUTER_HASH_TYPE: not carbon_ch, fnv1a_ch or mmh3_ch; carbon_ch (md5) is used, as carbon does`]);
    }
    // `ROUTER_HASH_TYPE or default`: an empty value is the method's default
    expect(readText('[relay]\nRELAY_METHOD = fast-hashing\nDESTINATIONS = a:2004\nROUTER_HASH_TYPE =\n').config.groups?.[0].type).toBe('mmh3_ch');
  });

  it('rejects two destinations with the same (host, instance), as ConsistentHashingRouter does', () => {
    const err = failure(() => readText('[relay]\nRELAY_METHOD = consistent-hashing\nDESTINATIONS = a:2004:x, a:2104:x\n'));
    expect(err.message).toMatch(/carbon\.conf:3: \[relay\] DESTINATIONS: a:2104:x: destination instance \(a, x\) already configured; with consistent-hashing the port does not tell destinations apart$/);
    // fine with rules
    expect(readText('[relay]\nDESTINATIONS = 127.0.0.1:2004, 127.0.0.1:2104\n').config.destinations).toHaveLength(2);
  });

  it('rejects an unknown RELAY_METHOD', () => {
    expect(failure(() => readText('[relay]\nDESTINATIONS = a:2004\nRELAY_METHOD = round-robin\n')).message).toMatch(
      /:3: \[relay\] RELAY_METHOD: must be one of rules, consistent-hashing, aggregated-consistent-hashing, fast-hashing, fast-aggregated-hashing$/,
    );
  });
});

describe('readCarbonConf: relay-rules.conf', () => {
  const conf = '[relay]\nDESTINATIONS = 127.0.0.1:2004\n';

  it('uses --rules and reads [DEFAULT] like carbon (inherited, and a rule of its own)', () => {
    const rulesFile = path.join(tmp, 'custom-rules.conf');
    fs.writeFileSync(rulesFile, '[DEFAULT]\ndestinations = 127.0.0.1:2004\npattern = ^all\\.\n[catch]\ndefault = false\npattern = ^x\n');
    const err = failure(() => readText(conf, undefined, { rules: rulesFile }));
    // [DEFAULT] is a pattern rule; [catch] inherits DEFAULT's pattern, so it has both
    expect(err.message).toBe(`${rulesFile}:5: [catch] default: section [catch] has both pattern and default; use one or the other`);
  });

  it('errors without exactly one default rule, or without destinations', () => {
    expect(failure(() => readText(conf, '[a]\npattern = x\ndestinations = 127.0.0.1:2004\n'))).toMatchObject({
      message: expect.stringMatching(/relay-rules\.conf: no default rule: exactly one section must have default = true$/),
      code: 'CF_ERR_CONFIG_DEFAULT_RULE',
    });
    expect(failure(() => readText(conf, `${DEFAULT_RULES}\n[again]\ndefault = yes\ndestinations = 127.0.0.1:2004\n`))).toMatchObject({
      message: expect.stringMatching(/relay-rules\.conf:6: \[again\] default: a second default rule \(the first is \[default\] at line 1\); exactly one section may have default = true$/),
      code: 'CF_ERR_CONFIG_DEFAULT_RULE',
    });
    expect(failure(() => readText(conf, `${DEFAULT_RULES}[nodest]\npattern = x\n`))).toMatchObject({
      message: expect.stringMatching(/relay-rules\.conf:4: section \[nodest\] has no destinations \(carbon requires them in every section\)$/),
      code: 'CF_ERR_CONFIG_CARBON_CONF',
    });
    expect(failure(() => readText(conf, `${DEFAULT_RULES}[off]\ndefault = false\n`)).message).toMatch(/relay-rules\.conf:4: section \[off\] has no destinations/);
    expect(failure(() => readText(conf, '[default]\ndefault = sure\ndestinations = 127.0.0.1:2004\n'))).toMatchObject({
      message: expect.stringMatching(/relay-rules\.conf:2: \[default\] default: not a boolean/),
      code: 'CF_ERR_CONFIG_CARBON_CONF',
    });
  });

  it('warns about sections carbon ignores', () => {
    const { config, warnings, file } = readText(conf, `${DEFAULT_RULES}[hidden] # note\npattern = ^x\ndestinations = 127.0.0.1:2004\n[inert]\ndestinations = 127.0.0.1:2004\n`);
    const rulesFile = path.join(path.dirname(file), 'relay-rules.conf');
    expect(config.rules).toStrictEqual([{ name: 'default', default: true, destinations: ['127.0.0.1:2004'] }]);
    expect(warnings).toEqual([
      `${rulesFile}:4: [hidden]: text after ']' on the header line hides this section from carbon, which ignores it; skipped too`,
      `${rulesFile}:7: [inert]: neither pattern nor default; carbon ignores this section, and so do we`,
    ]);
  });

  it("keeps an empty pattern matching everything, as re.compile('') does", () => {
    const { config } = readText(conf, `[all]\npattern =\ndestinations = 127.0.0.1:2004\n${DEFAULT_RULES}`);
    expect(config.rules?.[0]).toStrictEqual({ name: 'all', pattern: '(?:)', continue: false, destinations: ['127.0.0.1:2004'] });
    configSchema.parse(config);
  });

  it('reports a lone % in a rule at its line', () => {
    expect(failure(() => readText(conf, `[p]\npattern = ^100%\ndestinations = 127.0.0.1:2004\n${DEFAULT_RULES}`))).toMatchObject({
      message: expect.stringMatching(/relay-rules\.conf:2: \[p\] pattern: '%' must be followed by '%' or '\(' \(write %% for a literal '%'\)$/),
      code: 'CF_ERR_CONFIG_INI',
    });
  });
});

describe('readCarbonConf: settings', () => {
  it('warns about each setting that changes relay behaviour we do not implement, with file:line', () => {
    const { warnings, file } = readText(
      [
        '[relay]',
        'DESTINATIONS = 127.0.0.1:2004',
        'DESTINATION_POOL_REPLICAS = True',
        'DYNAMIC_ROUTER = True',
        'DYNAMIC_ROUTER_MAX_RETRIES = 3',
        'USE_RATIO_RESET = True',
        'MIN_RESET_RATIO = 0.5',
        'USE_FLOW_CONTROL = False',
        'QUEUE_LOW_WATERMARK_PCT = 0.5',
        'TIME_TO_DEFER_SENDING = 0.01',
        'METRIC_CLIENT_IDLE_TIMEOUT = 300',
        'PROTOBUF_RECEIVER_INTERFACE = 0.0.0.0',
        'PROTOBUF_RECEIVER_PORT = 2005',
        'USE_INSECURE_UNPICKLER = True',
        'ENABLE_AMQP = True',
        'ENABLE_MANHOLE = True',
        'DESTINATIONS_POOL_REPLICAS = True',
        'DESTINATION_TRANSPORT = SSL',
        'Bogus_Key = 1',
        // silent: process, cache-only and keepalive settings
        'USER = carbon',
        'PID_DIR = /run',
        'LOG_DIR = /var/log/carbon',
        'STORAGE_DIR = /var/lib/graphite',
        'LOCAL_DATA_DIR = /var/lib/graphite/whisper',
        'WHITELISTS_DIR = /var/lib/graphite/lists',
        'LOG_LISTENER_CONN_SUCCESS = False',
        'LOG_LISTENER_CONN_LOST = True',
        'TCP_KEEPALIVE = False',
        'TCP_KEEPIDLE = 5',
        'ENABLE_TAGS = False',
        'TAG_BATCH_SIZE = 10',
        'MAX_CACHE_SIZE = inf',
        'REPLICATION_FACTOR = 3',
        '',
      ].join('\n'),
    );
    const at = (line: number, key: string, what: string): string => `${file}:${line}: [relay] ${key}: ${what}`;
    expect(warnings).toEqual([
      at(18, 'DESTINATION_TRANSPORT', "only 'ssl' means TLS (carbon compares exactly); plain TCP is used"),
      at(3, 'DESTINATION_POOL_REPLICAS', 'not supported: destination pools are not supported; destinations that share host:port are separate destinations, each sent everything routed to it'),
      at(4, 'DYNAMIC_ROUTER', 'not supported: routing is static; a destination that is down keeps its share of metrics, queued until it reconnects'),
      at(6, 'USE_RATIO_RESET', 'not supported: connections are never reset for a low sent/received ratio (MIN_RESET_* are ignored)'),
      at(8, 'USE_FLOW_CONTROL', "not supported: flow control cannot be turned off; TCP receivers are paused while a destination's queue is above its highWaterMark"),
      at(9, 'QUEUE_LOW_WATERMARK_PCT', "not supported: ignored (carbon only logs with it); paused receivers resume when the destination's queue drops below its lowWaterMark"),
      at(10, 'TIME_TO_DEFER_SENDING', 'not supported: ignored; queued datapoints are sent on the next event-loop turn'),
      at(11, 'METRIC_CLIENT_IDLE_TIMEOUT', 'not supported: ignored; idle receiver connections are never closed'),
      at(13, 'PROTOBUF_RECEIVER_PORT', 'not supported: there is no protobuf receiver; this port is not opened'),
      at(14, 'USE_INSECURE_UNPICKLER', 'not supported: the pickle receiver never loads pickle globals, as with USE_INSECURE_UNPICKLER = False'),
      at(15, 'ENABLE_AMQP', 'not supported: no AMQP consumer is started'),
      at(16, 'ENABLE_MANHOLE', 'not supported: no manhole (SSH debug shell) is started'),
      at(17, 'DESTINATIONS_POOL_REPLICAS', 'not a carbon setting (carbon reads DESTINATION_POOL_REPLICAS; the example carbon.conf misspells it), so it has no effect'),
      at(19, 'Bogus_Key', 'unknown setting, ignored (carbon-relay 1.1.7 does not read it either)'),
    ]);
  });

  it('does not warn for unsupported settings left at carbon defaults, nor for [DEFAULT] interpolation variables', () => {
    const { warnings } = readText(
      '[DEFAULT]\nroot = /srv\n[relay]\nDESTINATIONS = 127.0.0.1:2004\nUSE_FLOW_CONTROL = yes\nDYNAMIC_ROUTER = 0\nQUEUE_LOW_WATERMARK_PCT = 0.8\nTIME_TO_DEFER_SENDING = 0.0001\nMETRIC_CLIENT_IDLE_TIMEOUT = None\nPROTOBUF_RECEIVER_PORT = 0\nLOG_DIR = %(root)s/log\n',
    );
    expect(warnings).toEqual([]);
  });

  it('reads only [relay] and [relay:<instance>]: [cache] errors and values do not matter', () => {
    const { config } = readText('[cache]\nBROKEN = 100%\nMAX_QUEUE_SIZE = 1\n[relay]\nDESTINATIONS = 127.0.0.1:2004\n[relay:a]\nMAX_QUEUE_SIZE = 42\n');
    expect(config.destinations?.[0].maxQueueSize).toBe(42);
  });

  it('reports values carbon cannot type, at their line', () => {
    expect(failure(() => readText('[relay]\nDESTINATIONS = 127.0.0.1:2004\nENABLE_UDP_LISTENER = maybe\n')).message).toMatch(/carbon\.conf:3: \[relay\] ENABLE_UDP_LISTENER: not a boolean \(use 1\/yes\/true\/on or 0\/no\/false\/off\)$/);
    expect(failure(() => readText('[relay]\nDESTINATIONS = 127.0.0.1:2004\nMAX_QUEUE_SIZE = 1.5\n'))).toMatchObject({
      message: expect.stringMatching(/:3: \[relay\] MAX_QUEUE_SIZE: must be a whole number$/),
      code: 'CF_ERR_CONFIG_CARBON_CONF',
    });
    expect(failure(() => readText('[relay]\nDESTINATIONS = 127.0.0.1:2004\nLINE_RECEIVER_PORT = twenty\n')).message).toMatch(/:3: \[relay\] LINE_RECEIVER_PORT: must be a number$/);
    expect(failure(() => readText('[relay]\nDESTINATIONS = 127.0.0.1:2004\nLINE_RECEIVER_INTERFACE = 127\n')).message).toMatch(/:3: \[relay\] LINE_RECEIVER_INTERFACE: must be an address$/);
    expect(failure(() => readText('[relay]\nDESTINATIONS = 127.0.0.1:2004\nBAD = 50%\n'))).toMatchObject({
      message: expect.stringMatching(/carbon\.conf:3: \[relay\] BAD: '%' must be followed by/),
      code: 'CF_ERR_CONFIG_INI',
    });
  });

  it("reports the schema's objections at the carbon.conf line they come from", () => {
    const err = failure(() => readText('[relay]\nDESTINATIONS = 127.0.0.1:2004\nMAX_DATAPOINTS_PER_MESSAGE = 200000\nPICKLE_RECEIVER_PORT = 70000\n'));
    expect(err.code).toBe('CF_ERR_CONFIG_SCHEMA');
    expect(err.message.split('\n')).toEqual([
      expect.stringMatching(/carbon\.conf:4: \[relay\] PICKLE_RECEIVER_PORT: Too big: expected number to be <=65535 \(listen\.pickle\.tcp\.port\)$/),
      expect.stringMatching(/carbon\.conf:3: \[relay\] MAX_DATAPOINTS_PER_MESSAGE: Too big: expected number to be <=100000 \(destinations\.0\.maxDatapointsPerMessage\)$/),
    ]);
  });

  it('maps listener edge cases: port 0, empty interface, infinite pickle length, finite MAX_RECEIVER_CONNECTIONS', () => {
    const { config } = readText(
      '[relay]\nDESTINATIONS = 127.0.0.1:2004\nLINE_RECEIVER_INTERFACE =\nPICKLE_RECEIVER_PORT = 0\nPICKLE_RECEIVER_MAX_LENGTH = inf\nMAX_RECEIVER_CONNECTIONS = 1e3\nENABLE_UDP_LISTENER = 1\nUDP_RECEIVER_PORT = 0\n',
    );
    expect(config.listen).toStrictEqual({ line: { tcp: { host: '0.0.0.0', port: 2003, timestampOptional: false } }, maxConnections: 1000 });
    const pickle = readText('[relay]\nDESTINATIONS = 127.0.0.1:2004\nPICKLE_RECEIVER_MAX_LENGTH = inf\n').config.listen?.pickle;
    expect(pickle).toStrictEqual({ tcp: { host: '0.0.0.0', port: 2004 }, maxFrameLength: 4294967295 });
  });

  it('disables self-metrics for CARBON_METRIC_INTERVAL <= 0 and keeps fractions', () => {
    expect(readText('[relay]\nDESTINATIONS = 127.0.0.1:2004\nCARBON_METRIC_INTERVAL = -5\n').config.selfMetrics?.interval).toBe(0);
    expect(readText('[relay]\nDESTINATIONS = 127.0.0.1:2004\nCARBON_METRIC_INTERVAL = 0.5\n').config.selfMetrics?.interval).toBe(0.5);
  });

  it('uses the instance and the hostname in the self-metric prefix', () => {
    const { config } = readText('[relay]\nDESTINATIONS = 127.0.0.1:2004\nCARBON_METRIC_PREFIX = 007\n', undefined, { instance: 'x', hostname: 'a.b.c' });
    expect(config.selfMetrics?.prefix).toBe('7.relays.a_b_c-x');
  });

  it('errors when there is no [relay] section', () => {
    const file = writeConf('[cache]\nDESTINATIONS = 127.0.0.1:2004\n', DEFAULT_RULES);
    expect(failure(() => readCarbonConf({ carbonConf: file }))).toMatchObject({ message: `${file}: no [relay] or [relay:a] section`, code: 'CF_ERR_CONFIG_CARBON_CONF' });
    expect(failure(() => readCarbonConf({ carbonConf: file, instance: '' })).message).toBe(`${file}: no [relay] section`);
    // [relay:a] alone is enough
    const alone = writeConf('[relay:a]\nDESTINATIONS = 127.0.0.1:2004\n', DEFAULT_RULES);
    expect(readCarbonConf({ carbonConf: alone, hostname: HOSTNAME }).config.destinations).toHaveLength(1);
  });
});

describe('Python number helpers', () => {
  it('parsePyInt is int(str)', () => {
    expect(parsePyInt(' 2004 ')).toEqual({ value: 2004, text: '2004' });
    expect(parsePyInt('+0_7')).toEqual({ value: 7, text: '7' });
    expect(parsePyInt('-00')).toEqual({ value: 0, text: '0' });
    expect(parsePyInt('\u0662\u0660\u0660\u0664')).toEqual({ value: 2004, text: '2004' });
    for (const bad of ['', '1.0', '1e3', '_1', '1_', '1__0', '0x10', 'inf', '1 2', '1'.repeat(4301)]) expect(parsePyInt(bad)).toBeUndefined();
  });

  it('pyFloatRepr is repr(float)', () => {
    const cases: [number, string][] = [
      [1e3, '1000.0'], [1e16, '1e+16'], [1.5e16, '1.5e+16'], [1e-5, '1e-05'], [0.0001, '0.0001'], [123.456, '123.456'],
      [1e22, '1e+22'], [-2.5e-7, '-2.5e-07'], [0.1 + 0.2, '0.30000000000000004'], [5e-324, '5e-324'],
      [1.7976931348623157e308, '1.7976931348623157e+308'], [100, '100.0'], [12345678901234567, '1.2345678901234568e+16'],
      [-0, '-0.0'], [Infinity, 'inf'], [NaN, 'nan'],
    ];
    for (const [x, repr] of cases) expect([x, pyFloatRepr(x)]).toEqual([x, repr]);
  });
});

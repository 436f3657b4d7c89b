import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../../src/config/config-error';
import { loadConfig } from '../../src/config/load';
import { RuleSet } from '../../src/routing/rule-set';
import { configFrom, tempDir, tempDirsRemovedAfterAll } from '../helpers/relay';
import { carbonDestinations } from '../helpers/destinations';
import { spoolMode } from '../../src/config/destinations';
import { makeClientCert, makeTestCa } from '../helpers/certs';

const newDir = tempDirsRemovedAfterAll();

/** Write YAML text (line numbers as written) into a fresh temp dir; returns the file's path. */
function yamlFile(text: string, name = 'relay.yaml', dir = newDir()): string {
  const file = path.join(dir, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}

/** The ConfigError loading `file` throws (fails the test if it loads or throws anything else). */
function configError(file: string, env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    loadConfig(file, env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error(`${file} loaded`);
}

const load = (obj: unknown, env: NodeJS.ProcessEnv = {}): ReturnType<typeof loadConfig> => configFrom(obj, env, newDir());
const DEST = { name: 'a', host: '127.0.0.1', port: 2004 };
const DEFAULT_RULE = { default: true, destinations: ['a'] };

describe('defaults', () => {
  it('fills every default for a minimal config', () => {
    const dir = newDir();
    const cfg = configFrom({ destinations: [DEST], rules: [DEFAULT_RULE] }, {}, dir);
    expect(cfg.file).toBe(path.join(dir, 'relay.yaml'));
    expect(cfg.logLevel).toBe('info');
    expect(cfg.shutdownTimeoutMs).toBe(10_000);
    expect(cfg.routeCacheSize).toBe(100_000);
    expect(cfg.selfMetrics).toEqual({ intervalMs: 60_000, prefix: undefined });
    expect(cfg.listen).toEqual({
      maxConnections: 1024,
      maxConnectionsPerClient: 64,
      idleTimeout: 180_000,
      proxyProtocol: false,
      maxConnectionAge: 0,
      maxNameLength: 4096,
      strict: { allowedCharacters: 'A-Za-z0-9_.-', maxLength: 1024 },
    });
    expect(cfg.rewrites).toEqual([]);
    expect(cfg.groups).toEqual([]);
    expect(cfg.filters).toBeUndefined();
    expect(cfg.normalizeTags).toBe(false);
    expect(cfg.minTimestampResolution).toBe(0);
    expect(cfg.destinations).toEqual([
      {
        type: 'carbon',
        name: 'a',
        host: '127.0.0.1',
        port: 2004,
        protocol: 'pickle',
        apiKeyMode: 'prefixIfMissing',
        maxFrameBytes: 1_000_000,
        maxLineBytes: 16_384,
        tls: false,
        maxQueueSize: 100_000,
        maxDatapointsPerMessage: 500,
        flushMaxWait: 50,
        highWaterMark: 0.5,
        lowWaterMark: 0.25,
        stallTimeout: 30_000,
        connectTimeout: 10_000,
        reconnect: { initialDelay: 200, maxDelay: 5000 },
        spool: { maxAge: 0, maxBytes: 1024 ** 3, minFreeBytes: 512 * 1024 ** 2, replayRate: 50_000, segmentBytes: 64 * 1024 ** 2, syncInterval: 1000, whenFull: 'drop_oldest' },
      },
    ]);
    expect(cfg.dataDir).toBeUndefined();
    expect(cfg.rules.rules).toEqual([]);
    expect(cfg.rules.defaultTargets).toEqual(['a']);
    // frozen all the way down: no component can change what another one sees
    expect(Object.isFrozen(cfg)).toBe(true);
    expect(Object.isFrozen(cfg.destinations)).toBe(true);
    expect(Object.isFrozen(cfg.destinations[0].reconnect)).toBe(true);
    expect(Object.isFrozen(cfg.rules.rules)).toBe(true);
  });

  it('proxyProtocol and maxConnectionAge take a boolean and a duration', () => {
    const cfg = load({ listen: { proxyProtocol: true, maxConnectionAge: '10m', line: { tcp: { port: 2003 } } }, destinations: [DEST], rules: [DEFAULT_RULE] });
    expect([cfg.listen.proxyProtocol, cfg.listen.maxConnectionAge]).toEqual([true, 600_000]);
    expect(() => load({ listen: { proxyProtocol: 'v2' }, destinations: [DEST], rules: [DEFAULT_RULE] })).toThrow(/listen\.proxyProtocol/);
  });

  it('fills listener defaults', () => {
    const cfg = load({ listen: { line: { tcp: { port: 2003 }, udp: { port: 2003 } }, pickle: { tcp: { port: 2004 } } }, destinations: [DEST], rules: [DEFAULT_RULE] });
    expect(cfg.listen).toEqual({
      maxConnections: 1024,
      maxConnectionsPerClient: 64,
      idleTimeout: 180_000,
      proxyProtocol: false,
      maxConnectionAge: 0,
      maxNameLength: 4096,
      strict: { allowedCharacters: 'A-Za-z0-9_.-', maxLength: 1024 },
      line: { tcp: { host: '0.0.0.0', port: 2003, timestampOptional: true }, udp: { host: '0.0.0.0', port: 2003, timestampOptional: true }, maxLineLength: 16_384, validation: 'carbon' },
      pickle: { tcp: { host: '0.0.0.0', port: 2004 }, maxFrameLength: 1_048_576, validation: 'carbon' },
    });
  });

  it.each<[unknown, number]>([
    [1.5, 1500],
    [0, 0],
    ['250ms', 250],
    ['10s', 10_000],
    ['2.5s', 2500],
    ['2m', 120_000],
  ])('duration %j is %i ms', (value, ms) => {
    expect(load({ shutdownTimeout: value, destinations: [DEST], rules: [DEFAULT_RULE] }).shutdownTimeoutMs).toBe(ms);
  });

  it('rules: ignoreCase defaults to true and continue to false; unnamed rules are numbered', () => {
    const cfg = load({ destinations: [DEST], rules: [{ pattern: '^a', destinations: ['a'] }, DEFAULT_RULE, { name: 'named', pattern: 'b', ignoreCase: false, continue: true, destinations: [] }] });
    expect(cfg.rules.rules.map((r) => [r.name, r.pattern.source, r.pattern.flags, r.continue, r.targets])).toEqual([
      ['rule 1', '^a', 'iu', false, ['a']],
      ['named', 'b', 'u', true, []],
    ]);
  });
});

describe('${ENV} substitution', () => {
  const withKey = (apiKey: string, host = '127.0.0.1'): unknown => ({ destinations: [{ ...DEST, host, apiKey }], rules: [DEFAULT_RULE] });

  it.each<[string, NodeJS.ProcessEnv, string]>([
    ['${HG_KEY}', { HG_KEY: 'k-123' }, 'k-123'],
    ['${HG_KEY:-fallback}', { HG_KEY: 'k-123' }, 'k-123'],
    ['${HG_KEY:-fallback}', {}, 'fallback'],
    ['${HG_KEY:-fallback}', { HG_KEY: '' }, 'fallback'],
    ['${HG_KEY:-}x', {}, 'x'],
    ['pre-${A}-${B:-b}-post', { A: 'a' }, 'pre-a-b-post'],
    ['${A}${A}', { A: 'z' }, 'zz'],
    // substituted after parsing: the value is never parsed as YAML, and never substituted again
    ['${A}', { A: 'x: y\n- z # not a comment' }, 'x: y\n- z # not a comment'],
    ['${A}', { A: '${B}' }, '${B}'],
    // not references
    ['$HG_KEY', { HG_KEY: 'k' }, '$HG_KEY'],
    ['${1BAD}', {}, '${1BAD}'],
  ])('%s with %j -> %j', (text, env, expected) => {
    expect(load(withKey(text), env).destinations[0].apiKey).toBe(expected);
  });

  it('applies to every string value, including nested ones and rule patterns', () => {
    const cfg = load(
      { logLevel: '${LEVEL}', destinations: [{ ...DEST, host: '${HOST:-localhost}', tls: { servername: '${SNI}' } }], rules: [{ pattern: '^${PREFIX}\\.', destinations: ['a'] }, DEFAULT_RULE] },
      { LEVEL: 'debug', SNI: 'carbon.example.com', PREFIX: 'servers' },
    );
    expect(cfg.logLevel).toBe('debug');
    expect(carbonDestinations(cfg.destinations)[0].host).toBe('localhost');
    expect(carbonDestinations(cfg.destinations)[0].tls).toEqual({ servername: 'carbon.example.com', rejectUnauthorized: true });
    expect(cfg.rules.rules[0].pattern.source).toBe('^servers\\.');
  });

  it('a missing variable is an error naming file, line and variable, never the value of other secrets', () => {
    const file = yamlFile(
      [
        'destinations:', // 1
        '  - name: local', // 2
        '    host: ${CARBON_HOST}', // 3
        '    port: 2004', // 4
        '  - name: hg', // 5
        '    host: carbon.hostedgraphite.com', // 6
        '    port: 2003', // 7
        '    apiKey: ${HG_API_KEY}', // 8
        'rules:', // 9
        '  - default: true', // 10
        '    destinations: [local, hg]', // 11
        '',
      ].join('\n'),
    );
    const err = configError(file, { CARBON_HOST: 'db-secret-host-7781', OTHER_TOKEN: 'tok-55aa' });
    expect(err.message).toMatch(new RegExp(`^${escape(file)}:8: destinations(\\.1)?\\.apiKey: environment variable HG_API_KEY is not set$`));
    expect(err.where).toMatchObject({ file, line: 8 });
    expect(err.code).toBe('CF_ERR_CONFIG_ENV');
    expect(err.message).not.toContain('db-secret-host-7781');
    expect(err.message).not.toContain('tok-55aa');
  });

  it('an empty variable without a default counts as missing', () => {
    const file = yamlFile('destinations:\n  - name: a\n    host: ${H}\n    port: 2004\nrules:\n  - {default: true, destinations: [a]}\n');
    const err = configError(file, { H: '' });
    expect(err.message).toMatch(new RegExp(`^${escape(file)}:3: destinations(\\.0)?\\.host: environment variable H is not set$`));
    expect(err.where).toMatchObject({ file, line: 3 });
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('errors name the file, the line and the key path', () => {
  it('an unknown key (reported at the object that holds it)', () => {
    const file = yamlFile('destinations:\n  - name: a\n    host: h\n    port: 2004\n    protocl: line\nrules:\n  - {default: true, destinations: [a]}\n');
    expect(configError(file)).toMatchObject({ message: `${file}:2: destinations.0: Unrecognized key: "protocl" (protocl)`, code: 'CF_ERR_CONFIG_SCHEMA' });
  });

  it('an unknown top-level key', () => {
    const file = yamlFile('destinations: []\ndestinatons: []\nrules: []\n');
    expect(configError(file).message).toBe(`${file}:1: Unrecognized key: "destinatons" (destinatons)`);
  });

  it('every schema problem is listed, each on its own line', () => {
    const file = yamlFile('logLevel: loud\ndestinations:\n  - name: a\n    host: h\n    port: "2004"\n    maxQueueSize: -1\nrules:\n  - {default: true, destinations: [a]}\n');
    expect(configError(file).message.split('\n')).toEqual([
      `${file}:1: logLevel: Invalid option: expected one of "error"|"warn"|"info"|"debug"`,
      `${file}:5: destinations.0.port: Invalid input: expected number, received string`,
      `${file}:6: destinations.0.maxQueueSize: Too small: expected number to be >0`,
    ]);
  });

  it('an unknown destination in a rule', () => {
    const file = yamlFile(
      ['destinations:', '  - {name: a, host: h, port: 2004}', '  - {name: b, host: h, port: 2104}', 'rules:', '  - pattern: ^x', '    destinations: [a]', '  - pattern: ^y', '    destinations:', '      - b', '      - nope', '  - {default: true, destinations: [a]}', ''].join('\n'),
    );
    const err = configError(file);
    expect(err.message).toBe(`${file}:10: rules.1.destinations.1: unknown destination or group "nope" (known: a, b)`);
    expect(err.where).toEqual({ file, line: 10, path: 'rules.1.destinations.1' });
    expect(err.code).toBe('CF_ERR_CONFIG_UNKNOWN_DESTINATION');
  });

  it('two default rules', () => {
    const file = yamlFile(['destinations:', '  - {name: a, host: h, port: 2004}', 'rules:', '  - default: true', '    destinations: [a]', '  - pattern: x', '    destinations: [a]', '  - default: true', '    destinations: [a]', ''].join('\n'));
    const err = configError(file);
    expect(err.message).toBe(`${file}:8: rules.2.default: a second default rule (the first is at line 4)`);
    expect(err.where).toEqual({ file, line: 8, path: 'rules.2.default' });
    expect(err.code).toBe('CF_ERR_CONFIG_DEFAULT_RULE');
  });

  it('no default rule', () => {
    const file = yamlFile(['destinations:', '  - {name: a, host: h, port: 2004}', 'rules:', '  - pattern: x', '    destinations: [a]', ''].join('\n'));
    expect(configError(file)).toMatchObject({ message: `${file}:4: rules: exactly one rule must have \`default: true\``, code: 'CF_ERR_CONFIG_DEFAULT_RULE' });
  });

  it('no rules at all', () => {
    const file = yamlFile('destinations:\n  - {name: a, host: h, port: 2004}\n');
    expect(configError(file)).toMatchObject({ message: `${file}: no rules configured (add at least \`- {default: true, destinations: [...]}\`)`, code: 'CF_ERR_CONFIG_NO_RULES' });
  });

  it('no destinations', () => {
    const file = yamlFile('rules:\n  - {default: true, destinations: []}\n');
    expect(configError(file)).toMatchObject({ message: `${file}: no destinations configured`, code: 'CF_ERR_CONFIG_NO_DESTINATIONS' });
  });

  it('an invalid regular expression', () => {
    const file = yamlFile(['destinations:', '  - {name: a, host: h, port: 2004}', 'rules:', '  - {default: true, destinations: [a]}', '  - pattern: "^servers.(web"', '    destinations: [a]', ''].join('\n'));
    const err = configError(file);
    expect(err.message).toBe(`${file}:5: rules.1.pattern: invalid regular expression: Invalid regular expression: /^servers.(web/i: Unterminated group`);
    expect(err.where).toEqual({ file, line: 5, path: 'rules.1.pattern' });
    expect(err.code).toBe('CF_ERR_CONFIG_REGEX');
  });

  it('duplicate destination names', () => {
    const file = yamlFile(['destinations:', '  - name: a', '    host: h', '    port: 2004', '  - name: a', '    host: h2', '    port: 2004', 'rules:', '  - {default: true, destinations: [a]}', ''].join('\n'));
    const err = configError(file);
    expect(err.message).toBe(`${file}:5: destinations.1.name: duplicate destination name "a"`);
    expect(err.where).toEqual({ file, line: 5, path: 'destinations.1.name' });
    expect(err.code).toBe('CF_ERR_CONFIG_DUPLICATE_NAME');
  });

  it('a YAML syntax error', () => {
    const file = yamlFile('destinations:\n  - name: a\n    name: b\n');
    expect(configError(file)).toMatchObject({ message: `${file}:3: Map keys must be unique at line 3, column 5:`, code: 'CF_ERR_CONFIG_YAML' });
  });

  it('a missing file', () => {
    const file = path.join(newDir(), 'absent.yaml');
    expect(configError(file)).toMatchObject({ message: `${file}: cannot read file: ENOENT: no such file or directory, open '${file}'`, code: 'CF_ERR_CONFIG_READ' });
  });
});

describe('rulesFile', () => {
  function setup(rulesText: string, mainExtra = ''): { dir: string; file: string } {
    const dir = newDir();
    yamlFile(rulesText, 'conf/rules.yaml', dir);
    const file = yamlFile(['destinations:', '  - name: local', '    file: out/local.txt', 'rulesFile: conf/rules.yaml', mainExtra, ''].join('\n'), 'relay.yaml', dir);
    return { dir, file };
  }

  it('is read relative to the config file; its destinations resolve paths relative to itself', () => {
    const { dir, file } = setup(
      ['destinations:', '  - name: extra', '    file: extra.txt', '  - name: hg', '    host: carbon.example', '    port: 2003', 'rules:', '  - pattern: ^x\\.', '    destinations: [extra, hg]', '  - {default: true, destinations: [local]}', ''].join('\n'),
    );
    const cfg = loadConfig(file, {});
    expect(cfg.destinations.map((d) => [d.name, d.type === 'file' ? d.file : undefined, d.type === 'carbon' ? d.host : undefined])).toEqual([
      ['local', path.join(dir, 'out', 'local.txt'), undefined],
      ['extra', path.join(dir, 'conf', 'extra.txt'), undefined],
      ['hg', undefined, 'carbon.example'],
    ]);
    const rules = new RuleSet(cfg.rules.rules, cfg.rules.defaultTargets);
    expect(rules.match('x.y')).toEqual(['extra', 'hg']);
    expect(rules.match('X.y')).toEqual(['extra', 'hg']);
    expect(rules.match('z')).toEqual(['local']);
  });

  it('errors in it name the rules file and its line', () => {
    const { dir } = setup(['rules:', '  - pattern: ^x', '    destinations: [nope]', '  - {default: true, destinations: [local]}', ''].join('\n'));
    const err = configError(path.join(dir, 'relay.yaml'));
    expect(err.message).toBe(`${path.join(dir, 'conf', 'rules.yaml')}:3: rules.0.destinations.0: unknown destination or group "nope" (known: local)`);
  });

  it('a destination name used in both files is a duplicate, reported in the rules file', () => {
    const { dir } = setup(['destinations:', '  - name: local', '    file: again.txt', 'rules:', '  - {default: true, destinations: [local]}', ''].join('\n'));
    expect(configError(path.join(dir, 'relay.yaml')).message).toBe(`${path.join(dir, 'conf', 'rules.yaml')}:2: destinations.0.name: duplicate destination name "local"`);
  });

  it('cannot be combined with rules', () => {
    const { file } = setup('rules:\n  - {default: true, destinations: [local]}\n', 'rules:\n  - {default: true, destinations: [local]}');
    expect(configError(file)).toMatchObject({ message: `${file}:4: rulesFile: set either rules or rulesFile, not both`, code: 'CF_ERR_CONFIG_SCHEMA' });
  });

  it('a missing rules file is reported with its resolved path', () => {
    const dir = newDir();
    const file = yamlFile('destinations:\n  - {name: a, host: h, port: 2004}\nrulesFile: missing.yaml\n', 'relay.yaml', dir);
    expect(configError(file).message).toMatch(new RegExp(`^${escape(path.join(dir, 'missing.yaml'))}: cannot read file: ENOENT`));
  });
});

describe('Python regex syntax', () => {
  it('(?P<name>...) and (?P=name) are accepted and translated', () => {
    const cfg = load({ destinations: [DEST], rules: [{ pattern: '^(?P<env>prod|dev)\\.(?P=env)\\.', destinations: ['a'] }, DEFAULT_RULE] });
    const re = cfg.rules.rules[0].pattern;
    expect(re.source).toBe('^(?<env>prod|dev)\\.\\k<env>\\.');
    expect(re.exec('PROD.prod.x')?.groups).toEqual({ env: 'PROD' });
    expect(re.test('prod.dev.x')).toBe(false);
  });
});

describe('secrets never appear in error messages', () => {
  const SECRET = 'SECRET-KEY-5f2d9c';
  const dest = (extra: string): string => ['destinations:', '  - name: hg', '    host: carbon.example', '    port: 2003', `    apiKey: ${SECRET}`, extra, 'rules:', '  - {default: true, destinations: [hg]}', ''].join('\n');

  it.each<[string, string, NodeJS.ProcessEnv?]>([
    ['unknown key next to the key', dest('    protocl: line')],
    ['wrong type next to the key', dest('    maxQueueSize: lots')],
    ['invalid enum next to the key', dest('    protocol: udp')],
    ['bad duration next to the key', dest('    connectTimeout: soon')],
    ['apiKey given twice', dest(`    apiKey: ${SECRET}2`)],
    ['bad indentation after the key', dest('   oops: 1')],
    ['tab indentation after the key', dest('\toops: 1')],
    ['the key followed by a stray line', dest(`    ${SECRET}`)],
    ['the key as a nested mapping', dest('').replace(`apiKey: ${SECRET}`, `apiKey: ${SECRET}: x`)],
    ['the key unterminated in quotes', dest('').replace(`apiKey: ${SECRET}`, `apiKey: "${SECRET}`)],
    ['the key with a bad escape', dest('').replace(`apiKey: ${SECRET}`, `apiKey: "${SECRET}\\q"`)],
    ['the key in a list', dest('').replace(`apiKey: ${SECRET}`, `apiKey: [${SECRET}]`)],
    ['unknown destination in a rule', dest('').replace('destinations: [hg]', 'destinations: [hg, other]')],
    ['duplicate destination', dest('  - {name: hg, host: h, port: 1}')],
    ['two default rules', `${dest('')}  - {default: true, destinations: [hg]}\n`],
    ['invalid regex', `${dest('')}  - {pattern: "(", destinations: [hg]}\n`],
    ['a missing variable elsewhere', dest('').replace('carbon.example', '${CARBON_HOST}')],
    ['a missing variable, key from env', dest('').replace(SECRET, '${HG_KEY}').replace('carbon.example', '${CARBON_HOST}'), { HG_KEY: SECRET }],
    ['a schema error, key from env', dest('    port2: 1').replace(SECRET, '${HG_KEY}'), { HG_KEY: SECRET }],
  ])('%s', (_label, text, env = {}) => {
    const err = configError(yamlFile(text), env);
    expect(err.message.length).toBeGreaterThan(0);
    expect(err.message).not.toContain(SECRET);
    expect(err.message).not.toContain('5f2d9c');
  });
});

test('an unresolved YAML alias is a ConfigError with file and line, not echoing the text', () => {
  const file = path.join(tempDir(), 'relay.yaml');
  fs.writeFileSync(file, 'destinations:\n  - name: hg\n    host: h\n    port: 2003\n    apiKey: *SECRET-KEY-5f2d\nrules:\n  - {default: true, destinations: [hg]}\n');
  let err: unknown;
  try { loadConfig(file, {}); } catch (e) { err = e; }
  expect(err).toBeInstanceOf(ConfigError);
  expect((err as ConfigError).where).toMatchObject({ file, line: 5 });
  expect((err as ConfigError).code).toBe('CF_ERR_CONFIG_YAML');
  expect((err as Error).message).not.toContain('SECRET-KEY-5f2d');
});

describe('destination types and the spool', () => {
  it('a destination without type is file when it has file:, else carbon', () => {
    const cfg = load({ destinations: [DEST, { name: 'f', file: 'out.txt' }], rules: [DEFAULT_RULE] });
    expect(cfg.destinations.map((d) => d.type)).toEqual(['carbon', 'file']);
  });

  it('each type takes only its own keys', () => {
    expect(() => load({ destinations: [{ name: 'f', type: 'file', file: 'x', host: 'h' }], rules: [DEFAULT_RULE] })).toThrow(/host/);
    expect(() => load({ destinations: [{ name: 'c', type: 'carbon', host: 'h', port: 1, file: 'x' }], rules: [DEFAULT_RULE] })).toThrow(/file/);
    expect(() => load({ destinations: [{ name: 'k', type: 'kafka' }], rules: [DEFAULT_RULE] })).toThrow(/brokers: .*\n.*topic: /);
    expect(() => load({ destinations: [{ name: 'k', type: 'kafka', brokers: ['b:9092'], topic: 't', host: 'h' }], rules: [DEFAULT_RULE] })).toThrow(/host/);
    expect(() => load({ destinations: [{ name: 'x', type: 'nats' }], rules: [DEFAULT_RULE] })).toThrow(/type/);
  });

  it('kafka: defaults, a topic name Kafka accepts, and no librdkafka property the relay sets for its guarantees', () => {
    const k = { name: 'k', type: 'kafka', brokers: ['b1:9092', 'b2:9092'], topic: 'carbon.metrics' };
    const cfg = load({ destinations: [k], rules: [{ default: true, destinations: ['k'] }] });
    expect(cfg.destinations[0]).toMatchObject({ format: 'line', partitioner: 'murmur2_random', compression: 'lz4', linger: 5, maxMessageBytes: 1_000_000, tls: false });
    expect(() => load({ destinations: [{ ...k, topic: 'has space' }], rules: [{ default: true, destinations: ['k'] }] })).toThrow(/topic: Kafka topic names/);
    expect(() => load({ destinations: [{ ...k, brokers: ['nohost'] }], rules: [{ default: true, destinations: ['k'] }] })).toThrow(/brokers\.0: host:port/);
    for (const fixed of ['acks', 'enable.idempotence', 'message.timeout.ms', 'partitioner'])
      expect(() => load({ destinations: [{ ...k, librdkafka: { [fixed]: 1 } }], rules: [{ default: true, destinations: ['k'] }] })).toThrow(/set by the relay/);
    expect(load({ destinations: [{ ...k, librdkafka: { 'socket.keepalive.enable': true } }], rules: [{ default: true, destinations: ['k'] }] }).destinations[0]).toMatchObject({
      librdkafka: { 'socket.keepalive.enable': true },
    });
    // a hash group's members are carbon hosts; a failover group may hold a Kafka destination
    const c = { name: 'c', host: 'h', port: 2004 };
    expect(() => load({ destinations: [k, c], groups: [{ name: 'g', members: ['k', 'c'] }], rules: [{ default: true, destinations: ['g'] }] })).toThrow(/"k" is not a carbon destination/);
    expect(load({ destinations: [k, c], groups: [{ name: 'g', type: 'failover', members: ['k', 'c'] }], rules: [{ default: true, destinations: ['g'] }] }).groups[0]).toMatchObject({ type: 'failover' });
  });

  it('maxRate: unset by default (no limit), a positive number of datapoints per second on any type', () => {
    const cfg = load({ destinations: [DEST, { ...DEST, name: 'b', maxRate: 2500 }, { name: 'f', file: 'out.txt', maxRate: 0.5 }], rules: [DEFAULT_RULE] });
    expect(cfg.destinations.map((d) => d.maxRate)).toEqual([undefined, 2500, 0.5]);
    expect(() => load({ destinations: [{ ...DEST, maxRate: 0 }], rules: [DEFAULT_RULE] })).toThrow(/destinations\.0\.maxRate: Too small: expected number to be >0/);
  });

  it('dataDir is resolved against the config file; sizes and durations take units', () => {
    const cfg = load({ dataDir: 'state', destinations: [{ ...DEST, spool: { maxBytes: '2GiB', segmentBytes: '512KiB', maxAge: '7d', syncInterval: '250ms' } }], rules: [DEFAULT_RULE] });
    expect(path.isAbsolute(cfg.dataDir ?? '')).toBe(true);
    expect(path.basename(cfg.dataDir ?? '')).toBe('state');
    const d = carbonDestinations(cfg.destinations)[0];
    expect(d.spool).toMatchObject({ maxBytes: 2 * 1024 ** 3, segmentBytes: 512 * 1024, maxAge: 7 * 86_400_000, syncInterval: 250 });
  });

  it('durations take hours and days as well as ms, s and m; other units are refused with the accepted ones named', () => {
    const cfg = load({ destinations: [DEST], rules: [DEFAULT_RULE], selfMetrics: { interval: '6h' }, shutdownTimeout: '1.5m', http: { feed: { eventTtl: '1d' } } });
    expect([cfg.selfMetrics.intervalMs, cfg.shutdownTimeoutMs, cfg.http.feed.eventTtl]).toEqual([6 * 3_600_000, 90_000, 86_400_000]);
    expect(() => load({ destinations: [DEST], rules: [DEFAULT_RULE], shutdownTimeout: '2w' })).toThrow(/shutdownTimeout: expected a duration like 250ms, 10s, 2m, 6h or 7d/);
  });

  it('flushMaxWait takes a duration up to 5s; a plain 50 (50 seconds) is refused with the unit to write', () => {
    expect(carbonDestinations(load({ destinations: [{ ...DEST, flushMaxWait: '5ms' }], rules: [DEFAULT_RULE] }).destinations)[0].flushMaxWait).toBe(5);
    expect(carbonDestinations(load({ destinations: [{ ...DEST, flushMaxWait: 0 }], rules: [DEFAULT_RULE] }).destinations)[0].flushMaxWait).toBe(0);
    expect(() => load({ destinations: [{ ...DEST, flushMaxWait: 50 }], rules: [DEFAULT_RULE] })).toThrow(/destinations\.0\.flushMaxWait: at most 5s \(a plain number is seconds: write 50ms\)/);
  });

  it('spool mode: overflow by default with a data directory, off without; on without dataDir is an error naming the key', () => {
    const withDir = load({ dataDir: 'state', destinations: [DEST], rules: [DEFAULT_RULE] });
    expect(spoolMode(carbonDestinations(withDir.destinations)[0], withDir.dataDir)).toBe('overflow');
    const without = load({ destinations: [DEST], rules: [DEFAULT_RULE] });
    expect(spoolMode(carbonDestinations(without.destinations)[0], without.dataDir)).toBe('off');
    let err: unknown;
    try {
      load({ destinations: [{ ...DEST, spool: { mode: 'always' } }], rules: [DEFAULT_RULE] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('CF_ERR_CONFIG_SCHEMA');
    expect((err as ConfigError).message).toMatch(/destinations\.0\.spool\.mode: spool mode always needs dataDir/);
  });
});

describe('failover and any_of groups', () => {
  const two = [DEST, { ...DEST, name: 'b', host: '127.0.0.2' }];

  it('take only members; hash-only keys are refused', () => {
    const cfg = load({ destinations: two, groups: [{ name: 'ha', type: 'failover', members: ['a', 'b'] }], rules: [{ default: true, destinations: ['ha'] }] });
    expect(cfg.groups[0]).toMatchObject({ name: 'ha', type: 'failover', members: ['a', 'b'] });
    expect(() => load({ destinations: two, groups: [{ name: 'ha', type: 'any_of', members: ['a', 'b'], replication: 2 }], rules: [{ default: true, destinations: ['ha'] }] })).toThrow(
      /groups\.0\.replication: only hash groups take replication/,
    );
  });

  it('members on one host with one instance are fine (no ring), but members must be network destinations', () => {
    const same = [DEST, { ...DEST, name: 'b', port: 2005 }];
    expect(() => load({ destinations: same, groups: [{ name: 'ha', type: 'failover', members: ['a', 'b'] }], rules: [{ default: true, destinations: ['ha'] }] })).not.toThrow();
    expect(() => load({ destinations: [DEST, { name: 'f', file: 'x' }], groups: [{ name: 'ha', type: 'failover', members: ['a', 'f'] }], rules: [{ default: true, destinations: ['ha'] }] })).toThrow(
      /members must be host\/port destinations/,
    );
  });
});

describe('TLS settings', () => {
  let caPem: string;
  beforeAll(() => {
    caPem = fs.readFileSync(makeTestCa().caCert, 'utf8');
  });

  /** A directory holding one CA certificate. */
  function caDir(dir = newDir()): string {
    fs.writeFileSync(path.join(dir, 'ca.pem'), caPem);
    return dir;
  }

  it('file paths of listeners and destinations are resolved against the config file', () => {
    const dir = newDir();
    fs.mkdirSync(path.join(dir, 'cas'));
    caDir(path.join(dir, 'cas'));
    // the loader reads every file it is given (check fails on a missing one): real ones, under the relative names
    const ca = makeTestCa();
    const client = makeClientCert(ca, 'relay');
    for (const [name, from] of [['server.crt', ca.serverCert], ['server.key', ca.serverKey], ['clients.pem', ca.caCert], ['ca.pem', ca.caCert], ['relay.crt', client.cert], ['relay.key', client.key]]) fs.copyFileSync(from, path.join(dir, name));
    const tlsListen = { port: 0, cert: 'server.crt', key: 'server.key', clientCa: 'clients.pem', clientCaPath: 'cas' };
    const cfg = configFrom(
      {
        listen: { line: { tls: tlsListen }, pickle: { tls: { ...tlsListen, requireClientCert: false } } },
        destinations: [{ ...DEST, tls: { ca: 'ca.pem', caPath: 'cas', cert: 'relay.crt', key: 'relay.key' } }],
        rules: [DEFAULT_RULE],
      },
      {},
      dir,
    );
    const abs = (f: string): string => path.join(dir, f);
    expect(cfg.listen.line?.tls).toEqual({ host: '0.0.0.0', port: 0, cert: abs('server.crt'), key: abs('server.key'), clientCa: abs('clients.pem'), clientCaPath: abs('cas'), timestampOptional: true });
    expect(cfg.listen.pickle?.tls).toMatchObject({ clientCaPath: abs('cas'), requireClientCert: false });
    expect(carbonDestinations(cfg.destinations)[0].tls).toEqual({ ca: abs('ca.pem'), caPath: abs('cas'), cert: abs('relay.crt'), key: abs('relay.key'), rejectUnauthorized: true });
  });

  it.each([
    ['requireClientCert without a client CA', { listen: { line: { tls: { port: 0, cert: 'c', key: 'k', requireClientCert: true } } }, destinations: [DEST] }, /listen\.line\.tls\.requireClientCert: needs clientCa or clientCaPath/],
    ['a destination certificate without its key', { destinations: [{ ...DEST, tls: { cert: 'relay.crt' } }] }, /destinations\.0\.tls: set both cert and key/],
    ['an unknown key in a pickle TLS listener', { listen: { pickle: { tls: { port: 0, cert: 'c', key: 'k', capath: 'x' } } }, destinations: [DEST] }, /listen\.pickle\.tls: Unrecognized key: "capath"/],
  ])('refuses %s', (_what, obj, message) => {
    let err: unknown;
    try {
      load({ ...obj, rules: [DEFAULT_RULE] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect(err).toMatchObject({ code: 'CF_ERR_CONFIG_SCHEMA', message: expect.stringMatching(message) });
  });

  it('a CA directory that is missing or holds no certificate fails the load, naming the key and its line', () => {
    const empty = newDir();
    const file = yamlFile(`destinations:\n  - name: a\n    host: h\n    port: 2004\n    tls:\n      caPath: ${empty}\nrules:\n  - {default: true, destinations: [a]}\n`);
    expect(configError(file)).toMatchObject({ code: 'CF_ERR_CONFIG_TLS', message: `${file}:6: destinations.0.tls.caPath: no PEM certificate in CA directory ${empty} (read: *.pem, *.crt, *.cer and c_rehash's <hash>.0 names)` });
    const listener = yamlFile('listen:\n  pickle:\n    tls: {port: 0, cert: c, key: k, clientCaPath: absent}\ndestinations:\n  - {name: a, host: h, port: 2004}\nrules:\n  - {default: true, destinations: [a]}\n');
    expect(configError(listener)).toMatchObject({ code: 'CF_ERR_CONFIG_TLS', message: expect.stringMatching(/relay\.yaml:3: listen\.pickle\.tls\.clientCaPath: cannot read CA directory .*absent: ENOENT$/) });
    const kafkaDir = caDir();
    expect(() => load({ destinations: [DEST, { type: 'kafka', name: 'k', brokers: ['127.0.0.1:9092'], topic: 't', tls: { caPath: kafkaDir } }], rules: [DEFAULT_RULE] })).not.toThrow();
  });
});

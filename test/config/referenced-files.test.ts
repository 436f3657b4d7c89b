import fs from 'node:fs';
import path from 'node:path';
import { main } from '../../src/cli';
import { ConfigError } from '../../src/config/config-error';
import { loadConfig } from '../../src/config/load';
import { captureIo } from '../helpers/cli-io';
import { makeTestCa, type TestCa } from '../helpers/certs';
import { tempDirsRemovedAfterAll } from '../helpers/relay';

const newDir = tempDirsRemovedAfterAll();

/** chmod 000 stops reads only for an unprivileged user: as root, the "unreadable" variant is a directory in the file's place. */
const RUNNING_AS_ROOT = process.getuid?.() === 0;

let ca: TestCa;
beforeAll(() => {
  ca = makeTestCa();
});
afterAll(() => fs.rmSync(ca.dir, { recursive: true, force: true }));

/** relay.yaml (written as given, so line numbers are the text's) in a fresh directory with copies of the test certificates. */
function setup(yaml: string): { dir: string; file: string } {
  const dir = newDir();
  fs.copyFileSync(ca.serverCert, path.join(dir, 'server.crt'));
  fs.copyFileSync(ca.serverKey, path.join(dir, 'server.key'));
  fs.copyFileSync(ca.caCert, path.join(dir, 'ca.crt'));
  fs.writeFileSync(path.join(dir, 'filters.conf'), '^x\\.\n');
  fs.writeFileSync(path.join(dir, 'aggregation-rules.conf'), '');
  const file = path.join(dir, 'relay.yaml');
  fs.writeFileSync(file, yaml);
  return { dir, file };
}

function loadError(file: string): ConfigError {
  try {
    loadConfig(file, {});
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error(`${file} loaded`);
}

const RULE = 'rules:\n  - {default: true, destinations: [a]}\n';

/** Each place a config names a file, the line it stands on, its key path, and the file's name in the directory. */
const PLACES: { what: string; yaml: string; line: number; key: string; name: string }[] = [
  { what: 'line TLS listener cert', yaml: `listen:\n  line:\n    tls: {port: 0, cert: server.crt, key: server.key}\ndestinations:\n  - {name: a, file: out.txt}\n${RULE}`, line: 3, key: 'listen.line.tls.cert', name: 'server.crt' },
  { what: 'line TLS listener key', yaml: `listen:\n  line:\n    tls: {port: 0, cert: server.crt, key: server.key}\ndestinations:\n  - {name: a, file: out.txt}\n${RULE}`, line: 3, key: 'listen.line.tls.key', name: 'server.key' },
  { what: 'HTTPS listener cert', yaml: `listen:\n  http:\n    port: 0\n    cert: server.crt\n    key: server.key\ndestinations:\n  - {name: a, file: out.txt}\n${RULE}`, line: 4, key: 'listen.http.cert', name: 'server.crt' },
  { what: 'HTTPS listener key', yaml: `listen:\n  http:\n    port: 0\n    cert: server.crt\n    key: server.key\ndestinations:\n  - {name: a, file: out.txt}\n${RULE}`, line: 5, key: 'listen.http.key', name: 'server.key' },
  { what: 'carbon destination CA', yaml: `destinations:\n  - name: a\n    host: 127.0.0.1\n    port: 2004\n    tls: {ca: ca.crt}\n${RULE}`, line: 5, key: 'destinations.0.tls.ca', name: 'ca.crt' },
  {
    what: 'Kafka destination client cert',
    yaml: `destinations:\n  - name: a\n    type: kafka\n    brokers: [127.0.0.1:9092]\n    topic: t\n    tls:\n      ca: ca.crt\n      cert: server.crt\n      key: server.key\n${RULE}`,
    line: 8,
    key: 'destinations.0.tls.cert',
    name: 'server.crt',
  },
  {
    what: 'Kafka destination CA',
    yaml: `destinations:\n  - name: a\n    type: kafka\n    brokers: [127.0.0.1:9092]\n    topic: t\n    tls:\n      ca: ca.crt\n${RULE}`,
    line: 7,
    key: 'destinations.0.tls.ca',
    name: 'ca.crt',
  },
  {
    what: 'Kafka source client key',
    yaml: `sources:\n  - name: k\n    type: kafka\n    brokers: [127.0.0.1:9092]\n    topics: [t]\n    groupId: g\n    tls:\n      cert: server.crt\n      key: server.key\ndestinations:\n  - {name: a, file: out.txt}\n${RULE}`,
    line: 9,
    key: 'sources.0.tls.key',
    name: 'server.key',
  },
  { what: 'filters allowFile', yaml: `filters:\n  allowFile: filters.conf\ndestinations:\n  - {name: a, file: out.txt}\n${RULE}`, line: 2, key: 'filters.allowFile', name: 'filters.conf' },
  { what: 'filters blockFile', yaml: `filters:\n  blockFile: filters.conf\ndestinations:\n  - {name: a, file: out.txt}\n${RULE}`, line: 2, key: 'filters.blockFile', name: 'filters.conf' },
  {
    what: 'group aggregationRules',
    yaml: `destinations:\n  - {name: a, host: 127.0.0.1, port: 2004}\ngroups:\n  - name: g\n    members: [a]\n    aggregationRules: aggregation-rules.conf\nrules:\n  - {default: true, destinations: [g]}\n`,
    line: 6,
    key: 'groups.0.aggregationRules',
    name: 'aggregation-rules.conf',
  },
];

/** Files read once at start must be there; the re-read ones (filters, aggregation rules) may be missing, as in carbon. */
const REREAD = new Set(['filters allowFile', 'filters blockFile', 'group aggregationRules']);

describe('files the config names are checked at load', () => {
  it.each(PLACES.map((p) => [p.what, p] as const))('%s: valid as written', (_what, p) => {
    expect(() => loadConfig(setup(p.yaml).file, {})).not.toThrow();
  });

  it.each(PLACES.filter((p) => !REREAD.has(p.what)).map((p) => [p.what, p] as const))('%s: missing is an error naming file, line, key and reason', (_what, p) => {
    const { dir, file } = setup(p.yaml);
    fs.rmSync(path.join(dir, p.name));
    const err = loadError(file);
    expect(err.code).toBe('CF_ERR_CONFIG_FILE_UNREADABLE');
    expect(err.message).toBe(`${file}:${p.line}: ${p.key}: cannot read ${path.join(dir, p.name)}: ENOENT (no such file or directory)`);
  });

  it.each(PLACES.filter((p) => REREAD.has(p.what)).map((p) => [p.what, p] as const))('%s: missing is allowed (an empty list until it appears)', (_what, p) => {
    const { dir, file } = setup(p.yaml);
    fs.rmSync(path.join(dir, p.name));
    expect(() => loadConfig(file, {})).not.toThrow();
  });

  it.each(PLACES.map((p) => [p.what, p] as const))('%s: a directory in the file\'s place is an error', (_what, p) => {
    const { dir, file } = setup(p.yaml);
    fs.rmSync(path.join(dir, p.name));
    fs.mkdirSync(path.join(dir, p.name));
    const err = loadError(file);
    expect(err.code).toBe('CF_ERR_CONFIG_FILE_UNREADABLE');
    expect(err.message).toBe(`${file}:${p.line}: ${p.key}: cannot read ${path.join(dir, p.name)}: it is a directory`);
  });

  // as root every file is readable: the directory case above is the unreadable one there
  if (!RUNNING_AS_ROOT) it.each(PLACES.map((p) => [p.what, p] as const))('%s: unreadable (mode 000) is an error', (_what, p) => {
    const { dir, file } = setup(p.yaml);
    fs.chmodSync(path.join(dir, p.name), 0o000);
    const err = loadError(file);
    expect(err.message).toBe(`${file}:${p.line}: ${p.key}: cannot read ${path.join(dir, p.name)}: EACCES (permission denied)`);
  });

  it('a certificate and key that are not a pair, or not PEM, are refused before a listener tries them', () => {
    const { dir, file } = setup(PLACES[0].yaml);
    fs.copyFileSync(path.join(ca.dir, 'ca.key'), path.join(dir, 'server.key'));
    expect(loadError(file).message).toMatch(new RegExp(`^${file}:3: listen\\.line\\.tls\\.cert: ${dir}/server\\.crt and ${dir}/server\\.key are not a PEM certificate and its private key: .*key values mismatch`));
    fs.writeFileSync(path.join(dir, 'server.crt'), 'not a certificate\n');
    expect(loadError(file).message).toMatch(/listen\.line\.tls\.cert: .* are not a PEM certificate and its private key: .*no start line/);
  });

  it('a CA file without a certificate is refused (Node would trust nothing from it, silently)', () => {
    const { dir, file } = setup(PLACES[4].yaml);
    fs.writeFileSync(path.join(dir, 'ca.crt'), 'not a certificate\n');
    expect(loadError(file).message).toBe(`${file}:5: destinations.0.tls.ca: ${dir}/ca.crt holds no PEM certificate`);
  });

  it('a destination from a rulesFile is reported in that file, its paths relative to it', () => {
    const { dir, file } = setup('rulesFile: conf/rules.yaml\n');
    fs.mkdirSync(path.join(dir, 'conf'));
    fs.writeFileSync(path.join(dir, 'conf/rules.yaml'), `destinations:\n  - name: a\n    host: 127.0.0.1\n    port: 2004\n    tls: {ca: ca.crt}\n${RULE}`);
    expect(loadError(file).message).toBe(`${path.join(dir, 'conf/rules.yaml')}:5: destinations.0.tls.ca: cannot read ${path.join(dir, 'conf/ca.crt')}: ENOENT (no such file or directory)`);
    fs.copyFileSync(ca.caCert, path.join(dir, 'conf/ca.crt'));
    expect(() => loadConfig(file, {})).not.toThrow();
  });

  it('Kafka TLS files are relative to the config file, like every other path', () => {
    const { dir, file } = setup(PLACES[5].yaml);
    const cfg = loadConfig(file, {});
    expect(cfg.destinations[0]).toMatchObject({ tls: { ca: path.join(dir, 'ca.crt'), cert: path.join(dir, 'server.crt'), key: path.join(dir, 'server.key') } });
  });

  it('dataDir: missing is fine (the relay creates it); one that exists must be a directory', () => {
    const { dir, file } = setup(`dataDir: state\ndestinations:\n  - {name: a, file: out.txt}\n${RULE}`);
    expect(() => loadConfig(file, {})).not.toThrow();
    fs.writeFileSync(path.join(dir, 'state'), '');
    expect(loadError(file)).toMatchObject({ code: 'CF_ERR_CONFIG_FILE_UNREADABLE', message: `${file}:1: dataDir: ${dir}/state is not a directory` });
  });

  it('file destination: a directory in its place is an error; a missing file or directory is left to the destination (it retries)', () => {
    const { dir, file } = setup(`destinations:\n  - {name: a, file: logs/out.txt}\n${RULE}`);
    expect(() => loadConfig(file, {})).not.toThrow();
    fs.mkdirSync(path.join(dir, 'logs/out.txt'), { recursive: true });
    expect(loadError(file)).toMatchObject({ code: 'CF_ERR_CONFIG_FILE_UNREADABLE', message: `${file}:2: destinations.0.file: cannot write to ${dir}/logs/out.txt: it is a directory` });
  });
});

describe('the CLI on a config naming a file it cannot read', () => {
  it('check and start both exit 1 with the config error, never a stack trace', async () => {
    const { dir, file } = setup(PLACES[0].yaml);
    fs.rmSync(path.join(dir, 'server.key'));
    const expected = `config error: ${file}:3: listen.line.tls.key: cannot read ${dir}/server.key: ENOENT (no such file or directory)\n`;
    for (const command of ['check', 'start']) {
      const io = captureIo({ silent: true });
      expect(await main([command, '-c', file], io)).toBe(1);
      expect(io.err()).toBe(expected);
    }
  });

  it('start on aggregation rules that do not parse: exit 1 with the config error (check says the same)', async () => {
    const { dir, file } = setup(PLACES[10].yaml);
    fs.writeFileSync(path.join(dir, 'aggregation-rules.conf'), 'not a rule\n');
    for (const command of ['check', 'start']) {
      const io = captureIo({ silent: true });
      expect(await main([command, '-c', file], io)).toBe(1);
      expect(io.err()).toMatch(/^config error: .*aggregation-rules\.conf:1: invalid aggregation rule: /);
    }
  });
});

import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../../../src/config/config-error';
import { loadConfig } from '../../../src/config/load';
import { importCatchpointIntegration } from '../../../src/sources/catchpoint/integration-config';
import { tempDirsRemovedAfterAll } from '../../helpers/relay';

const FIXTURES = path.resolve(__dirname, '../../fixtures/catchpoint');
const newDir = tempDirsRemovedAfterAll();

/** The printed block inside a complete relay config, loaded through the real loader. */
function loadImported(yaml: string, env: NodeJS.ProcessEnv = { CATCHPOINT_CLIENT_ID: 'the-id', CATCHPOINT_CLIENT_SECRET: 'the-secret' }): ReturnType<typeof loadConfig> {
  const file = path.join(newDir(), 'relay.yaml');
  fs.writeFileSync(file, `destinations: [{ name: a, file: "-" }]\nrules: [{ default: true, destinations: [a] }]\n${yaml}`);
  return loadConfig(file, env);
}

describe('convert --catchpoint-config: the graphite-python integration\'s files', () => {
  it('reads config/config_catchpoint.yaml and config_graphite.yaml into a sources: block that loads as is', () => {
    const out = importCatchpointIntegration(path.join(FIXTURES, 'graphite-python'));
    // its log_file is the one setting not carried over, and the warning names the relay's own
    expect(out.warnings).toEqual([
      "config_catchpoint.yaml: log_file is not carried over: the relay logs to stderr (journald under systemd); to log to a file, set logFile: { path: ... } in the relay's config",
    ]);
    expect(out.files).toEqual({
      catchpoint: path.join(FIXTURES, 'graphite-python/config/config_catchpoint.yaml'),
      graphite: path.join(FIXTURES, 'graphite-python/config/config_graphite.yaml'),
    });
    const cfg = loadImported(out.yaml);
    expect(cfg.sources).toEqual([
      {
        name: 'catchpoint',
        type: 'catchpoint',
        baseUrl: 'https://io.catchpoint.com/ui/',
        clientId: 'the-id',
        clientSecret: 'the-secret',
        interval: 900_000,
        timeout: 30_000,
        lag: 0,
        maxWindow: 86_400_000,
        batchSize: 10,
        retry: { attempts: 3, initialDelay: 1000, maxDelay: 30_000 },
        tests: {
          web: [142619, 142620, 142621, 142622],
          transaction: [142602, 142603],
          api: [142637, 142638, 142683, 142689],
          ping: [142599, 142600, 142601],
          traceroute: [142607, 142608, 142609],
          dns: [142644, 142645, 142646, 142647],
          websocket: [842700],
          smtp: [142604],
        },
        prefix: 'system.cp.testdata',
        tags: true,
      },
    ]);
  });

  it('prints the block with comments: credentials from the environment, the old carbon target, never the secret', () => {
    const out = importCatchpointIntegration(path.join(FIXTURES, 'graphite-python'));
    const file = path.join(FIXTURES, 'graphite-python/config/config_catchpoint.yaml');
    expect(out.yaml).toBe(
      [
        `# carbon-fanout source converted from ${file}`,
        "# Credentials are not copied: put the file's client_id and client_secret in the relay's environment",
        '# as CATCHPOINT_CLIENT_ID and CATCHPOINT_CLIENT_SECRET.',
        '# The integration ran from cron every 15 minutes and named its series system.cp.testdata.<Metric>;testId=..;nodeId=..:',
        "# the prefix below keeps those names (remove it for carbon-fanout's default, catchpoint.testdata).",
        `# It wrote plaintext lines to carbon at 10.1.2.3:2003 (${path.join(FIXTURES, 'graphite-python/config/config_graphite.yaml')}).`,
        '# If no destination of this relay goes there yet, add one and route catchpoint series to it, e.g.:',
        '#   destinations:',
        '#     - { name: carbon, host: 10.1.2.3, port: 2003, protocol: line }',
        'sources:',
        '  - name: catchpoint',
        '    type: catchpoint',
        '    clientId: ${CATCHPOINT_CLIENT_ID}',
        '    clientSecret: ${CATCHPOINT_CLIENT_SECRET}',
        '    interval: 15m',
        '    batchSize: 10',
        '    tests:',
        '      web: [ 142619, 142620, 142621, 142622 ]',
        '      transaction: [ 142602, 142603 ]',
        '      api: [ 142637, 142638, 142683, 142689 ]',
        '      ping: [ 142599, 142600, 142601 ]',
        '      traceroute: [ 142607, 142608, 142609 ]',
        '      dns: [ 142644, 142645, 142646, 142647 ]',
        '      websocket: [ 842700 ]',
        '      smtp: [ 142604 ]',
        '    prefix: system.cp.testdata',
        '    tags: true',
        '',
      ].join('\n'),
    );
    expect(out.yaml).not.toContain('fixture-consumer');
  });

  it('DIR may be the config directory itself, or the file', () => {
    const a = importCatchpointIntegration(path.join(FIXTURES, 'graphite-python/config'));
    const b = importCatchpointIntegration(path.join(FIXTURES, 'graphite-python/config/config_catchpoint.yaml'));
    expect(b.yaml).toBe(a.yaml);
  });

  it('is tolerant of hand-edited files and says what it changed or dropped', () => {
    const out = importCatchpointIntegration(path.join(FIXTURES, 'variant'));
    expect(out.warnings).toEqual([
      'config_catchpoint.yaml: ignored unknown key "poll_minutes"',
      "batch_size 50 is above Catchpoint's 20 tests per call; using 20",
      'test type "Web" is written "web"',
      'test_ids.dns: "not-an-id" is not a test id; skipped',
      'test 142619 is listed under web and dns; kept under web only',
    ]);
    expect(out.files.graphite).toBeUndefined();
    expect(out.yaml).not.toContain('carbon at');
    const cfg = loadImported(out.yaml);
    expect(cfg.sources[0]).toMatchObject({
      baseUrl: 'https://io.example-catchpoint.test/ui/',
      batchSize: 20,
      tests: { web: [142619, 142620, 142621], api: [142637, 142638, 142683], ping: [142599], dns: [142644] },
    });
  });

  it('keeps a domain that does not end in /api, with a warning; other endpoints are named when not carried over', () => {
    const dir = newDir();
    fs.writeFileSync(
      path.join(dir, 'config_catchpoint.yaml'),
      "protocol: 'http'\ndomain: 'cp.proxy.internal/catchpoint/'\ntoken_endpoint: 'oauth/token'\nversion: 'v2'\nrawdata_endpoint: 'performance/raw?tests'\ntest_ids: { web: [1] }\n",
    );
    const out = importCatchpointIntegration(dir);
    expect(out.source.baseUrl).toBe('http://cp.proxy.internal/catchpoint/');
    expect(out.warnings).toEqual([
      'domain "cp.proxy.internal/catchpoint/" does not end in /api; baseUrl is http://cp.proxy.internal/catchpoint/ (check that {baseUrl}api/token is the token endpoint)',
      'token_endpoint "oauth/token" is not carried over: carbon-fanout asks {baseUrl}api/token',
      'version "v2" is not carried over: carbon-fanout asks {baseUrl}api/v1/performance/raw',
    ]);
  });

  it.each([
    ['no config_catchpoint.yaml', {}, /^.*: no config_catchpoint\.yaml in /, 'CF_ERR_CONFIG_READ'],
    ['a YAML syntax error (the README example\'s missing bracket)', { 'config_catchpoint.yaml': "test_ids: {\n  web : ['1'],\n  dns : '2','3'],\n}\n" }, /config_catchpoint\.yaml:3: /, 'CF_ERR_CONFIG_YAML'],
    ['no test_ids', { 'config_catchpoint.yaml': "client_id: 'x'\n" }, /config_catchpoint\.yaml: test_ids is missing or not a mapping/, 'CF_ERR_CONFIG_SCHEMA'],
    ['only empty lists', { 'config_catchpoint.yaml': 'test_ids: { web: [], api: [] }\n' }, /config_catchpoint\.yaml: test_ids lists no test ids/, 'CF_ERR_CONFIG_SCHEMA'],
    ['not a mapping', { 'config_catchpoint.yaml': '- a\n- b\n' }, /config_catchpoint\.yaml: expected a mapping of settings/, 'CF_ERR_CONFIG_SCHEMA'],
  ])('%s is an error naming the file', (_what, files: Record<string, string>, message, code) => {
    const dir = newDir();
    for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
    let err: unknown;
    try {
      importCatchpointIntegration(dir);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(message);
    expect((err as ConfigError).code).toBe(code);
  });
});

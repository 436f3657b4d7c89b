import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../../src/config/config-error';
import { loadConfig } from '../../src/config/load';
import { configFrom, tempDir } from '../helpers/relay';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const BASE = ['destinations: [{ name: a, file: "-" }]', 'rules: [{ default: true, destinations: [a] }]', 'sources:'];

/** Write the lines below BASE (so `sources:` is line 3) and return the file. */
function yamlFile(lines: string[]): string {
  const dir = tempDir();
  dirs.push(dir);
  const file = path.join(dir, 'relay.yaml');
  fs.writeFileSync(file, [...BASE, ...lines, ''].join('\n'));
  return file;
}

function errorOf(file: string, env: NodeJS.ProcessEnv = {}): string {
  try {
    loadConfig(file, env);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error('loaded');
}

const SOURCE = ['  - name: cp', '    type: catchpoint', '    clientId: ${CP_ID}', '    clientSecret: ${CP_SECRET}'];
const ENV = { CP_ID: 'id-value', CP_SECRET: 'secret-value-never-printed' };

describe('sources: configuration', () => {
  it('fills every default of a catchpoint source; secrets come from the environment', () => {
    const cfg = loadConfig(yamlFile([...SOURCE, '    tests: { web: [142619, "142620"], transaction: [142602] }']), ENV);
    expect(cfg.sources).toEqual([
      {
        name: 'cp',
        type: 'catchpoint',
        baseUrl: 'https://io.catchpoint.com/ui/',
        clientId: 'id-value',
        clientSecret: 'secret-value-never-printed',
        interval: 900_000,
        timeout: 30_000,
        lag: 0,
        maxWindow: 86_400_000,
        batchSize: 20,
        retry: { attempts: 3, initialDelay: 1000, maxDelay: 30_000 },
        tests: { web: [142619, 142620], transaction: [142602] },
        prefix: 'catchpoint.testdata',
        tags: true,
      },
    ]);
  });

  it('a config without sources has none', () => {
    expect(configFrom({ destinations: [{ name: 'a', file: '-' }], rules: [{ default: true, destinations: ['a'] }] }).sources).toEqual([]);
  });

  it('takes durations, a baseUrl without its trailing slash, an empty test type and tags: false', () => {
    const cfg = loadConfig(
      yamlFile([
        ...SOURCE,
        '    baseUrl: http://catchpoint.internal:8080/ui',
        '    interval: 5m',
        '    timeout: 10s',
        '    lag: 90',
        '    tests:',
        '      web: [1]',
        '      ping:',
        '    prefix: synthetic.cp',
        '    tags: false',
      ]),
      ENV,
    );
    expect(cfg.sources[0]).toMatchObject({ baseUrl: 'http://catchpoint.internal:8080/ui/', interval: 300_000, timeout: 10_000, lag: 90_000, tests: { web: [1], ping: [] }, prefix: 'synthetic.cp', tags: false });
  });

  it('a missing credential variable names the variable and the line, never a value', () => {
    const file = yamlFile([...SOURCE, '    tests: { web: [1] }']);
    const msg = errorOf(file, { CP_ID: 'id-value' });
    expect(msg).toBe(`${file}:7: sources.clientSecret: environment variable CP_SECRET is not set`);
    expect(msg).not.toContain('id-value');
  });

  it.each([
    [['    tests: { web: [1, 2, 1] }'], 8, 'sources.0.tests.web.2: test 1 is already listed (tests.web.0)'],
    [['    tests: { web: [1], api: [2, 1] }'], 8, 'sources.0.tests.api.1: test 1 is already listed (tests.web.0)'],
    [['    tests: { web: [] }'], 8, 'sources.0.tests: list at least one test id'],
    [['    tests: { web: [abc] }'], 8, 'sources.0.tests.web.0: expected a test id (a positive integer)'],
    [['    tests: { web: [-4] }'], 8, 'sources.0.tests.web.0: expected a test id (a positive integer)'],
    [['    tests: { Web: [1] }'], 8, 'sources.0.tests.Web: test types are lower-case words (web, transaction, api, ...)'],
    [['    tests: { web: [1] }', '    batchSize: 21'], 9, 'sources.0.batchSize: Too big: expected number to be <=20'],
    [['    tests: { web: [1] }', '    testIds: [1]'], 4, 'sources.0: Unrecognized key: "testIds" (testIds)'],
    [['    tests: { web: [1] }', '    baseUrl: io.catchpoint.com'], 9, 'sources.0.baseUrl: expected an http(s) URL'],
    [['    tests: { web: [1] }', '    prefix: "catchpoint.testdata."'], 9, 'sources.0.prefix: no trailing "."'],
    [['    tests: { web: [1] }', '    prefix: "a b"'], 9, 'sources.0.prefix: no whitespace, ";" or leading "."'],
    [['    tests: { web: [1] }', '    interval: 500ms'], 9, 'sources.0.interval: must be at least 1s'],
    [['    tests: { web: [1] }', '    interval: 2m', '    maxWindow: 1m'], 10, 'sources.0.maxWindow: must not be below interval'],
  ])('%j is an error naming the line and key path', (lines, line, problem) => {
    const file = yamlFile([...SOURCE, ...lines]);
    expect(errorOf(file, ENV)).toBe(`${file}:${line}: ${problem}`);
  });

  it('an unknown source type is an error at the entry', () => {
    const file = yamlFile(['  - name: x', '    type: pingdom']);
    expect(errorOf(file)).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:5: sources\\.0\\.type: `));
  });

  it('source names are unique', () => {
    const file = yamlFile([...SOURCE, '    tests: { web: [1] }', ...SOURCE, '    tests: { web: [2] }']);
    expect(errorOf(file, ENV)).toBe(`${file}:9: sources.1.name: duplicate source name "cp"`);
  });

  it('every error hides the configured secret', () => {
    const file = yamlFile([...SOURCE, '    tests: { web: [1, 1] }', '    batchSize: 99']);
    expect(errorOf(file, ENV)).not.toContain('secret-value-never-printed');
  });
});

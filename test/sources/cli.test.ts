import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { main } from '../../src/cli';
import { importCatchpointIntegration } from '../../src/sources/catchpoint/integration-config';
import { captureIo, type CapturedIo } from '../helpers/cli-io';
import { tempDir } from '../helpers/relay';
import { FakeCatchpoint, fixture, rawAnswer } from '../helpers/fake-catchpoint';

const FIXTURES = path.resolve(__dirname, '../fixtures/catchpoint');

const io = (env: NodeJS.ProcessEnv = {}): CapturedIo => captureIo({ env, silent: true });

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function configFile(sources: unknown[]): string {
  const dir = tempDir();
  dirs.push(dir);
  const file = path.join(dir, 'relay.yaml');
  fs.writeFileSync(file, YAML.stringify({ destinations: [{ name: 'a', file: '-' }], rules: [{ default: true, destinations: ['a'] }], sources }));
  return file;
}

describe('carbon-fanout convert --catchpoint-config', () => {
  it('prints the sources: block, warnings on stderr', async () => {
    const t = io();
    expect(await main(['convert', '--catchpoint-config', path.join(FIXTURES, 'variant')], t)).toBe(0);
    expect(t.out()).toBe(importCatchpointIntegration(path.join(FIXTURES, 'variant')).yaml);
    expect(t.err()).toContain('warning: test 142619 is listed under web and dns; kept under web only\n');
    expect(t.out()).not.toContain('fixture-secret');
  });

  it('exit 1 naming the problem; usage errors exit 2', async () => {
    const missing = io();
    expect(await main(['convert', '--catchpoint-config', path.join(FIXTURES, 'nope')], missing)).toBe(1);
    expect(missing.err()).toMatch(/^convert: .*nope: no config_catchpoint\.yaml in /);
    const both = io();
    expect(await main(['convert', '--catchpoint-config', 'x', '--carbon-conf', 'y'], both)).toBe(2);
    expect(both.err()).toContain('not both');
    const wrong = io();
    expect(await main(['check', '-c', 'x', '--catchpoint-config', 'x'], wrong)).toBe(2);
    expect(wrong.err()).toContain('--catchpoint-config is only for convert');
  });
});

describe('carbon-fanout poll-once', () => {
  let api: FakeCatchpoint;
  beforeEach(async () => {
    api = new FakeCatchpoint();
    await api.listen();
  });
  afterEach(async () => {
    await api.close();
  });

  const source = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
    name: 'cp',
    type: 'catchpoint',
    baseUrl: api.baseUrl,
    clientId: '${CP_ID}',
    clientSecret: '${CP_SECRET}',
    tests: { web: [142619], transaction: [142602] },
    ...over,
  });
  const env = (): NodeJS.ProcessEnv => ({ CP_ID: api.clientId, CP_SECRET: api.clientSecret });

  it('runs one poll (one interval back from now) and prints the lines it would relay', async () => {
    // The fake answers each call with one item a minute into the asked window.
    api.raw = (r) => {
      const time = new Date(Date.parse(r.startTime as string) + 60_000).toISOString();
      const step = r.tests[0] === 142602 ? 2 : undefined;
      return { body: rawAnswer(['DNS', 'Content Load'], [{ time, test: r.tests[0], node: 14, values: [12.5, null], step }]) };
    };
    const before = Date.now();
    const t = io(env());
    expect(await main(['poll-once', '-c', configFile([source({ interval: '5m' })]), '--source', 'cp'], t)).toBe(0);
    expect(api.rawRequests).toHaveLength(2);
    const [first] = api.rawRequests;
    const end = Date.parse(first.endTime as string);
    expect(end).toBeGreaterThanOrEqual(before);
    expect(end - Date.parse(first.startTime as string)).toBe(5 * 60_000);
    const ts = Math.floor((Date.parse(first.startTime as string) + 60_000) / 1000);
    expect(t.out()).toBe(`catchpoint.testdata.DNS;testId=142619;nodeId=14 12.5 ${ts}\ncatchpoint.testdata.DNS;testId=142602;nodeId=14;stepNumber=2 12.5 ${ts}\n`);
    expect(t.err()).toBe('poll-once: cp: 2 datapoints from 2 calls\n');
  });

  it('--source may be left out when the config has one source', async () => {
    const t = io(env());
    expect(await main(['poll-once', '-c', configFile([source()])], t)).toBe(0);
    expect(t.out()).toBe('');
    expect(t.err()).toBe('poll-once: cp: 0 datapoints from 2 calls\n');
  });

  it('exit 1 with the reason when the credentials are refused', async () => {
    const t = io({ ...env(), CP_SECRET: 'wrong' });
    expect(await main(['poll-once', '-c', configFile([source()])], t)).toBe(1);
    expect(t.err()).toBe('poll-once: cp: the token endpoint refused the client credentials (HTTP 401: "invalid_client")\n');
    expect(t.err()).not.toContain('wrong');
  });

  it('exit 1 when a call failed (an API Message), still printing what the other calls returned', async () => {
    api.raw = (r) => (r.tests[0] === 142602 ? { body: fixture('raw-message.json') } : { body: fixture('raw-no-data.json') });
    const t = io(env());
    expect(await main(['poll-once', '-c', configFile([source()])], t)).toBe(1);
    expect(t.err()).toBe('poll-once: cp: 0 datapoints from 2 calls; 1 failed, 0 not made (see the log)\n');
  });

  it('usage: an unknown source lists the configured ones; several sources need --source', async () => {
    const file = configFile([source(), source({ name: 'other' })]);
    const unknown = io(env());
    expect(await main(['poll-once', '-c', file, '--source', 'nope'], unknown)).toBe(2);
    expect(unknown.err()).toBe('poll-once: unknown source "nope" (configured: cp, other)\n');
    const none = io(env());
    expect(await main(['poll-once', '-c', file], none)).toBe(2);
    expect(none.err()).toBe('poll-once: --source NAME is required (configured: cp, other)\n');
    const noSources = io();
    expect(await main(['poll-once', '-c', configFile([])], noSources)).toBe(2);
    expect(noSources.err()).toBe('poll-once: --source NAME is required (the config has no sources:)\n');
    const elsewhere = io();
    expect(await main(['check', '-c', file, '--source', 'cp'], elsewhere)).toBe(2);
    expect(elsewhere.err()).toContain('--source is only for poll-once');
    expect(api.rawRequests).toHaveLength(0);
  });

  it('check lists the sources in its summary', async () => {
    const t = io(env());
    expect(await main(['check', '-c', configFile([source()])], t)).toBe(0);
    expect(t.out()).toMatch(/, 1 rules, 1 sources \(cp: catchpoint\), admin 127\.0\.0\.1:8081, (1 process|\d+ workers); config hash [0-9a-f]{16}\n$/);
  });
});

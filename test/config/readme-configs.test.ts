import fs from 'node:fs';
import path from 'node:path';
import { main } from '../../src/cli';
import { captureIo } from '../helpers/cli-io';

const ROOT = path.join(__dirname, '../..');
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

/** Stand-ins for the ${VAR}s the examples read (API keys, passwords, secrets). */
const ENV: NodeJS.ProcessEnv = {
  HG_API_KEY: 'hg-key',
  HTTP_API_KEY: 'http-key',
  OPS_PASSWORD: 'ops-password',
  ADMIN_PASSWORD: 'admin-password',
  GITHUB_WEBHOOK_SECRET: 'github-secret',
  PAGERDUTY_WEBHOOK_SECRET: 'pagerduty-secret',
  CATCHPOINT_CLIENT_ID: 'catchpoint-id',
  CATCHPOINT_CLIENT_SECRET: 'catchpoint-secret',
};

/** YAML the README shows that is some other program's configuration. */
const NOT_RELAY_CONFIG = ['prometheus.yml'];

/** Every ```yaml block in the README with the caption above it (`` `path`: ``, then a blank line). */
function yamlBlocks(): { caption: string; text: string }[] {
  const out: { caption: string; text: string }[] = [];
  const fence = /```yaml\n([\s\S]*?)```/g;
  for (let m = fence.exec(README); m !== null; m = fence.exec(README)) {
    const before = README.slice(0, m.index).split('\n');
    // before ends with '' (the fence's own line start), then the blank line, then the caption
    out.push({ caption: before.length >= 3 && before[before.length - 2] === '' ? before[before.length - 3] : '', text: m[1] });
  }
  return out;
}

const shownFile = (caption: string): string | undefined => /^`([^`]+\.ya?ml)`.*:$/.exec(caption)?.[1];

/**
 * Every YAML snippet in the README is a file in the repository, shown as it is
 * (the README is not a second copy that can drift), and `carbon-fanout check`
 * accepts each one: a reader can copy any of them and start from it.
 */
describe('README YAML snippets', () => {
  const blocks = yamlBlocks();
  const relayConfigs = blocks.map((b) => shownFile(b.caption)).filter((f): f is string => f !== undefined && !NOT_RELAY_CONFIG.includes(f));

  it('each one is captioned with the file it shows', () => {
    expect(blocks.length).toBeGreaterThan(10);
    expect(blocks.filter((b) => shownFile(b.caption) === undefined).map((b) => b.text.split('\n')[0])).toEqual([]);
  });

  it('every example and scaling config is shown, once', () => {
    const files = ['config/examples', 'config/scaling'].flatMap((d) => fs.readdirSync(path.join(ROOT, d)).filter((f) => f.endsWith('.yaml')).map((f) => `${d}/${f}`));
    expect([...relayConfigs].sort()).toEqual(files.sort());
  });

  it.each(blocks.filter((b) => relayConfigs.includes(shownFile(b.caption) ?? '')).map((b) => [shownFile(b.caption)!, b.text] as const))(
    '%s is shown verbatim and passes check',
    async (file, text) => {
      expect(text).toBe(fs.readFileSync(path.join(ROOT, file), 'utf8'));
      const io = captureIo({ env: ENV });
      const code = await main(['check', '-c', path.join(ROOT, file)], io);
      expect({ code, err: io.err() }).toEqual({ code: 0, err: '' });
      expect(io.out()).toMatch(/^OK /);
    },
  );
});

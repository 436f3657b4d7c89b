import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/**
 * The layer rules in .dependency-cruiser.cjs (run by `npm test` as lint:deps)
 * must hold for src/, and must actually fire: each case below adds one import
 * that breaks a rule and expects the check to name that rule.
 */
const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'node_modules/.bin/depcruise');

function cruise(): { ok: boolean; output: string } {
  try {
    const output = execFileSync(BIN, ['--config', '.dependency-cruiser.cjs', 'src'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return { ok: true, output };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

describe('layers', () => {
  it('src/ keeps every layer rule', () => {
    const r = cruise();
    expect(r.output).toContain('no dependency violations found');
    expect(r.ok).toBe(true);
  });

  it('an import breaking any rule is refused, naming the rule and the file', () => {
    // one probe file per rule (two for the cycle), checked in a single run
    const probes: [rule: string, file: string, source: string][] = [
      ['codec-is-pure', 'src/codec/zz-layer-probe.ts', "import type { DatapointQueue } from '../output/queue';\nexport type Probe = DatapointQueue;\n"],
      ['ingest-hands-to-pipeline', 'src/ingest/zz-layer-probe.ts', "import type { Destination } from '../output/destination';\nexport type Probe = Destination;\n"],
      ['config-is-data', 'src/config/zz-layer-probe.ts', "import type { Router } from '../routing/router';\nexport type Probe = Router<string>;\n"],
      ['output-knows-no-input', 'src/output/zz-layer-probe.ts', "import type { Pipeline } from '../pipeline/pipeline';\nexport type Probe = Pipeline;\n"],
      ['aggregation-hands-back', 'src/aggregation/zz-layer-probe.ts', "import type { Pipeline } from '../pipeline/pipeline';\nexport type Probe = Pipeline;\n"],
      ['nothing-imports-cli', 'src/relay/zz-layer-probe.ts', "import { main } from '../cli';\nexport const probe = main;\n"],
      ['only-cli-forks', 'src/admin/zz-layer-probe.ts', "import type { Primary } from '../cluster/primary';\nexport type Probe = Primary;\n"],
      ['no-cycles', 'src/model/zz-layer-probe.ts', "import type { Probe2 } from './zz-layer-probe-2';\nexport type Probe = Probe2;\n"],
    ];
    const cycleMate = path.join(ROOT, 'src/model/zz-layer-probe-2.ts');
    try {
      for (const [, file, source] of probes) fs.writeFileSync(path.join(ROOT, file), source);
      fs.writeFileSync(cycleMate, "import type { Probe } from './zz-layer-probe';\nexport type Probe2 = Probe | number;\n");
      const r = cruise();
      expect(r.ok).toBe(false);
      for (const [rule, file] of probes) expect(r.output).toMatch(new RegExp(`${rule}: ${file.replace('.ts', '')}(-2)?\\.ts`));
    } finally {
      for (const [, file] of probes) fs.rmSync(path.join(ROOT, file), { force: true });
      fs.rmSync(cycleMate, { force: true });
    }
  });
});

describe("README's layout section", () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const layout = readme.slice(readme.indexOf('## Layout'));

  function dirs(rel: string): string[] {
    return fs
      .readdirSync(path.join(ROOT, rel), { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .flatMap((e) => [`${rel}/${e.name}`, ...dirs(`${rel}/${e.name}`)]);
  }

  it('names every folder of src/ (top-level ones by path, nested ones by name)', () => {
    const missing = dirs('src').filter((d) => {
      const depth = d.split('/').length;
      return depth === 2 ? !layout.includes(`${d}/`) : !layout.includes(`${path.basename(d)}/`);
    });
    expect(missing).toEqual([]);
  });
});

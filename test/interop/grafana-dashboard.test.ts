import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { tempDirsRemovedAfterAll } from '../helpers/relay';

const newDir = tempDirsRemovedAfterAll();

/** Every query of deploy/grafana-dashboard.json is valid PromQL: promtool checks them as recording rules. */
describe('the shipped Grafana dashboard against promtool', () => {
  it('parses every panel query', () => {
    const dashboard = JSON.parse(fs.readFileSync(path.join(__dirname, '../../deploy/grafana-dashboard.json'), 'utf8')) as { panels: { targets: { expr: string }[] }[] };
    // Grafana's template variables, as Grafana would substitute "All"
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr.replace(/\$job|\$instance/g, '.*')));
    const rules = { groups: [{ name: 'dashboard', rules: exprs.map((expr, i) => ({ record: `dashboard:query_${i}`, expr })) }] };
    const file = path.join(newDir(), 'rules.yaml');
    fs.writeFileSync(file, YAML.stringify(rules));
    const out = execFileSync('/usr/bin/promtool', ['check', 'rules', file], { encoding: 'utf8' });
    expect(out).toContain(`SUCCESS: ${exprs.length} rules found`);
  });
});

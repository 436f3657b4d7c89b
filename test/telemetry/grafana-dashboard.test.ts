import fs from 'node:fs';
import path from 'node:path';
import { FAMILIES, HISTOGRAMS } from '../../src/telemetry/prometheus-names';

/** deploy/grafana-dashboard.json may only query metrics the exporter defines (or prom-client's process metrics). */
describe('the shipped Grafana dashboard', () => {
  const dashboard = JSON.parse(fs.readFileSync(path.join(__dirname, '../../deploy/grafana-dashboard.json'), 'utf8')) as {
    panels: { title: string; targets: { expr: string }[] }[];
  };

  it('queries only metrics /metrics exposes', () => {
    const histograms = Object.keys(HISTOGRAMS).flatMap((h) => ['_bucket', '_sum', '_count'].map((s) => h + s));
    const known = new Set([...Object.keys(FAMILIES), ...histograms].map((f) => `carbon_fanout_${f}`));
    const used = dashboard.panels.flatMap((p) => p.targets.flatMap((t) => t.expr.match(/carbon_fanout_[a-z_]+/g) ?? []));
    expect(used.length).toBeGreaterThan(10);
    expect([...new Set(used)].filter((m) => !known.has(m) && !m.startsWith('carbon_fanout_process_'))).toEqual([]);
  });

  it('every panel has a query', () => {
    for (const p of dashboard.panels) expect([p.title, p.targets.length > 0]).toEqual([p.title, true]);
  });
});

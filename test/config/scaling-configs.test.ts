import fs from 'node:fs';
import path from 'node:path';
import { configHash } from '../../src/config/hash';
import { loadConfig } from '../../src/config/load';
import { buildRouters } from '../../src/routing/build';
import { silentLogger } from '../../src/telemetry/logger';

const ROOT = path.join(__dirname, '../..');
const DIR = path.join(ROOT, 'config/scaling');

/** The README's "Scaling out" configs (config/scaling/; readme-configs.test.ts checks each is shown verbatim and passes check). */
describe('config/scaling', () => {
  it('the single relay and the balanced tier place every series on the same cache, and so does the store tier behind Kafka', () => {
    const place = (file: string): string[] => {
      const routers = buildRouters(loadConfig(path.join(DIR, file), {}), (d) => d.name, silentLogger());
      return Array.from({ length: 500 }, (_, i) => routers.received.route(`servers.host${i}.cpu`).destinations.join(','));
    };
    const single = place('single.yaml');
    expect(new Set(single).size).toBe(2);
    expect(place('balanced.yaml')).toEqual(single);
    expect(place('store-kafka.yaml')).toEqual(single);
  });

  it('listing the caches in another order changes the config hash but not one placement', () => {
    const file = path.join(DIR, 'balanced.yaml');
    const swapped = path.join(fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'cf-scaling-')), 'balanced.yaml');
    fs.writeFileSync(
      swapped,
      fs
        .readFileSync(file, 'utf8')
        .replace('members: [cache-a, cache-b]', 'members: [cache-b, cache-a]'),
    );
    const a = loadConfig(file, {});
    const b = loadConfig(swapped, {});
    expect(configHash(a)).not.toBe(configHash(b));
    const route = (c: typeof a): string[] => {
      const r = buildRouters(c, (d) => d.name, silentLogger());
      return Array.from({ length: 500 }, (_, i) => r.received.route(`m${i}`).destinations.join(','));
    };
    expect(route(b)).toEqual(route(a));
  });
});

import os from 'node:os';
import path from 'node:path';
import { workerLogPath, workerView } from '../../src/cluster/worker';
import { configFrom, tempDirsRemovedAfterAll } from '../helpers/relay';

const newDir = tempDirsRemovedAfterAll();

describe('workerView: the part of the config one worker runs', () => {
  const dir = newDir();
  const config = configFrom(
    {
      workers: 3,
      dataDir: 'state',
      selfMetrics: { prefix: 'carbon.relays.web1-a' },
      listen: { line: { tcp: { host: '127.0.0.1', port: 0 } }, http: { host: '127.0.0.1', port: 0 } },
      sources: [{ name: 'cp', type: 'catchpoint', clientId: 'id', clientSecret: 'secret', tests: { web: [1] } }],
      destinations: [{ name: 'out', type: 'file', file: 'out.txt' }],
      rules: [{ default: true, destinations: ['out'] }],
    },
    {},
    dir,
  );

  it('worker 0 keeps dataDir, the HTTP front door and the sources; every worker loses the admin listener', () => {
    const w0 = workerView(config, 0);
    expect(w0.admin).toBe(false);
    expect(w0.dataDir).toBe(path.join(dir, 'state'));
    expect(w0.listen.http).toEqual(config.listen.http);
    expect(w0.sources.map((s) => s.name)).toEqual(['cp']);
    expect(w0.selfMetrics.prefix).toBe('carbon.relays.web1-a-w0');
  });

  it('worker i > 0 runs the TCP/UDP receivers and the routing only, with its own spool directory', () => {
    const w2 = workerView(config, 2);
    expect(w2.admin).toBe(false);
    expect(w2.dataDir).toBe(path.join(dir, 'state', 'workers', '2'));
    expect(w2.listen.http).toBeUndefined();
    expect(w2.listen.line).toEqual(config.listen.line);
    expect(w2.sources).toEqual([]);
    expect(w2.rules).toBe(config.rules);
    expect(w2.destinations).toBe(config.destinations);
    expect(w2.selfMetrics.prefix).toBe('carbon.relays.web1-a-w2');
  });

  it('each worker writes (and rotates) its own log file beside the primary\'s', () => {
    expect(workerLogPath('/var/log/carbon-fanout/relay.log', 1)).toBe('/var/log/carbon-fanout/relay-w1.log');
    expect(workerLogPath('/var/log/relay', 0)).toBe('/var/log/relay-w0');
    const withLog = configFrom({ logFile: { path: 'relay.log' }, destinations: [{ name: 'o', type: 'file', file: '-' }], rules: [{ default: true, destinations: ['o'] }] }, {}, dir);
    expect(workerView(withLog, 2).logFile?.path).toBe(path.join(dir, 'relay-w2.log'));
    expect(workerView(withLog, 2).logFile?.maxSize).toBe(withLog.logFile?.maxSize);
  });

  it('workers defaults to auto: one per core', () => {
    expect(configFrom({ destinations: [{ name: 'o', type: 'file', file: '-' }], rules: [{ default: true, destinations: ['o'] }] }).workers).toBe(os.availableParallelism());
  });
});

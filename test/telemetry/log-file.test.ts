import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { main } from '../../src/cli';
import type { Relay } from '../../src/relay/relay';
import { createLogger } from '../../src/telemetry/logger';
import { captureIo } from '../helpers/cli-io';
import { tempDirsRemovedAfterAll } from '../helpers/relay';
import { sendTcp, waitFor } from '../helpers/sink';

const newDir = tempDirsRemovedAfterAll();

const jsonLines = (file: string): Record<string, unknown>[] =>
  fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('logFile', () => {
  it('rotates at maxSize, keeps maxFiles files, the configured name always the newest', async () => {
    const dir = newDir();
    const file = path.join(dir, 'relay.log');
    const log = createLogger({ level: 'info', json: false, file: { path: file, maxSize: 4096, maxFiles: 3, stderr: false } });
    // ~150 bytes a line, all in one tick (the burst winston's own File transport loses): over ten files' worth
    for (let i = 0; i < 300; i++) log.info('line', { i, pad: 'x'.repeat(40) });
    await new Promise<void>((r) => log.on('finish', r).end());
    await waitFor(() => fs.existsSync(file) && jsonLines(file).some((e) => e.i === 299), 'the last line in relay.log');
    expect(fs.readdirSync(dir).sort()).toEqual(['relay.log', 'relay.log.1', 'relay.log.2']);
    for (const f of ['relay.log', 'relay.log.1', 'relay.log.2']) expect(fs.statSync(path.join(dir, f)).size).toBeLessThanOrEqual(4096);
    // oldest first: relay.log.2, relay.log.1, relay.log hold the most recent lines, in order, none missing
    const kept = ['relay.log.2', 'relay.log.1', 'relay.log'].flatMap((f) => jsonLines(path.join(dir, f)));
    const numbers = kept.map((e) => e.i as number);
    expect(numbers).toEqual(Array.from({ length: numbers.length }, (_, k) => 300 - numbers.length + k));
    // each file full to within one line of maxSize: rotation happens at the size, not before
    expect(fs.statSync(path.join(dir, 'relay.log.1')).size).toBeGreaterThan(4096 - 200);
    expect(numbers.length).toBeGreaterThan(60);
    // JSON lines for machines even when stderr would be human-readable
    expect(kept[0]).toMatchObject({ level: 'info', message: 'line', service: 'carbon-fanout', timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
  });

  it('a relay started with logFile writes its log there (stderr: false: nothing on stderr), relative to the config file', async () => {
    const dir = newDir();
    const cfg = path.join(dir, 'relay.yaml');
    fs.writeFileSync(
      cfg,
      YAML.stringify({
        logFile: { path: 'logs/relay.log', maxSize: '1MiB', maxFiles: 2, stderr: false },
        listen: { line: { tcp: { host: '127.0.0.1', port: 0 } } },
        admin: false,
        selfMetrics: { interval: 0 },
        destinations: [{ name: 'f', file: 'out.txt' }],
        rules: [{ default: true, destinations: ['f'] }],
      }),
    );
    fs.mkdirSync(path.join(dir, 'logs'));
    let stop!: (s: string) => void;
    let relay: Relay | undefined;
    const io = { ...captureIo(), shutdown: new Promise<string>((r) => (stop = r)), onStarted: (r: Relay) => (relay = r) };
    const exit = main(['start', '-c', cfg], io);
    await waitFor(() => relay !== undefined, 'relay started');
    await sendTcp(relay!.listeners.line!.port, 'not a valid line\n');
    await waitFor(() => relay!.counters.invalidLines === 1, 'the bad line counted');
    stop('test');
    expect(await exit).toBe(0);
    const messages = jsonLines(path.join(dir, 'logs/relay.log')).map((e) => e.message);
    expect(messages).toEqual(expect.arrayContaining(['carbon-fanout started', expect.stringContaining('shutdown complete')]));
    expect(messages.some((m) => typeof m === 'string' && /invalid/i.test(m))).toBe(true);
    expect(io.err()).toBe('');
  });

  it('is checked at load: a directory in its place is a config error', async () => {
    const dir = newDir();
    fs.mkdirSync(path.join(dir, 'relay.log'));
    const cfg = path.join(dir, 'relay.yaml');
    fs.writeFileSync(cfg, 'logFile:\n  path: relay.log\ndestinations:\n  - {name: f, file: out.txt}\nrules:\n  - {default: true, destinations: [f]}\n');
    const io = captureIo();
    expect(await main(['check', '-c', cfg], io)).toBe(1);
    expect(io.err()).toBe(`config error: ${cfg}:2: logFile.path: cannot write to ${dir}/relay.log: it is a directory\n`);
  });
});

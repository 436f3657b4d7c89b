import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { main } from '../src/cli';
import { spoolDirectory } from '../src/output/kinds/spool-queue';
import { DatapointQueue } from '../src/output/queue';
import { Spool } from '../src/output/spool/spool';
import { silentLogger } from '../src/telemetry/logger';
import { captureIo, type CapturedIo } from './helpers/cli-io';
import { tempDirsRemovedAfterAll } from './helpers/relay';
import { flipByte, frameOffsets } from './output/spool/spool-helpers';

const ROOT = path.resolve(__dirname, '..');
const newDir = tempDirsRemovedAfterAll();

/** When the first test record was appended; each further record one second later. */
const T0 = 1_700_000_000_000;
/** The CLI's clock: a minute after the first record. */
const NOW = T0 + 60_000;
/** Small segments so the spool spans two files. */
const SEGMENT_BYTES = 4096;

/**
 * Names of 6 bytes: a datapoint is 2 + 6 + 16 = 24 bytes, a record of 10 is
 * 8 (frame) + 12 (payload head) + 240 = 260 bytes. 20 records: 56 + 16 x 260 =
 * 4216 bytes fill the first segment (it rolls once past 4096), the other 4
 * records make a second of 56 + 4 x 260 = 1096.
 */
const RECORD_BYTES = 260;
const FIRST_SEGMENT_BYTES = 56 + 16 * RECORD_BYTES;
const SECOND_SEGMENT_BYTES = 56 + 4 * RECORD_BYTES;
const TOTAL_BYTES = FIRST_SEGMENT_BYTES + SECOND_SEGMENT_BYTES;

interface Fixture {
  /** The config file (dataDir: data, beside it). */
  cfg: string;
  /** The spool directory of destination `web`. */
  spoolDir: string;
}

function openSpool(dir: string, now = (): number => NOW): Spool {
  return Spool.open({ dir, segmentBytes: SEGMENT_BYTES, maxBytes: 1024 ** 3, maxAgeMs: 0, minFreeBytes: 0, whenFull: 'drop_oldest' }, { log: silentLogger(), now });
}

/**
 * A config with a spooled network destination `web` and, unless `records` is
 * 0, a spool for it built on disk: `records` records of 10 datapoints, one a
 * second from T0, of which the first `acked` were delivered.
 */
function fixture(opts: { records?: number; acked?: number } = {}): Fixture {
  const dir = newDir();
  const cfg = path.join(dir, 'relay.yaml');
  fs.writeFileSync(
    cfg,
    YAML.stringify({
      dataDir: 'data',
      selfMetrics: { interval: 0 },
      destinations: [
        { name: 'web', host: '127.0.0.1', port: 2004 },
        { name: 'quiet', host: '127.0.0.1', port: 2005, spool: { mode: 'off' } },
        { name: 'archive', file: 'out.txt' },
      ],
      groups: [{ name: 'ring', type: 'carbon_ch', members: ['web'] }],
      rules: [{ default: true, destinations: ['web', 'archive'] }],
    }),
  );
  const spoolDir = spoolDirectory(path.join(dir, 'data'), 'web');
  const records = opts.records ?? 20;
  if (records > 0) {
    let t = T0;
    const spool = openSpool(spoolDir, () => t);
    for (let r = 0; r < records; r++, t += 1000) {
      const q = new DatapointQueue(10);
      for (let k = 0; k < 10; k++) q.push(`m.${String(r * 10 + k).padStart(4, '0')}`, 1_700_000_000 + r, k / 4);
      expect(spool.append(q, 0, q.length)).toBe('written');
    }
    for (let r = 0; r < (opts.acked ?? 0); r++) spool.ack(spool.readNext()!.id);
    spool.close();
  }
  return { cfg, spoolDir };
}

const io = (stdin?: string): CapturedIo => ({ ...captureIo({ stdin, silent: true }), now: () => NOW });

/** Every file of a directory with its bytes: what "changed nothing" is checked against. */
function snapshot(dir: string): Record<string, string> {
  return Object.fromEntries(
    fs
      .readdirSync(dir)
      .sort()
      .map((f) => [f, fs.readFileSync(path.join(dir, f)).toString('base64')]),
  );
}

function pendingOnDisk(dir: string): number {
  const s = openSpool(dir);
  try {
    return s.pendingDatapoints;
  } finally {
    s.close();
  }
}

const firstSegment = (dir: string): string => path.join(dir, '0000000000000001.seg');

describe('carbon-fanout spool inspect', () => {
  it('prints the directory, sizes, pending datapoints and the oldest unacknowledged record, one key a line', async () => {
    // 2 records acknowledged: the cursor sits inside the first segment, and the oldest pending record is the third (T0 + 2 s)
    const f = fixture({ acked: 2 });
    const t = io();
    expect(await main(['spool', 'inspect', '-c', f.cfg, 'web'], t)).toBe(0);
    expect(t.out()).toBe(
      [
        `directory: ${f.spoolDir}`,
        `bytes: ${TOTAL_BYTES}`,
        'segments: 2',
        'bad segments: 0',
        'pending datapoints: 180',
        'oldest record age seconds: 58',
        'oldest record appended at: 2023-11-14T22:13:22.000Z',
        'locked: no',
        '',
      ].join('\n'),
    );
    expect(t.err()).toBe('');
    expect(TOTAL_BYTES).toBe(5312);
    expect(fs.readdirSync(f.spoolDir).filter((n) => n.endsWith('.seg')).map((n) => fs.statSync(path.join(f.spoolDir, n)).size)).toEqual([FIRST_SEGMENT_BYTES, SECOND_SEGMENT_BYTES]);
    // the lock was released: a relay (here, a Spool) can open it
    expect(pendingOnDisk(f.spoolDir)).toBe(180);
  });

  it('reports sizes from the files while a relay holds the lock, without taking it over', async () => {
    const f = fixture();
    const relay = openSpool(f.spoolDir);
    try {
      const t = io();
      expect(await main(['spool', 'inspect', '-c', f.cfg, 'web'], t)).toBe(0);
      expect(t.out()).toBe(
        [
          `directory: ${f.spoolDir}`,
          'bytes: 5312',
          'segments: 2',
          'bad segments: 0',
          'pending datapoints: unknown',
          'oldest record age seconds: unknown',
          'oldest record appended at: unknown',
          `locked: yes, by process ${process.pid}`,
          '',
        ].join('\n'),
      );
      // still the relay's: it keeps working
      expect(relay.readNext()?.length).toBe(10);
    } finally {
      relay.close();
    }
  });

  it('a destination that has not spooled yet reads as empty, and its directory is not created', async () => {
    const f = fixture({ records: 0 });
    const t = io();
    expect(await main(['spool', 'inspect', '-c', f.cfg, 'web'], t)).toBe(0);
    expect(t.out()).toBe(
      [
        `directory: ${f.spoolDir}`,
        'bytes: 0',
        'segments: 0',
        'bad segments: 0',
        'pending datapoints: 0',
        'oldest record age seconds: -',
        'oldest record appended at: -',
        'locked: no',
        '',
      ].join('\n'),
    );
    expect(fs.existsSync(f.spoolDir)).toBe(false);
  });
});

describe('carbon-fanout spool verify', () => {
  it('reads every pending record, exits 0 when clean, and changes nothing', async () => {
    const f = fixture({ acked: 2 });
    const before = snapshot(f.spoolDir);
    const t = io();
    expect(await main(['spool', 'verify', '-c', f.cfg, 'web'], t)).toBe(0);
    expect(t.out()).toBe([`directory: ${f.spoolDir}`, 'records checked: 18', 'datapoints: 180', 'corrupt records: 0', 'bad segments: 0', ''].join('\n'));
    expect(snapshot(f.spoolDir)).toEqual(before);
    expect(pendingOnDisk(f.spoolDir)).toBe(180);
  });

  it('a flipped payload byte: exit 1, one corrupt record; nothing moves, so a second verify finds it again', async () => {
    const f = fixture({ acked: 2 });
    flipByte(firstSegment(f.spoolDir), frameOffsets(firstSegment(f.spoolDir))[5] + 8 + 20);
    const before = snapshot(f.spoolDir);
    const expected = [`directory: ${f.spoolDir}`, 'records checked: 18', 'datapoints: 170', 'corrupt records: 1', 'bad segments: 0', ''].join('\n');
    for (let run = 0; run < 2; run++) {
      const t = io();
      expect(await main(['spool', 'verify', '-c', f.cfg, 'web'], t)).toBe(1);
      expect(t.out()).toBe(expected);
    }
    expect(snapshot(f.spoolDir)).toEqual(before);
    // the corrupt record's datapoints stay pending until the relay's cursor passes them
    expect(pendingOnDisk(f.spoolDir)).toBe(180);
  });

  it('a spool whose only pending record is corrupt is reported, not emptied (Spool.readNext would skip and delete it)', async () => {
    const f = fixture({ records: 1 });
    flipByte(firstSegment(f.spoolDir), frameOffsets(firstSegment(f.spoolDir))[0] + 8 + 20);
    const before = snapshot(f.spoolDir);
    for (let run = 0; run < 2; run++) {
      const t = io();
      expect(await main(['spool', 'verify', '-c', f.cfg, 'web'], t)).toBe(1);
      expect(t.out()).toBe([`directory: ${f.spoolDir}`, 'records checked: 1', 'datapoints: 0', 'corrupt records: 1', 'bad segments: 0', ''].join('\n'));
    }
    expect(snapshot(f.spoolDir)).toEqual(before);
    expect(pendingOnDisk(f.spoolDir)).toBe(10);
  });

  it('an unreadable segment is quarantined by recovery and counted as a bad segment: exit 1', async () => {
    const f = fixture();
    flipByte(path.join(f.spoolDir, '0000000000000002.seg'), 0);
    const t = io();
    expect(await main(['spool', 'verify', '-c', f.cfg, 'web'], t)).toBe(1);
    expect(t.out()).toBe([`directory: ${f.spoolDir}`, 'records checked: 16', 'datapoints: 160', 'corrupt records: 0', 'bad segments: 1', ''].join('\n'));
    const i = io();
    expect(await main(['spool', 'inspect', '-c', f.cfg, 'web'], i)).toBe(0);
    expect(i.out()).toContain(`bytes: ${FIRST_SEGMENT_BYTES}\nsegments: 1\nbad segments: 1\npending datapoints: 160\n`);
  });

  it('refuses while a relay holds the spool, naming its pid', async () => {
    const f = fixture();
    const relay = openSpool(f.spoolDir);
    try {
      const t = io();
      expect(await main(['spool', 'verify', '-c', f.cfg, 'web'], t)).toBe(1);
      expect(t.out()).toBe('');
      expect(t.err()).toBe(`spool verify: web: the spool is in use by process ${process.pid} (a running relay); stop it first\n`);
    } finally {
      relay.close();
    }
  });
});

describe('carbon-fanout spool drop', () => {
  const question = 'drop 180 datapoints (5312 bytes) queued for web? [y/N] ';

  it('asks, and on "y" deletes every segment and reports what it removed', async () => {
    const f = fixture({ acked: 2 });
    const t = io('y\n');
    expect(await main(['spool', 'drop', '-c', f.cfg, 'web'], t)).toBe(0);
    expect(t.out()).toBe(`${question}dropped 180 datapoints (5312 bytes, 2 segments) queued for web\n`);
    // left: the cursor (past the end, as after a delivered backlog); the lock was released
    expect(fs.readdirSync(f.spoolDir)).toEqual(['cursor']);
    expect(pendingOnDisk(f.spoolDir)).toBe(0);
    const i = io();
    expect(await main(['spool', 'inspect', '-c', f.cfg, 'web'], i)).toBe(0);
    expect(i.out()).toContain('bytes: 0\nsegments: 0\nbad segments: 0\npending datapoints: 0\noldest record age seconds: -\n');
  });

  it('on "n" (or no answer at all) removes nothing and exits 1', async () => {
    const f = fixture({ acked: 2 });
    const before = snapshot(f.spoolDir);
    for (const answer of ['n\n', 'yes please\n', '']) {
      const t = io(answer);
      expect(await main(['spool', 'drop', '-c', f.cfg, 'web'], t)).toBe(1);
      expect(t.out()).toBe(`${question}not dropped\n`);
      expect(snapshot(f.spoolDir)).toEqual(before);
    }
    expect(pendingOnDisk(f.spoolDir)).toBe(180);
  });

  it('--yes drops without asking (stdin is not read)', async () => {
    const f = fixture();
    const t = io('n\n');
    expect(await main(['spool', 'drop', '-c', f.cfg, 'web', '--yes'], t)).toBe(0);
    expect(t.out()).toBe('dropped 200 datapoints (5312 bytes, 2 segments) queued for web\n');
    expect(pendingOnDisk(f.spoolDir)).toBe(0);
  });

  it('drops corrupt records too, and leaves quarantined .bad files for an operator', async () => {
    const f = fixture();
    flipByte(firstSegment(f.spoolDir), frameOffsets(firstSegment(f.spoolDir))[15] + 8 + 20);
    flipByte(path.join(f.spoolDir, '0000000000000002.seg'), 0);
    const t = io();
    expect(await main(['spool', 'drop', '--yes', '-c', f.cfg, 'web'], t)).toBe(0);
    expect(t.out()).toBe(
      'dropped 160 datapoints (4216 bytes, 1 segment) queued for web\n' +
        'kept 1 .seg.bad file (quarantined damage, not part of the spool): remove them once examined\n',
    );
    expect(fs.readdirSync(f.spoolDir).sort()).toEqual(['0000000000000002.seg.bad', 'cursor']);
  });

  it('with nothing spooled, says so without asking', async () => {
    const f = fixture({ records: 0 });
    const t = io('y\n');
    expect(await main(['spool', 'drop', '-c', f.cfg, 'web'], t)).toBe(0);
    expect(t.out()).toBe('nothing queued for web\n');
    expect(fs.existsSync(f.spoolDir)).toBe(false);
  });

  it('refuses while a relay holds the spool: nothing asked, nothing removed', async () => {
    const f = fixture();
    const before = snapshot(f.spoolDir);
    const relay = openSpool(f.spoolDir);
    try {
      const t = io('y\n');
      expect(await main(['spool', 'drop', '-c', f.cfg, 'web'], t)).toBe(1);
      expect(t.out()).toBe('');
      expect(t.err()).toBe(`spool drop: web: the spool is in use by process ${process.pid} (a running relay); stop it first\n`);
      expect(relay.pendingDatapoints).toBe(200);
    } finally {
      relay.close();
    }
    expect(snapshot(f.spoolDir)).toEqual(before);
  });
});

describe('carbon-fanout spool: errors', () => {
  const spoolLines = ' (destinations with a spool: web)\n';

  it.each([
    ['nope', 'unknown destination "nope"'],
    ['archive', 'destination "archive" is a file destination; only network (carbon, kafka) destinations have a spool'],
    ['ring', '"ring" is a group; name one of its members'],
  ])('%s: not a network destination, exit 2', async (dest, message) => {
    const f = fixture({ records: 0 });
    for (const action of ['inspect', 'verify', 'drop']) {
      const t = io('y\n');
      expect(await main(['spool', action, '-c', f.cfg, dest], t)).toBe(2);
      expect(t.err()).toBe(`spool ${action}: ${message}${spoolLines}`);
      expect(t.out()).toBe('');
    }
  });

  it('a network destination without a spool (mode off, or no dataDir): config error, exit 1', async () => {
    const f = fixture({ records: 0 });
    const off = io();
    expect(await main(['spool', 'inspect', '-c', f.cfg, 'quiet'], off)).toBe(1);
    expect(off.err()).toBe('spool inspect: destination "quiet" has no spool: its spool.mode is off\n');
    // carbon.conf has no data directory, so nothing read from it has a spool (same config path as the other commands)
    const carbon = io();
    expect(await main(['spool', 'verify', '--carbon-conf', path.join(ROOT, 'test/fixtures/carbon/rules/carbon.conf'), '127.0.0.1:2004:a'], carbon)).toBe(1);
    expect(carbon.err()).toBe('spool verify: destination "127.0.0.1:2004:a" has no spool: the config sets no dataDir\n');
  });

  it.each([
    [['spool', '-c', 'x.yaml'], 'spool: inspect, verify or drop is required'],
    [['spool', 'purge', '-c', 'x.yaml', 'web'], 'spool: unknown action "purge" (inspect, verify or drop)'],
    [['spool', 'inspect', '-c', 'x.yaml'], 'spool: inspect needs one destination name (DEST)'],
    [['spool', 'drop', '-c', 'x.yaml', 'a', 'b'], 'spool: drop takes one destination name, got 2'],
    [['spool', 'verify', '-c', 'x.yaml', 'web', '--yes'], 'spool: --yes is only for spool drop'],
    [['spool', 'inspect', 'web'], 'spool: -c FILE (or --carbon-conf FILE) is required'],
  ])('usage errors exit 2 before reading the config: %j', async (argv, message) => {
    const t = io();
    expect(await main(argv, t)).toBe(2);
    expect(t.err().split('\n')[0]).toBe(message);
    expect(t.err()).toContain('carbon-fanout spool inspect|verify|drop -c FILE DEST [--yes]');
  });
});

import fs, { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StateFile, type StateCheck } from '../../src/sources/state-file';
import { captureLog } from '../helpers/capture-log';

interface Pos {
  at: number;
}

const checkPos = (data: unknown): StateCheck<Pos> =>
  typeof data === 'object' && data !== null && typeof (data as { at?: unknown }).at === 'number' ? { ok: true, value: { at: (data as Pos).at } } : { ok: false, reason: 'no "at" number' };

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cf-test-state-file-'));
});
afterEach(() => {
  jest.restoreAllMocks();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function stateFile(dir = path.join(tmp, 'sources', 'x')) {
  const { log, entries } = captureLog();
  return { file: new StateFile<Pos>({ dir, name: 'state.json', check: checkPos, log, context: { source: 'x' } }), entries, dir };
}

describe('StateFile', () => {
  it('missing: load gives undefined, logs nothing, creates nothing', async () => {
    const { file, entries } = stateFile();
    expect(await file.load()).toBeUndefined();
    expect(entries).toEqual([]);
    expect(fs.readdirSync(tmp)).toEqual([]);
  });

  it('save creates the directory with its parents; load in a new object reads what was saved', async () => {
    const { file, dir } = stateFile();
    expect(await file.save({ at: 5 })).toBe(true);
    expect(fs.readdirSync(dir)).toEqual(['state.json']);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8'))).toEqual({ at: 5 });
    expect(await stateFile(dir).file.load()).toEqual({ at: 5 });
  });

  it('replaces atomically: writes <file>.tmp, fsyncs it, renames it over the file, then fsyncs the directory', async () => {
    const { file, dir } = stateFile();
    await file.save({ at: 1 }); // directory made
    const events: string[] = [];
    const fdPath = new Map<number, string>();
    const realOpen = fsp.open.bind(fsp);
    const probe = await realOpen(path.join(dir, 'state.json'), 'r');
    const proto = Object.getPrototypeOf(probe) as fs.promises.FileHandle;
    await probe.close();
    jest.spyOn(fsp, 'open').mockImplementation(async (p, flags, mode) => {
      const fh = await realOpen(p, flags, mode);
      fdPath.set(fh.fd, String(p));
      events.push(`open ${path.relative(tmp, String(p))} ${String(flags)}`);
      return fh;
    });
    const realSync = proto.sync;
    jest.spyOn(proto, 'sync').mockImplementation(async function (this: fs.promises.FileHandle) {
      events.push(`fsync ${path.relative(tmp, fdPath.get(this.fd) ?? '?')}`);
      return realSync.call(this);
    });
    const realRename = fsp.rename.bind(fsp);
    jest.spyOn(fsp, 'rename').mockImplementation(async (a, b) => {
      events.push(`rename ${path.relative(tmp, String(a))} ${path.relative(tmp, String(b))}`);
      return realRename(a, b);
    });
    await file.save({ at: 2 });
    expect(events).toEqual([
      'open sources/x/state.json.tmp w',
      'fsync sources/x/state.json.tmp',
      'rename sources/x/state.json.tmp sources/x/state.json',
      'open sources/x r',
      'fsync sources/x',
    ]);
    expect(fs.readdirSync(dir)).toEqual(['state.json']);
  });

  it('a value equal to the last saved (or loaded) one is not written again', async () => {
    const { file, dir } = stateFile();
    expect(await file.save({ at: 1 })).toBe(true);
    expect(await file.save({ at: 1 })).toBe(false);
    expect(await file.save({ at: 2 })).toBe(true);
    const again = stateFile(dir).file;
    expect(await again.load()).toEqual({ at: 2 });
    expect(await again.save({ at: 2 })).toBe(false);
  });

  it.each([
    ['not JSON', '{"at":', /^not JSON: /],
    ['refused by the check', '{"at":"soon"}', /^no "at" number$/],
  ])('corrupt (%s): renamed <file>.bad (replacing an older one), a warning, undefined', async (_what, text, reason) => {
    const { file, entries, dir } = stateFile();
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'state.json.bad'), 'older');
    fs.writeFileSync(path.join(dir, 'state.json'), text);
    expect(await file.load()).toBeUndefined();
    expect(fs.readdirSync(dir)).toEqual(['state.json.bad']);
    expect(fs.readFileSync(path.join(dir, 'state.json.bad'), 'utf8')).toBe(text);
    expect(entries).toEqual([
      expect.objectContaining({
        level: 'warn',
        message: 'source state file is corrupt: renamed to .bad; starting without it',
        source: 'x',
        file: path.join(dir, 'state.json'),
        renamedTo: path.join(dir, 'state.json.bad'),
        reason: expect.stringMatching(reason),
      }),
    ]);
    await file.save({ at: 3 }); // and the next save writes a good one
    expect(await stateFile(dir).file.load()).toEqual({ at: 3 });
  });

  it('a failed save throws and leaves the old file in place', async () => {
    const { file, dir } = stateFile();
    await file.save({ at: 1 });
    jest.spyOn(fsp, 'rename').mockRejectedValueOnce(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }));
    await expect(file.save({ at: 2 })).rejects.toThrow('EIO');
    expect(await stateFile(dir).file.load()).toEqual({ at: 1 });
    expect(await file.save({ at: 2 })).toBe(true); // not taken as saved
  });
});

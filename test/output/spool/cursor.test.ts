import fs from 'node:fs';
import path from 'node:path';
import { readCursor, writeCursor } from '../../../src/output/spool/cursor';
import { tempDirsRemovedAfterAll } from '../../helpers/relay';

const newDir = tempDirsRemovedAfterAll();

describe('cursor file', () => {
  it('round-trips and is replaced atomically (no tmp file left)', () => {
    const dir = newDir();
    expect(readCursor(dir)).toEqual({ kind: 'missing' });
    writeCursor(dir, { seq: 7, offset: 4096, done: 120 });
    writeCursor(dir, { seq: 2 ** 40, offset: 56, done: 0 });
    expect(readCursor(dir)).toEqual({ kind: 'ok', cursor: { seq: 2 ** 40, offset: 56, done: 0 } });
    expect(fs.readdirSync(dir)).toEqual(['cursor']);
  });

  it.each([
    ['truncated', (b: Buffer) => b.subarray(0, 20), /not a cursor/],
    ['bit flip', (b: Buffer) => Buffer.from(b).fill(9, 10, 11), /checksum/],
    ['other file', () => Buffer.from('hello world, this is not a cursor file'), /not a cursor/],
  ])('a %s cursor reads as bad', (_label, damage, reason) => {
    const dir = newDir();
    writeCursor(dir, { seq: 3, offset: 100, done: 5 });
    const file = path.join(dir, 'cursor');
    fs.writeFileSync(file, damage(fs.readFileSync(file)));
    const r = readCursor(dir);
    expect(r.kind).toBe('bad');
    if (r.kind === 'bad') expect(r.reason).toMatch(reason);
  });
});

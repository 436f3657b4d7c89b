import { NameInterner } from '../../src/codec/name-interner';
import { decodeLine, LineVerdict } from '../../src/codec/line-decoder';
import { PickleDecoder } from '../../src/codec/pickle-decoder';
import { MetricBatch } from '../../src/model/metric';

const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');

describe('NameInterner', () => {
  it('returns the same string object for the same bytes, wherever they sit', () => {
    const names = new NameInterner(10);
    const a = names.intern(bytes('xx servers.a.cpu yy'), 3, 16);
    const b = names.intern(bytes('servers.a.cpu'), 0, 13);
    expect(a).toBe('servers.a.cpu');
    expect(Object.is(a, b)).toBe(true);
    expect(names.size).toBe(1);
  });

  it('tells apart names that differ in one byte or in length, and names whose hashes collide in a slot', () => {
    const names = new NameInterner(4);
    const all = ['a.b', 'a.c', 'a.b.', 'b.a', ''];
    const got = all.map((s) => names.intern(bytes(s), 0, s.length));
    expect(got).toEqual(all);
    // every one found again by its own bytes
    for (const s of all) expect(names.intern(bytes(s), 0, s.length)).toBe(s);
  });

  it('holds at most capacity names: the next new one starts the table over', () => {
    const names = new NameInterner(3);
    for (const s of ['n1', 'n2', 'n3']) names.intern(bytes(s), 0, 2);
    expect(names.size).toBe(3);
    expect(names.intern(bytes('n4'), 0, 2)).toBe('n4');
    expect(names.size).toBe(1);
    expect(names.intern(bytes('n1'), 0, 2)).toBe('n1');
    expect(names.size).toBe(2);
  });

  it('finds every name again after its table grew (a lost name would be added twice and counted twice)', () => {
    const names = new NameInterner(100_000);
    const all = Array.from({ length: 5000 }, (_, i) => `servers.host${i % 97}.metric${i}`);
    for (const s of all) names.intern(bytes(s), 0, s.length);
    expect(names.size).toBe(5000);
    for (const s of all) expect(names.intern(bytes(`  ${s}`), 2, s.length + 2)).toBe(s);
    expect(names.size).toBe(5000);
  });

  it('decodes names longer than it keeps without holding them', () => {
    const names = new NameInterner(10);
    const long = 'x'.repeat(300);
    expect(names.intern(bytes(long), 0, 300)).toBe(long);
    expect(names.size).toBe(0);
  });

  it('feeds decodeLine: a repeated line yields the one string, and non-ASCII names still decode strictly', () => {
    const names = new NameInterner(10);
    const batch = new MetricBatch(4);
    const line = bytes('foo.bar 1 100');
    expect(decodeLine(line, 0, line.length, batch, 0, false, names)).toBe(LineVerdict.Ok);
    expect(decodeLine(Buffer.from(line), 0, line.length, batch, 0, false, names)).toBe(LineVerdict.Ok);
    expect(Object.is(batch.names[0], batch.names[1])).toBe(true);
    const utf8 = Buffer.from('café.temp 2 100', 'utf8');
    expect(decodeLine(utf8, 0, utf8.length, batch, 0, false, names)).toBe(LineVerdict.Ok);
    expect(batch.names[2]).toBe('café.temp');
    const bad = Buffer.concat([bytes('bad'), Buffer.from([0xff]), bytes(' 1 100')]);
    expect(decodeLine(bad, 0, bad.length, batch, 0, false, names)).toBe(LineVerdict.Malformed);
    expect(names.size).toBe(1);
  });

  it('feeds the pickle decoder: ASCII strings interned, others validated as UTF-8', () => {
    const names = new NameInterner(10);
    const decoder = new PickleDecoder({ names });
    // pickle.dumps([('a.b', (100.0, 1.0)), ('é', (100.0, 2.0))], protocol=2) without memo
    const item = (name: Buffer, v: number): Buffer => {
      const f = Buffer.alloc(18);
      f[0] = 0x47;
      f.writeDoubleBE(100, 1);
      f[9] = 0x47;
      f.writeDoubleBE(v, 10);
      const len = Buffer.alloc(4);
      len.writeUInt32LE(name.length);
      return Buffer.concat([Buffer.from([0x58]), len, name, f, Buffer.from([0x86, 0x86])]);
    };
    const frame = Buffer.concat([Buffer.from([0x80, 2, 0x5d, 0x28]), item(bytes('a.b'), 1), item(Buffer.from('é', 'utf8'), 2), Buffer.from([0x65, 0x2e])]);
    const batch = new MetricBatch(4);
    decoder.decode(frame, batch, 0);
    decoder.decode(frame, batch, 0);
    expect(batch.names.slice(0, 4)).toEqual(['a.b', 'é', 'a.b', 'é']);
    expect(Object.is(batch.names[0], batch.names[2])).toBe(true);
    expect(names.size).toBe(1);
    const invalid = Buffer.from(frame);
    invalid[frame.indexOf(Buffer.from('é', 'utf8'))] = 0xff;
    expect(() => decoder.decode(invalid, new MetricBatch(4), 0)).toThrow(/not valid UTF-8/);
  });
});

describe('decodeLine with an interner (its one-pass path for the common shape)', () => {
  /** Lines built from the characters that decide between the paths: digits, signs, points, exponents, separators, DEL, non-ASCII. */
  function randomLines(count: number): Buffer[] {
    let seed = 424242;
    const rand = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    const pieces = ['a', 'b.c', '0', '1', '5', '9', '.', '-', '+', 'e', 'E', '_', ' ', ' ', ' ', '  ', '\t', '\r', '\x1f', '\x7f', '\u00e9', 'inf', 'nan', '-1', '1700000000', '123456789012345', '1234567890123456'];
    const out: Buffer[] = [];
    for (let k = 0; k < count; k++) {
      // mostly near the common shape, so both sides of each check are taken
      const field = (): string => {
        let s = '';
        const n = 1 + rand(4);
        for (let j = 0; j < n; j++) s += pieces[rand(pieces.length)];
        return s;
      };
      const shape = rand(4);
      const text = shape === 0 ? `${field()}${field()}` : shape === 1 ? `m.x ${rand(100000) / 1000} ${1700000000 + rand(100)}` : `${field()} ${field()} ${field()}`;
      out.push(Buffer.from(text, 'utf8'));
    }
    return out;
  }

  it('decodes every line exactly as the general decoder does: verdict, name, value and timestamp (sign of zero included)', () => {
    const names = new NameInterner(1000);
    const wrong: string[] = [];
    for (const line of randomLines(30_000)) {
      for (const optional of [false, true]) {
        const fast = new MetricBatch(1);
        const general = new MetricBatch(1);
        const a = decodeLine(line, 0, line.length, fast, 1234.5, optional, names);
        const b = decodeLine(line, 0, line.length, general, 1234.5, optional);
        const same =
          a === b &&
          fast.length === general.length &&
          (fast.length === 0 || (fast.names[0] === general.names[0] && Object.is(fast.values[0], general.values[0]) && Object.is(fast.timestamps[0], general.timestamps[0])));
        if (!same) wrong.push(JSON.stringify(line.toString('utf8')));
      }
    }
    expect(wrong.slice(0, 20)).toEqual([]);
  });
});

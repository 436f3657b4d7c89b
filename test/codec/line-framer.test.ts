import { LineFramer, type LineHandler } from '../../src/codec/line-framer';

/** Records what the framer hands out, copying (the buffers are only valid during the call). */
class Recorder implements LineHandler {
  readonly events: string[] = [];
  readonly oversizedHeads: Buffer[] = [];

  onLine(buf: Buffer, start: number, end: number): void {
    this.events.push(`line:${buf.toString('latin1', start, end)}`);
  }

  onOversizedLine(head: Buffer): void {
    this.oversizedHeads.push(Buffer.from(head));
    this.events.push(`oversized:${head.length}`);
  }
}

function framer(maxLength: number): { f: LineFramer; r: Recorder } {
  const r = new Recorder();
  return { f: new LineFramer(maxLength, r), r };
}

/** Feed `text` cut at the given offsets. */
function feed(f: LineFramer, text: string, cuts: number[] = []): void {
  let prev = 0;
  for (const c of [...cuts, text.length]) {
    f.push(Buffer.from(text.slice(prev, c), 'latin1'));
    prev = c;
  }
}

describe('LineFramer: splitting', () => {
  it('delivers every complete line of one chunk, without the \\n', () => {
    const { f, r } = framer(100);
    feed(f, 'a 1 2\nb 3 4\r\n\nc 5 6\n');
    expect(r.events).toEqual(['line:a 1 2', 'line:b 3 4\r', 'line:', 'line:c 5 6']);
    expect(f.pendingBytes).toBe(0);
  });

  it('joins lines split across chunks at every possible offset', () => {
    const text = 'first 1 2\nsecond.line 3 4\nthird 5 6\n';
    for (let cut = 0; cut <= text.length; cut++) {
      const { f, r } = framer(100);
      feed(f, text, [cut]);
      expect(r.events).toEqual(['line:first 1 2', 'line:second.line 3 4', 'line:third 5 6']);
      expect(f.pendingBytes).toBe(0);
    }
  });

  it('joins a line spread over many one-byte chunks', () => {
    const { f, r } = framer(100);
    const text = 'abc.def 1 2\nxyz 3 4\n';
    feed(f, text, Array.from({ length: text.length }, (_, i) => i));
    expect(r.events).toEqual(['line:abc.def 1 2', 'line:xyz 3 4']);
  });

  it('holds an unterminated final line and never delivers it by itself', () => {
    const { f, r } = framer(100);
    feed(f, 'a 1 2\npartial 3');
    expect(r.events).toEqual(['line:a 1 2']);
    expect(f.pendingBytes).toBe('partial 3'.length);
    feed(f, ' 4');
    expect(f.pendingBytes).toBe('partial 3 4'.length);
    feed(f, '\n');
    expect(r.events).toEqual(['line:a 1 2', 'line:partial 3 4']);
    expect(f.pendingBytes).toBe(0);
  });

  it('does not keep a reference to the pushed chunk for the pending tail', () => {
    const { f, r } = framer(100);
    const chunk = Buffer.from('a 1 2\nb 3');
    f.push(chunk);
    chunk.fill(0x7a); // the socket reuses its buffer
    f.push(Buffer.from(' 4\n'));
    expect(r.events).toEqual(['line:a 1 2', 'line:b 3 4']);
  });
});

describe('LineFramer: the length limit (bytes, not counting \\n)', () => {
  const MAX = 16;
  const exact = 'n'.repeat(MAX);
  const over = 'o'.repeat(MAX + 1);

  it.each<[string, number[]]>([
    ['in one chunk', []],
    ['split before the \\n', [MAX]],
    ['split in the middle', [7]],
    ['split right after the start', [1]],
  ])('accepts a line of exactly maxLength bytes %s', (_label, cuts) => {
    const { f, r } = framer(MAX);
    feed(f, `${exact}\nnext 1 2\n`, cuts);
    expect(r.events).toEqual([`line:${exact}`, 'line:next 1 2']);
  });

  it('holds exactly maxLength pending bytes while waiting for the \\n', () => {
    const { f, r } = framer(MAX);
    feed(f, exact);
    expect(f.pendingBytes).toBe(MAX);
    expect(r.events).toEqual([]);
    feed(f, '\n');
    expect(r.events).toEqual([`line:${exact}`]);
  });

  it.each<[string, number[]]>([
    ['in one chunk', []],
    ['split before the \\n', [MAX + 1]],
    ['split at maxLength', [MAX]],
    ['split in the middle', [5]],
    ['split after the \\n', [MAX + 2]],
  ])('discards a line of maxLength+1 bytes %s and still delivers the next line', (_label, cuts) => {
    const { f, r } = framer(MAX);
    feed(f, `ok 1 2\n${over}\nnext 3 4\n`, cuts.map((c) => c + 'ok 1 2\n'.length));
    expect(r.events.filter((e) => e.startsWith('line:'))).toEqual(['line:ok 1 2', 'line:next 3 4']);
    expect(r.events.filter((e) => e.startsWith('oversized:'))).toHaveLength(1);
    expect(r.events.indexOf('line:ok 1 2')).toBeLessThan(r.events.findIndex((e) => e.startsWith('oversized:')));
    expect(f.pendingBytes).toBe(0);
  });

  it('reports the head of the oversized line (at most 200 bytes)', () => {
    const { f, r } = framer(300);
    const line = Array.from({ length: 400 }, (_, i) => String.fromCharCode(0x41 + (i % 26))).join('');
    feed(f, `${line}\n`);
    expect(r.oversizedHeads.map((h) => h.toString('latin1'))).toEqual([line.slice(0, 200)]);
  });

  it('an oversized line spanning many chunks is reported once and never buffered past the limit', () => {
    const { f, r } = framer(MAX);
    let maxPending = 0;
    f.push(Buffer.from('a 1 2\nbbbbbbbbbb'));
    maxPending = Math.max(maxPending, f.pendingBytes);
    for (let i = 0; i < 1000; i++) {
      f.push(Buffer.from('x'.repeat(97)));
      maxPending = Math.max(maxPending, f.pendingBytes);
    }
    expect(maxPending).toBeLessThanOrEqual(MAX);
    expect(f.pendingBytes).toBe(0); // discarding, nothing held
    f.push(Buffer.from('tail of the long line\nc 3 4\nd'));
    expect(r.events).toEqual(['line:a 1 2', 'oversized:10', 'line:c 3 4']);
    expect(r.oversizedHeads[0].toString()).toBe('bbbbbbbbbb');
    expect(f.pendingBytes).toBe(1);
  });

  it('a chunk that alone exceeds the limit without a \\n starts discarding', () => {
    const { f, r } = framer(MAX);
    f.push(Buffer.from('z'.repeat(MAX + 1)));
    expect(f.pendingBytes).toBe(0);
    f.push(Buffer.from('zzz\nok 1 2\n'));
    expect(r.events).toEqual(['oversized:17', 'line:ok 1 2']);
  });

  it('pending bytes plus the next chunk exceeding the limit are reported with the pending head', () => {
    const { f, r } = framer(MAX);
    f.push(Buffer.from('p'.repeat(10)));
    f.push(Buffer.from('q'.repeat(7)));
    expect(f.pendingBytes).toBe(0);
    expect(r.oversizedHeads.map((h) => h.toString())).toEqual(['p'.repeat(10)]);
    f.push(Buffer.from('\nok 1 2\n'));
    expect(r.events).toEqual(['oversized:10', 'line:ok 1 2']);
  });

  it('pending bytes plus a chunk whose \\n makes the line too long is reported once', () => {
    const { f, r } = framer(MAX);
    f.push(Buffer.from('p'.repeat(10)));
    f.push(Buffer.from(`${'q'.repeat(7)}\nok 1 2\n`));
    expect(r.events).toEqual(['oversized:10', 'line:ok 1 2']);
  });

  it('many lines and oversized lines interleaved, cut at every offset', () => {
    const text = `a\n${'x'.repeat(MAX + 3)}\nbb\n${exact}\n${over}\n\ncc\n`;
    for (let cut = 0; cut <= text.length; cut++) {
      const { f, r } = framer(MAX);
      feed(f, text, [cut]);
      expect(r.events.filter((e) => e.startsWith('line:'))).toEqual(['line:a', 'line:bb', `line:${exact}`, 'line:', 'line:cc']);
      expect(r.events.filter((e) => e.startsWith('oversized:'))).toHaveLength(2);
    }
  });
});

describe('LineFramer: reset', () => {
  it('returns and forgets the pending partial line', () => {
    const { f, r } = framer(100);
    feed(f, 'a 1 2\nhalf a li');
    expect(f.reset()).toBe('half a li'.length);
    expect(f.pendingBytes).toBe(0);
    expect(f.reset()).toBe(0);
    feed(f, 'ne\nb 3 4\n');
    expect(r.events).toEqual(['line:a 1 2', 'line:ne', 'line:b 3 4']);
  });

  it('ends discarding, so the next connection starts clean', () => {
    const { f, r } = framer(8);
    feed(f, 'way too long for the limit');
    expect(f.reset()).toBe(0);
    feed(f, 'ok 1 2\n');
    expect(r.events).toEqual(['oversized:26', 'line:ok 1 2']);
  });
});

import fs from 'node:fs';
import path from 'node:path';
import { NameInterner } from '../../src/codec/name-interner';
import { PickleDecoder } from '../../src/codec/pickle-decoder';
import { PickleEncoder } from '../../src/codec/pickle-encoder';
import { ByteWriter } from '../../src/codec/byte-writer';
import { MetricBatch } from '../../src/model/metric';
import { DatapointQueue } from '../../src/output/queue';

interface Fixture {
  id: string;
  hex: string;
}
const FIXTURES = (JSON.parse(fs.readFileSync(path.join(__dirname, '../fixtures/pickle-frames.json'), 'utf8')) as { fixtures: Fixture[] }).fixtures;
const NOW = 1_700_000_123.5;

/** What a decoder made of a frame: every datapoint (sign of zero and NaN kept), the counts, or the error. */
function outcome(decoder: PickleDecoder, frame: Buffer): string {
  const batch = new MetricBatch(1);
  try {
    const stats = decoder.decode(frame, batch, NOW);
    const points = Array.from({ length: batch.length }, (_, i) => [batch.names[i], Object.is(batch.values[i], -0) ? '-0' : String(batch.values[i]), String(batch.timestamps[i])]);
    return JSON.stringify({ points, stats });
  } catch (err) {
    return `${(err as Error).constructor.name}: ${(err as Error).message}`;
  }
}

/**
 * The pickle decoder's one-pass path for carbon's usual frame layout (taken
 * when it has a NameInterner, as in the relay) against its general
 * interpreter (no interner): the same datapoints, counts and errors for
 * every frame, whichever path read it.
 */
describe('PickleDecoder: the one-pass path for the usual layout', () => {
  const fast = (): PickleDecoder => new PickleDecoder({ names: new NameInterner(1000) });

  it('reads the frames Python writes at protocols 2 to 5 and our own encoder writes; other layouts go to the interpreter', () => {
    // pickle.dumps([('servers.web01.cpu', (1700000000, 1.5)), ('servers.web02.cpu', (1700000001.0, 2)), ('métrique', (1700000002, 65535))], protocol=p)
    const python = [
      '80025d7100285811000000736572766572732e77656230312e63707571014a00f15365473ff80000000000008671028671035811000000736572766572732e77656230322e63707571044741d954fc404000004b0286710586710658090000006dc3a974726971756571074a02f153654dffff867108867109652e',
      '80035d7100285811000000736572766572732e77656230312e63707571014a00f15365473ff80000000000008671028671035811000000736572766572732e77656230322e63707571044741d954fc404000004b0286710586710658090000006dc3a974726971756571074a02f153654dffff867108867109652e',
      '80049566000000000000005d94288c11736572766572732e77656230312e637075944a00f15365473ff8000000000000869486948c11736572766572732e77656230322e637075944741d954fc404000004b02869486948c096dc3a9747269717565944a02f153654dffff86948694652e',
      '80059566000000000000005d94288c11736572766572732e77656230312e637075944a00f15365473ff8000000000000869486948c11736572766572732e77656230322e637075944741d954fc404000004b02869486948c096dc3a9747269717565944a02f153654dffff86948694652e',
    ];
    for (const hex of python) {
      const d = fast();
      const frame = Buffer.from(hex, 'hex');
      const got = outcome(d, frame);
      expect(got).toBe(outcome(new PickleDecoder(), frame));
      expect(JSON.parse(got).points).toEqual([
        ['servers.web01.cpu', '1.5', '1700000000'],
        ['servers.web02.cpu', '2', '1700000001'],
        ['métrique', '65535', '1700000002'],
      ]);
      expect(d.canonicalFrames).toBe(1);
    }
    // every recorded frame (older protocols, Python 2 strings, LONG1, hostile opcodes) decodes as the interpreter does it
    const fellBack: string[] = [];
    for (const f of FIXTURES) {
      const d = fast();
      const frame = Buffer.from(f.hex, 'hex');
      expect({ id: f.id, got: outcome(d, frame) }).toEqual({ id: f.id, got: outcome(new PickleDecoder(), frame) });
      if (d.canonicalFrames === 0) fellBack.push(f.id);
    }
    expect(fellBack).toEqual(expect.arrayContaining(['basic-p0', 'basic-p1', 'basic-p2', 'reduce-os-system-p2', 'py2-binstring', 'dict-p2']));

    const q = new DatapointQueue(10);
    q.push('a.b', 1_700_000_000, 1.5);
    q.push('c.d', 1_700_000_001, -0);
    const w = new ByteWriter();
    new PickleEncoder().encode(q, 10, w);
    const ours = w.take().subarray(4);
    const d = fast();
    expect(outcome(d, ours)).toBe(outcome(new PickleDecoder(), ours));
    expect(d.canonicalFrames).toBe(1);
  });

  it('decodes 20,000 generated and mutated frames exactly as the interpreter does', () => {
    let seed = 1234567;
    const rand = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    const u32 = (n: number): number[] => [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24];
    const f64 = (v: number): number[] => {
      const b = Buffer.alloc(8);
      b.writeDoubleBE(v);
      return [...b];
    };
    const numbers = [0, -0, 1, 255, 256, 65535, 65536, 1_700_000_000, -1, 1.5, NaN, Infinity, -Infinity, 2 ** 31 - 1, -(2 ** 31)];
    let memo = 0;
    const put = (): number[] => {
      const k = rand(6);
      // mostly the next index, as Python writes; sometimes another, which the interpreter must judge
      const idx = rand(8) === 0 ? rand(300) : memo;
      if (k === 0) return [];
      memo++;
      if (k === 1) return [0x94];
      if (k === 2 || idx > 255) return [0x72, ...u32(idx)];
      return [0x71, idx];
    };
    const num = (): number[] => {
      const v = numbers[rand(numbers.length)];
      const k = rand(5);
      if (k === 1 && Number.isInteger(v) && v >= 0 && v < 256 && !Object.is(v, -0)) return [0x4b, v];
      if (k === 2 && Number.isInteger(v) && v >= 0 && v < 65536 && !Object.is(v, -0)) return [0x4d, v & 255, v >> 8];
      if (k === 3 && Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31) return [0x4a, ...u32(v >>> 0)];
      if (k === 4) return [0x88]; // NEWTRUE: only the interpreter takes it
      return [0x47, ...f64(v)];
    };
    const nameBytes = (): number[] => {
      const pieces = ['a', 'b.c', 'servers.web01', '', ' ', '\u00e9', '\x00', 'x'.repeat(300)];
      return [...Buffer.from(pieces[rand(pieces.length)] + pieces[rand(pieces.length)], 'utf8')];
    };
    const item = (): number[] => {
      const n = nameBytes();
      const str = n.length < 256 && rand(2) === 0 ? [0x8c, n.length, ...n] : [0x58, ...u32(n.length), ...n];
      return [...str, ...put(), ...num(), ...num(), 0x86, ...put(), 0x86, ...put()];
    };
    const frameOf = (): Buffer => {
      memo = 0;
      const out: number[] = [];
      const proto = rand(5);
      if (proto > 0) out.push(0x80, 1 + proto);
      if (proto >= 3 && rand(2) === 0) out.push(0x95, ...u32(0), ...u32(0));
      out.push(0x5d, ...put());
      const groups = rand(4);
      for (let g = 0; g < groups; g++) {
        if (rand(3) === 0) out.push(...item(), 0x61);
        else {
          out.push(0x28);
          const n = rand(5);
          for (let k = 0; k < n; k++) out.push(...item());
          out.push(0x65);
        }
      }
      out.push(0x2e);
      const bytes = Buffer.from(out);
      // a third mutated: a byte changed or left out, the frame cut short, or bytes after STOP
      const m = rand(12);
      if (m === 3 && bytes.length > 0) {
        const at = rand(bytes.length);
        return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1)]);
      }
      if (m === 0 && bytes.length > 0) bytes[rand(bytes.length)] = rand(256);
      if (m === 1) return bytes.subarray(0, rand(bytes.length));
      if (m === 2) return Buffer.concat([bytes, Buffer.from([0x28, 0x4b, 1])]);
      return bytes;
    };
    const d = fast();
    const wrong: string[] = [];
    for (let k = 0; k < 20_000; k++) {
      const frame = frameOf();
      if (outcome(d, frame) !== outcome(new PickleDecoder(), frame)) wrong.push(frame.toString('hex'));
    }
    expect(wrong.slice(0, 5)).toEqual([]);
    // most generated frames took the one-pass path (a test of it, not only of the fallback)
    expect(d.canonicalFrames).toBeGreaterThan(5000);
  });
});

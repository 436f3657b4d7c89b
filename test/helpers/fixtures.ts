import fs from 'node:fs';
import path from 'node:path';
import { Parser } from 'pickleparser';
import type { MetricBatch } from '../../src/model/metric';

/** A number as the fixture generators write it: JSON numbers, plus the values JSON cannot spell. */
export type JsonNumber = number | 'inf' | '-inf' | 'nan' | '-0';

export function fromJsonNumber(v: JsonNumber): number {
  switch (v) {
    case 'inf': return Infinity;
    case '-inf': return -Infinity;
    case 'nan': return NaN;
    case '-0': return -0;
    default: return v;
  }
}

export function readFixture<T>(file: string): T {
  return JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'fixtures', file), 'utf8')) as T;
}

/** test/fixtures/py-float.json (gen-py-float.py): Python float() on each input; null = ValueError. */
export interface PyFloatCase {
  input: string;
  /** Hand-picked inputs float() accepts or rejects, or seeded random strings. */
  group: 'accepted' | 'rejected' | 'random';
  expected: JsonNumber | null;
}

export function pyFloatCases(): PyFloatCase[] {
  return readFixture<{ cases: PyFloatCase[] }>('py-float.json').cases;
}

export interface Datapoint {
  name: string;
  timestamp: number;
  value: number;
}

export interface ItemStats {
  accepted: number;
  badShape: number;
  badName: number;
  badNumber: number;
  badTimestamp: number;
  nanValue: number;
}

/** One entry of test/fixtures/pickle-frames.json (gen-pickle-frames.py). */
export interface PickleFixture {
  id: string;
  description: string;
  protocol: number | null;
  hex: string;
  opcodes: string[];
  expected?: { name: string; timestamp: JsonNumber | 'now'; value: JsonNumber }[];
  stats?: ItemStats;
  rejected?: true;
  opcode?: string;
}

export function pickleFixtures(): PickleFixture[] {
  return readFixture<{ fixtures: PickleFixture[] }>('pickle-frames.json').fixtures;
}

/** The fixture's expected datapoints, with "now" timestamps replaced by `now`. */
export function expectedDatapoints(f: PickleFixture, now: number): Datapoint[] {
  if (f.expected === undefined) throw new Error(`${f.id} is a rejected frame`);
  return f.expected.map((d) => ({
    name: d.name,
    timestamp: d.timestamp === 'now' ? now : fromJsonNumber(d.timestamp),
    value: fromJsonNumber(d.value),
  }));
}

export function batchDatapoints(b: MetricBatch): Datapoint[] {
  const out: Datapoint[] = [];
  for (let i = 0; i < b.length; i++) out.push({ name: b.names[i], timestamp: b.timestamps[i], value: b.values[i] });
  return out;
}

/** pickleparser with a resolver that refuses every global (never the default, which builds placeholder objects). */
export function strictPickleParser(): Parser {
  return new Parser({
    nameResolver: {
      resolve(module: string, name: string): never {
        throw new Error(`forbidden global ${module}.${name}`);
      },
    },
  });
}

/** Deterministic PRNG (mulberry32): the same seed gives the same sequence on every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` deterministic pseudo-random bytes (mulberry32 words), fast enough for megabytes. */
export function seededBytes(seed: number, n: number): Buffer {
  const words = new Uint32Array(Math.ceil(n / 4));
  let a = seed >>> 0;
  for (let i = 0; i < words.length; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    words[i] = (t ^ (t >>> 14)) >>> 0;
  }
  return Buffer.from(words.buffer, 0, n);
}

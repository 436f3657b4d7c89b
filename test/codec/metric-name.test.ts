import { decodeLine, LineVerdict } from '../../src/codec/line-decoder';
import { checkMetricName, DEFAULT_MAX_NAME_LENGTH, isNameTooLong, isValidMetricName, NameProblem, nameTooLongMessage } from '../../src/codec/metric-name';
import { MetricBatch } from '../../src/model/metric';
import { mapRawData } from '../../src/sources/catchpoint/raw-data';

describe('isValidMetricName', () => {
  it.each([
    ['C1 U+0080', 'a\u0080b'],
    ['C1 U+0081', '\u0081'],
    ['C1 U+0090', 'x.\u0090'],
    ['C1 U+009F', 'a\u009fb'],
    ['NEL U+0085', 'a\u0085b'],
    ['NBSP U+00A0', 'a\u00a0b'],
    ['DEL', 'a\u007fb'],
    ['C0 U+0001', 'a\u0001b'],
    ['space', 'a b'],
    ['empty', ''],
  ])('rejects %s', (_what, name) => {
    expect(isValidMetricName(name)).toBe(false);
    expect(checkMetricName(name, DEFAULT_MAX_NAME_LENGTH)).toBe(NameProblem.Invalid);
  });

  it.each([
    ['U+00A1 just past the C1 block', 'a\u00a1b'],
    ['Latin-1 letters', 'm\u00e9trique.\u00fc'],
    ['tags', 'cpu;host=a;dc=\u6771\u4eac'],
    ['emoji', 'x.\u{1f4c8}'],
  ])('accepts %s', (_what, name) => {
    expect(isValidMetricName(name)).toBe(true);
    expect(checkMetricName(name, DEFAULT_MAX_NAME_LENGTH)).toBe(NameProblem.None);
  });

  it('agrees with the regex alone on every single character and on ASCII names with a bad character anywhere', () => {
    const regexOnly = (name: string): boolean => name.length > 0 && !/[\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]/.test(name);
    for (let c = 0; c < 0x3100; c++) {
      const ch = String.fromCharCode(c);
      for (const name of [ch, `servers.${ch}`, `${ch}.cpu`]) expect([name, isValidMetricName(name)]).toEqual([name, regexOnly(name)]);
    }
  });

  it('C1 characters reach the name check through the line decoder (the ASCII fast path never sees them)', () => {
    for (const c of ['\u0080', '\u009f']) {
      const line = Buffer.from(`a${c}b 1 2`, 'utf8');
      const batch = new MetricBatch(1);
      expect(decodeLine(line, 0, line.length, batch, 0)).toBe(LineVerdict.Ok);
      expect(batch.names[0]).toBe(`a${c}b`);
      expect(isValidMetricName(batch.names[0]!)).toBe(false);
    }
  });
});

describe('maxNameLength is counted in UTF-8 bytes', () => {
  it.each([
    ['ASCII', 'a', 1],
    ['2-byte \u00e9', '\u00e9', 2],
    ['3-byte \u20ac', '\u20ac', 3],
    ['4-byte emoji (2 UTF-16 units)', '\u{1f4c8}', 4],
  ])('%s: exactly the limit fits, one character more does not', (_what, ch, bytes) => {
    const max = 4096;
    const fits = ch.repeat(Math.floor(max / bytes));
    expect(Buffer.byteLength(fits)).toBeLessThanOrEqual(max);
    expect(isNameTooLong(fits, max)).toBe(false);
    const over = fits + ch;
    expect(Buffer.byteLength(over)).toBeGreaterThan(max);
    expect(isNameTooLong(over, max)).toBe(true);
    expect(checkMetricName(over, max)).toBe(NameProblem.TooLong);
  });

  it('a name that fits any way is not measured; a huge one is too long by its length alone', () => {
    expect(isNameTooLong('a'.repeat(1365), 4096)).toBe(false);
    expect(isNameTooLong('\u20ac'.repeat(1365), 4096)).toBe(false); // 4095 bytes
    expect(isNameTooLong('\u20ac'.repeat(1366), 4096)).toBe(true); // 4098 bytes
    expect(isNameTooLong('a'.repeat(1_000_000), 4096)).toBe(true);
  });

  it('too long is reported before invalid, so a huge name is never scanned', () => {
    expect(checkMetricName(`bad name ${'x'.repeat(5000)}`, 4096)).toBe(NameProblem.TooLong);
    expect(checkMetricName('', 4096)).toBe(NameProblem.Invalid);
  });

  it('names the size and the limit', () => {
    expect(nameTooLongMessage('\u00e9'.repeat(3000), 4096)).toBe('metric name is 6000 bytes, over maxNameLength 4096');
    expect(DEFAULT_MAX_NAME_LENGTH).toBe(4096);
  });
});

// test/sources belongs to another change; the Catchpoint mapping's use of the limit is checked here
describe('Catchpoint raw data applies maxNameLength like the other ingest paths', () => {
  const body = (fieldNames: string[]): unknown => ({
    detail: {
      fields: { synthetic_metrics: fieldNames.map((name) => ({ name })) },
      items: [{ dimension: { name: '2024-05-01T10:01:00Z' }, breakdown_1: { id: 1 }, breakdown_2: { id: 2 }, synthetic_metrics: fieldNames.map((_, i) => i) }],
    },
  });
  const map = (fieldNames: string[], maxNameLength?: number): { names: string[]; problems: string[]; invalidValues: number } => {
    const out = new MetricBatch(4);
    const problems: string[] = [];
    const opts = { prefix: 'cp', tags: true, fromMs: 0, toMs: Date.UTC(2030, 0), ...(maxNameLength !== undefined && { maxNameLength }) };
    const r = mapRawData(body(fieldNames), opts, out, (test, field, problem) => problems.push(`${test} ${field}: ${problem}`));
    return { names: Array.from({ length: out.length }, (_, i) => out.names[i]!), problems, invalidValues: r.invalidValues };
  };

  it('a field name too long for any metric name is a problem of the field, like an invalid one', () => {
    const r = map(['DNS', 'x'.repeat(5000), 'Ctl\u0085x']);
    expect(r.names).toEqual(['cp.DNS;testId=1;nodeId=2']);
    expect(r.invalidValues).toBe(2);
    expect(r.problems).toEqual([`1 synthetic_metrics[1]: field name ${JSON.stringify('x'.repeat(100))} makes a name over maxNameLength (4096 bytes)`, '1 synthetic_metrics[2]: field name "Ctl\u0085x" cannot be a metric name']);
  });

  it('a whole name (prefix, field, tags) over the limit is skipped and reported with its size', () => {
    // cp.DNS = 6 bytes fits 24; with ;testId=1;nodeId=2 (18 more) it is 24, one more byte is over
    expect(map(['DNS'], 24).names).toEqual(['cp.DNS;testId=1;nodeId=2']);
    const r = map(['DNSx'], 24);
    expect(r.names).toEqual([]);
    expect(r.problems).toEqual(['1 synthetic_metrics[0] (DNSx): metric name is 25 bytes, over maxNameLength 24']);
  });
});

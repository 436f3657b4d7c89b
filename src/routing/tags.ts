/**
 * carbon's TaggedSeries.parse(name).path (graphite 1.1), used when the relay
 * normalises tagged names before routing (TAG_RELAY_NORMALIZED) so that
 * `cpu;b=2;a=1` and `cpu;a=1;b=2` hash to the same place, as graphite-web expects.
 * Returns undefined where carbon raises; carbon then routes the raw name.
 */
export function normalizeTaggedName(path: string): string | undefined {
  if (path.endsWith('"}') && path.includes('{')) return parseOpenMetrics(path);
  return parseCarbon(path);
}

const PROHIBITED_TAG_CHARS = /[;!^=]/;

function validTagAndValue(tag: string, value: string): boolean {
  return tag.length > 0 && value.length > 0 && !PROHIBITED_TAG_CHARS.test(tag) && !value.includes(';') && value[0] !== '~';
}

function parseCarbon(path: string): string | undefined {
  const segments = path.split(';');
  const metric = segments[0];
  if (metric === '') return undefined;
  const tags = new Map<string, string>();
  for (let i = 1; i < segments.length; i++) {
    const seg = segments[i];
    const eq = seg.indexOf('=');
    if (eq <= 0) return undefined;
    const tag = seg.slice(0, eq);
    const value = seg.slice(eq + 1);
    if (!validTagAndValue(tag, value)) return undefined;
    tags.set(tag, value);
  }
  return format(metric, tags);
}

// Python: re.match(r'([^=]+)="((?:[\\]["\\]|[^"\\])+)"(:?,|$)', rawtags); the `(:?,|$)` typo is kept.
const OPENMETRICS_SEGMENT = /^([^=]+)="((?:\\["\\]|[^"\\])+)"(:?,|$)/;

function parseOpenMetrics(path: string): string | undefined {
  const parts = path.slice(0, -1).split('{');
  if (parts.length !== 2) return undefined; // Python's 2-tuple unpacking fails on a second '{'
  const [metric] = parts;
  let rawtags = parts[1];
  if (metric === '') return undefined;
  const tags = new Map<string, string>();
  while (rawtags.length > 0) {
    const m = OPENMETRICS_SEGMENT.exec(rawtags);
    if (m === null) return undefined;
    const tag = m[1];
    const value = m[2].replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    if (!validTagAndValue(tag, value)) return undefined;
    tags.set(tag, value);
    rawtags = rawtags.slice(m[0].length);
  }
  return format(metric, tags);
}

/** `name` tag (the metric without leading '~') plus the other `;k=v` sorted by code point, as Python sorts str. */
function format(metric: string, tags: Map<string, string>): string | undefined {
  const name = metric.replace(/^~+/, '');
  if (name === '') return undefined;
  const rest: string[] = [];
  for (const [k, v] of tags) if (k !== 'name') rest.push(`;${k}=${v}`);
  rest.sort(compareCodePoints);
  return name + rest.join('');
}

function compareCodePoints(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done || y.done) return x.done === y.done ? 0 : x.done ? -1 : 1;
    const cx = (x.value as string).codePointAt(0) as number;
    const cy = (y.value as string).codePointAt(0) as number;
    if (cx !== cy) return cx - cy;
  }
}

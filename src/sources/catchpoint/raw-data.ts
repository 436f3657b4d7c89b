import { checkMetricName, DEFAULT_MAX_NAME_LENGTH, isValidMetricName, NameProblem, nameTooLongMessage } from '../../codec/metric-name';
import type { MetricBatch } from '../../model/metric';

/**
 * Catchpoint's raw performance data (GET api/v1/performance/raw) to datapoints,
 * with the integration's mapping: for each item and each value i,
 * `<prefix>.<fields.synthetic_metrics[i].name without whitespace>` tagged
 * `;testId=<breakdown_1.id>;nodeId=<breakdown_2.id>[;stepNumber=<step>|;hopNumber=<hop_number>]`
 * (or the same fields as dotted path levels), value i, at `dimension.name`.
 *
 * {start, end, detail: {fields: {synthetic_metrics: [{name}, ...]},
 *   items: [{dimension: {name: ISO time}, breakdown_1: {id}, breakdown_2: {id}, step?, hop_number?, synthetic_metrics: [v, ...]}]}}
 */

export interface RawMapOptions {
  prefix: string;
  /** Graphite tags (`name;testId=..`) or dotted levels (`name.<testId>.<nodeId>[.step<n>|.hop<n>]`). */
  tags: boolean;
  /** The requested window [fromMs, toMs): items outside it are skipped, so no datapoint is sent by two polls. */
  fromMs: number;
  toMs: number;
  /** listen.maxNameLength (UTF-8 bytes); default DEFAULT_MAX_NAME_LENGTH. */
  maxNameLength?: number;
}

export interface RawMapResult {
  /** `detail: null`: Catchpoint has no data for these tests in the window. */
  noData: boolean;
  datapoints: number;
  invalidItems: number;
  invalidValues: number;
  nullValues: number;
  outsideWindow: number;
}

/** One skipped item or value: which test, which field, what was wrong (the caller aggregates before logging). */
export type ProblemReporter = (test: string, field: string, problem: string) => void;

/** The answer as a whole is not the documented shape: nothing in it can be used. */
export class MalformedResponse extends Error {
  override readonly name = 'MalformedResponse';
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const UNKNOWN_TEST = '(unknown)';

/** Appends the datapoints of one raw-data answer to `out`; throws MalformedResponse if the answer has no usable shape. */
export function mapRawData(body: unknown, opts: RawMapOptions, out: MetricBatch, report: ProblemReporter): RawMapResult {
  const r: RawMapResult = { noData: false, datapoints: 0, invalidItems: 0, invalidValues: 0, nullValues: 0, outsideWindow: 0 };
  if (!isObject(body)) throw new MalformedResponse('the answer is not a JSON object');
  if (!('detail' in body)) throw new MalformedResponse('the answer has no "detail" field');
  const detail = body.detail;
  if (detail === null) {
    r.noData = true;
    return r;
  }
  if (!isObject(detail)) throw new MalformedResponse('"detail" is not an object');
  const fieldList = isObject(detail.fields) ? detail.fields.synthetic_metrics : undefined;
  if (!Array.isArray(fieldList)) throw new MalformedResponse('"detail.fields.synthetic_metrics" is missing or not a list');
  const items = detail.items ?? [];
  if (!Array.isArray(items)) throw new MalformedResponse('"detail.items" is not a list');

  // Column names once per answer; an unusable one skips its values (counted per value, reported with the reason).
  const maxNameLength = opts.maxNameLength ?? DEFAULT_MAX_NAME_LENGTH;
  const fields: (string | undefined)[] = [];
  const fieldProblems: string[] = [];
  fieldList.forEach((f: unknown, i) => {
    const raw = isObject(f) ? f.name : undefined;
    const name = typeof raw === 'string' ? raw.replace(/\s+/g, '') : '';
    let problem = '';
    if (typeof raw !== 'string') problem = `field ${i} has no name`;
    else if (name === '' || !isValidMetricName(name) || (opts.tags && name.includes(';'))) problem = `field name ${JSON.stringify(raw.slice(0, 100))} cannot be a metric name`;
    else if (checkMetricName(`${opts.prefix}.${name}`, maxNameLength) === NameProblem.TooLong) problem = `field name ${JSON.stringify(raw.slice(0, 100))} makes a name over maxNameLength (${maxNameLength} bytes)`;
    fields.push(problem === '' ? name : undefined);
    fieldProblems.push(problem);
  });

  for (let k = 0; k < items.length; k++) {
    const item: unknown = items[k];
    if (!isObject(item)) {
      r.invalidItems++;
      report(UNKNOWN_TEST, 'items', 'an item is not an object');
      continue;
    }
    const test = idOf(item.breakdown_1);
    const label = test ?? UNKNOWN_TEST;
    const node = idOf(item.breakdown_2);
    const timeText = isObject(item.dimension) ? item.dimension.name : undefined;
    const ms = typeof timeText === 'string' ? parseIsoTime(timeText) : undefined;
    const step = optionalIndex(item.step);
    const hop = optionalIndex(item.hop_number);
    const values = item.synthetic_metrics;
    let bad: [string, string] | undefined;
    if (test === undefined) bad = ['breakdown_1.id', 'missing or not a test id'];
    else if (node === undefined) bad = ['breakdown_2.id', 'missing or not a node id'];
    else if (typeof timeText !== 'string') bad = ['dimension.name', 'missing or not a string'];
    else if (ms === undefined) bad = ['dimension.name', 'not an ISO-8601 time'];
    else if (step === null) bad = ['step', 'not a non-negative integer'];
    else if (hop === null) bad = ['hop_number', 'not a non-negative integer'];
    else if (!Array.isArray(values)) bad = ['synthetic_metrics', 'missing or not a list'];
    if (bad !== undefined) {
      r.invalidItems++;
      report(label, bad[0], bad[1]);
      continue;
    }
    const t = ms as number;
    if (t < opts.fromMs || t >= opts.toMs) {
      r.outsideWindow++;
      continue;
    }
    let suffix: string;
    if (opts.tags) suffix = `;testId=${label};nodeId=${node}${step !== undefined ? `;stepNumber=${step}` : hop !== undefined ? `;hopNumber=${hop}` : ''}`;
    else suffix = `.${label}.${node}${step !== undefined ? `.step${step}` : hop !== undefined ? `.hop${hop}` : ''}`;
    const ts = Math.floor(t / 1000);
    const vs = values as unknown[];
    for (let i = 0; i < vs.length; i++) {
      const v = vs[i];
      if (v === null) {
        r.nullValues++;
        continue;
      }
      const field = fields[i];
      if (field === undefined) {
        r.invalidValues++;
        report(label, `synthetic_metrics[${i}]`, i < fieldProblems.length ? fieldProblems[i] : 'more values than fields');
        continue;
      }
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        r.invalidValues++;
        report(label, `synthetic_metrics[${i}] (${field})`, 'not a number');
        continue;
      }
      const name = `${opts.prefix}.${field}${suffix}`;
      const problem = checkMetricName(name, maxNameLength);
      if (problem !== NameProblem.None) {
        r.invalidValues++;
        report(label, `synthetic_metrics[${i}] (${field})`, problem === NameProblem.TooLong ? nameTooLongMessage(name, maxNameLength) : 'not a valid metric name');
        continue;
      }
      out.push(name, v, ts);
      r.datapoints++;
    }
  }
  return r;
}

/** A test or node id: a non-negative integer, or a string of letters, digits, _ and -. */
function idOf(b: unknown): string | undefined {
  if (!isObject(b)) return undefined;
  const id = b.id;
  if (typeof id === 'number') return Number.isSafeInteger(id) && id >= 0 ? String(id) : undefined;
  if (typeof id === 'string' && /^[A-Za-z0-9_-]+$/.test(id)) return id;
  return undefined;
}

/** undefined: absent or null; null: present but not a non-negative integer. */
function optionalIndex(v: unknown): number | undefined | null {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : null;
  if (typeof v === 'string' && /^\d{1,9}$/.test(v)) return Number(v);
  return null;
}

const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/**
 * An ISO-8601 date-time to epoch ms, or undefined. Without an offset the time
 * is UTC (Catchpoint's API times are UTC; JS's Date.parse would take it as local).
 */
export function parseIsoTime(text: string): number | undefined {
  const m = ISO_TIME.exec(text.trim());
  if (m === null) return undefined;
  const [y, mo, d, h, mi] = [m[1], m[2], m[3], m[4], m[5]].map(Number);
  const s = m[6] === undefined ? 0 : Number(m[6]);
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return undefined;
  const base = Date.UTC(y, mo - 1, d, h, mi, s);
  if (new Date(base).getUTCDate() !== d) return undefined; // e.g. February 30
  const fracMs = m[7] === undefined ? 0 : Math.floor(Number(`0.${m[7]}`) * 1000);
  let offsetMin = 0;
  const zone = m[8];
  if (zone !== undefined && zone.toUpperCase() !== 'Z') {
    const digits = zone.slice(1).replace(':', '');
    const oh = Number(digits.slice(0, 2));
    const om = digits.length > 2 ? Number(digits.slice(2)) : 0;
    if (oh > 23 || om > 59) return undefined;
    offsetMin = (zone[0] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  return base + fracMs - offsetMin * 60_000;
}

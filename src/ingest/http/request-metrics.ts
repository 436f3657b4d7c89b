import { checkMetricName, DEFAULT_MAX_NAME_LENGTH, NameProblem, nameTooLongMessage } from '../../codec/metric-name';
import { parsePyFloat } from '../../common/python/float';
import { MetricBatch } from '../../model/metric';
import { HttpError, HttpErrorCode, quoted, type Rejection } from './http-error';

/** A JSON number, or a numeric string parsed as Python float() (what carbon accepts). */
export function numberFrom(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return parsePyFloat(v);
  return undefined;
}

/**
 * The datapoints one request carries, validated item by item. Endpoints add
 * what they parsed; every item that cannot become a datapoint is recorded with
 * where it was and why, so the answer can name it. Bounded by maxItems.
 */
export class RequestMetrics {
  readonly batch = new MetricBatch(64);
  readonly rejections: Rejection[] = [];

  constructor(
    private readonly maxItems: number,
    /** Unix seconds for datapoints sent without a timestamp (or with carbon's -1). */
    readonly now: number,
    /** listen.maxNameLength, in UTF-8 bytes: a longer name is named in the answer rather than dropped by the router unseen. */
    readonly maxNameLength = DEFAULT_MAX_NAME_LENGTH,
  ) {}

  get count(): number {
    return this.batch.length + this.rejections.length;
  }

  /** Validates and adds one datapoint; returns false (and records why) when it is not one. No timestamp means now. */
  add(where: string, name: string, value: unknown, timestamp?: unknown): boolean {
    this.checkSize();
    const problem = checkMetricName(name, this.maxNameLength);
    if (problem === NameProblem.TooLong) return this.reject(where, nameTooLongMessage(name, this.maxNameLength));
    if (problem === NameProblem.Invalid) return this.reject(where, name === '' ? 'empty metric name' : `metric name ${quoted(name)} contains whitespace or control characters`);
    const v = numberFrom(value);
    if (v === undefined) return this.reject(where, `value ${quoted(String(value))} is not a number`);
    if (Number.isNaN(v)) return this.reject(where, 'value is NaN');
    const t = timestamp === undefined ? this.now : numberFrom(timestamp);
    if (t === undefined || !Number.isFinite(t)) return this.reject(where, `timestamp ${quoted(String(timestamp))} is not a finite number`);
    // carbon: int(timestamp) == -1 means now
    this.batch.push(name, v, t > -2 && t <= -1 ? this.now : t);
    return true;
  }

  reject(where: string, reason: string): false {
    this.checkSize();
    this.rejections.push({ where, reason });
    return false;
  }

  /** Throws 413 when the request already holds maxItems datapoints; call before appending to `batch` directly. */
  checkSize(): void {
    if (this.count >= this.maxItems) throw new HttpError(413, HttpErrorCode.TOO_LARGE, `more than ${this.maxItems} datapoints in one request; split it`);
  }
}

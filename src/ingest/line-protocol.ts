import { decodeLine, LineVerdict } from '../codec/line-decoder';
import { LineFramer, type LineHandler } from '../codec/line-framer';
import { MetricBatch } from '../model/metric';
import type { MetricSink } from '../model/metric-sink';
import type { NameInterner } from '../codec/name-interner';
import type { NameValidation } from '../codec/name-validation';
import type { IngestCounters } from '../telemetry/counters';
import { excerpt, type RateLimitedLog } from '../telemetry/rate-limited-log';
import { hostOf, type StreamProtocol } from './stream-listener';

export interface LineProtocolDeps {
  /** Where decoded batches go (the relay's Pipeline). */
  sink: MetricSink<IngestCounters, NameValidation>;
  counters: IngestCounters;
  /** The listener's name validation level (default carbon). */
  validation?: NameValidation;
  limited: RateLimitedLog;
  now: () => number;
  /** Shared by the listener's connections: one string per distinct name. */
  names?: NameInterner;
}

/** One plaintext listener's settings (listen.line and its tcp/udp/tls entry). */
export interface LineProtocolOptions {
  maxLineLength: number;
  /** A `name value` line means "now" (Hosted Graphite's format), counted in timestampsAssigned; off: invalid, as carbon. */
  timestampOptional: boolean;
}

/**
 * Decodes plaintext lines from one peer into batches. Used per TCP/TLS
 * connection and per UDP datagram. Unlike carbon-relay, a bad line never costs
 * the connection: it is counted, logged (rate-limited) and skipped.
 */
export class LineProtocol implements StreamProtocol, LineHandler {
  private readonly framer: LineFramer;
  private readonly batch = new MetricBatch(512);
  private readonly timestampOptional: boolean;
  /** What a malformed line is told it should have been. */
  private readonly expected: string;
  private nowSeconds = 0;
  private lines = 0;

  constructor(
    private peer: string,
    options: LineProtocolOptions,
    private readonly deps: LineProtocolDeps,
  ) {
    this.framer = new LineFramer(options.maxLineLength, this);
    this.timestampOptional = options.timestampOptional;
    this.expected = options.timestampOptional ? 'expected "name value [timestamp]"' : 'expected "name value timestamp"';
  }

  /** Lines taken whole (good, bad or oversized): the listener's idle timeout runs from the last one. */
  get completed(): number {
    return this.lines;
  }

  onData(chunk: Buffer): boolean {
    this.nowSeconds = this.deps.now() / 1000;
    this.framer.push(chunk);
    this.flush();
    return true;
  }

  /** A UDP datagram: lines may end with '\n' or not; nothing carries over. */
  onDatagram(msg: Buffer, peer: string): void {
    this.peer = peer;
    this.nowSeconds = this.deps.now() / 1000;
    let start = 0;
    while (start < msg.length) {
      let nl = msg.indexOf(0x0a, start);
      if (nl < 0) nl = msg.length;
      if (nl > start) this.onLine(msg, start, nl);
      start = nl + 1;
    }
    this.flush();
  }

  onEnd(): void {
    const n = this.framer.reset();
    if (n > 0) {
      this.deps.counters.incompleteLines++;
      this.deps.limited.warn(`incomplete:${hostOf(this.peer)}`, 'connection closed in the middle of a line, discarding it', { peer: this.peer, bytes: n });
    }
  }

  onLine(buf: Buffer, start: number, end: number): void {
    this.lines++;
    const v = decodeLine(buf, start, end, this.batch, this.nowSeconds, this.timestampOptional, this.deps.names);
    if (v === LineVerdict.Ok) return;
    const c = this.deps.counters;
    let reason: string;
    if (v === LineVerdict.OkTimestampAssigned) {
      c.timestampsAssigned++;
      return;
    } else if (v === LineVerdict.NanValue) {
      c.nanValues++;
      return; // carbon drops these silently; counting them is enough
    } else if (v === LineVerdict.BadTimestamp) {
      c.invalidTimestamps++;
      reason = 'timestamp is NaN or infinite';
    } else {
      c.invalidLines++;
      reason = v === LineVerdict.Empty ? 'empty line' : this.expected;
    }
    const peer = this.peer;
    this.deps.limited.warn(`line:${hostOf(peer)}`, 'invalid line received, ignoring', () => ({ peer, reason, line: excerpt(buf.subarray(start, end)) }));
  }

  onOversizedLine(head: Buffer): void {
    this.lines++;
    this.deps.counters.lineTooLong++;
    const peer = this.peer;
    this.deps.limited.warn(`long:${hostOf(peer)}`, 'line exceeds maxLineLength, ignoring', () => ({ peer, line: excerpt(head, 100) }));
  }

  private flush(): void {
    if (this.batch.length === 0) return;
    this.deps.sink.accept(this.batch, this.peer, this.deps.counters, this.deps.validation);
    this.batch.clear();
  }
}

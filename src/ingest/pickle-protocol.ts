import { PickleDecodeError, PickleTooDeepError, type PickleDecoder } from '../codec/pickle-decoder';
import { PickleFramer, type FrameHandler } from '../codec/pickle-framer';
import { MetricBatch } from '../model/metric';
import type { MetricSink } from '../model/metric-sink';
import type { NameValidation } from '../codec/name-validation';
import type { IngestCounters } from '../telemetry/counters';
import type { RateLimitedLog } from '../telemetry/rate-limited-log';
import { hostOf, type StreamProtocol } from './stream-listener';

export interface PickleProtocolDeps {
  /** Where decoded batches go (the relay's Pipeline). */
  sink: MetricSink<IngestCounters, NameValidation>;
  counters: IngestCounters;
  /** The listener's name validation level (default carbon). */
  validation?: NameValidation;
  limited: RateLimitedLog;
  /** Shared by all connections of a listener: decoding is synchronous. */
  decoder: PickleDecoder;
  now: () => number;
}

/**
 * Carbon's pickle receiver for one connection. A bad frame is dropped whole,
 * counted and logged; the connection stays open (carbon also keeps it for
 * unpickling errors, but drops it for several other bad inputs).
 */
export class PickleProtocol implements StreamProtocol, FrameHandler {
  private readonly framer: PickleFramer;
  private readonly batch = new MetricBatch(512);
  private frames = 0;

  constructor(
    private readonly peer: string,
    maxFrameLength: number,
    private readonly deps: PickleProtocolDeps,
  ) {
    this.framer = new PickleFramer(maxFrameLength, this);
  }

  /** Frames taken whole (good, bad or oversized): the listener's idle timeout runs from the last one. */
  get completed(): number {
    return this.frames;
  }

  onData(chunk: Buffer): boolean {
    if (this.framer.push(chunk)) return true;
    // the listener closes the connection and logs it (rate-limited); the count keeps the volume visible
    this.deps.counters.invalidPickles++;
    return false;
  }

  onEnd(): void {
    const n = this.framer.pendingBytes;
    if (n > 0) {
      this.deps.counters.invalidPickles++;
      this.deps.limited.warn(`pickle-eof:${hostOf(this.peer)}`, 'connection closed in the middle of a pickle frame, discarding it', { peer: this.peer, bytes: n });
    }
  }

  onFrame(payload: Buffer): void {
    this.frames++;
    const c = this.deps.counters;
    try {
      const s = this.deps.decoder.decode(payload, this.batch, this.deps.now() / 1000);
      c.nanValues += s.nanValue;
      c.invalidTimestamps += s.badTimestamp;
      const badItems = s.badShape + s.badName + s.badNumber;
      if (badItems + s.badTimestamp > 0) {
        c.invalidPickleItems += badItems;
        this.deps.limited.warn(`pickle-items:${hostOf(this.peer)}`, 'skipped invalid datapoints in pickle frame', {
          peer: this.peer,
          notNameTimestampValue: s.badShape,
          nameNotString: s.badName,
          notANumber: s.badNumber,
          badTimestamp: s.badTimestamp,
        });
      }
    } catch (err) {
      this.batch.clear();
      if (!(err instanceof PickleDecodeError)) throw err;
      if (err instanceof PickleTooDeepError) c.pickleTooDeep++;
      else c.invalidPickles++;
      this.deps.limited.warn(`pickle:${hostOf(this.peer)}`, 'invalid pickle received, ignoring frame', { peer: this.peer, bytes: payload.length, error: err.message });
      return;
    }
    if (this.batch.length > 0) {
      this.deps.sink.accept(this.batch, this.peer, this.deps.counters, this.deps.validation);
      this.batch.clear();
    }
  }

  onOversizedFrame(length: number): void {
    this.frames++;
    this.deps.counters.pickleTooLong++;
    this.deps.limited.warn(`pickle-long:${hostOf(this.peer)}`, 'pickle frame exceeds maxFrameLength, skipping it', { peer: this.peer, length });
  }
}

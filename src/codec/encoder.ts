import type { ByteWriter } from './byte-writer';
import type { DatapointQueue } from '../output/queue';

/** Turns datapoints at the head of a queue into wire bytes for one destination protocol. */
export interface Encoder {
  /** Appends one message of at most `max` datapoints from the queue head; returns how many it encoded (the caller shifts them). */
  encode(queue: DatapointQueue, max: number, out: ByteWriter): number;
}

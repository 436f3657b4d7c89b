import type { ByteWriter } from './byte-writer';
import type { DatapointView } from '../model/datapoint-view';

/** Turns datapoints at the head of a queue into wire bytes for one destination protocol. */
export interface Encoder {
  /**
   * Appends one message of at most `max` datapoints from the queue head;
   * returns how many it encoded (the caller shifts them). 0 from a non-empty
   * queue: the head datapoint alone is over the encoder's size limit.
   */
  encode(queue: DatapointView, max: number, out: ByteWriter): number;
}

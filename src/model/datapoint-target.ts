/** Where the pipeline offers a routed datapoint: a destination, or a group that picks one of its members per datapoint. */
export interface DatapointTarget {
  /** Queue it or count why not; never blocks, never throws. */
  offer(name: string, timestamp: number, value: number): void;
}

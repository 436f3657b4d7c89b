/** What a component left undone when it stopped. */
export interface StopReport {
  readonly name: string;
  /** Datapoints it held and could not hand on by the deadline (queued, buffered). */
  readonly undelivered: number;
  /** Work cut short, in words (requests cut off, a poll cancelled); empty when everything finished. */
  readonly abandoned: readonly string[];
}

/**
 * The one lifecycle of every running part: listeners, destinations, sources,
 * self-metrics, file reloaders. The relay holds them in lists, starts them in
 * order and stops them in reverse.
 */
export interface Component {
  /** For logs and stop reports (`line`, a destination's name, `self-metrics`). */
  readonly name: string;
  start(): Promise<void>;
  /**
   * Finish or hand on what it holds until `deadline` (epoch ms), then release
   * every resource; resolves by the deadline (plus the time to close), never later.
   */
  stop(deadline: number): Promise<StopReport>;
}

/** A report for a component that held nothing and cut nothing short. */
export function cleanStop(name: string): StopReport {
  return { name, undelivered: 0, abandoned: [] };
}

/**
 * Read-only, indexed access to queued datapoints, counted from the oldest.
 * Encoders read through it, so the codec never knows how a destination stores
 * what it has not sent yet (memory ring, disk spool).
 */
export interface DatapointView {
  readonly length: number;
  nameAt(k: number): string;
  timestampAt(k: number): number;
  valueAt(k: number): number;
}

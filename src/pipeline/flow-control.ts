import type { Destination, PressureListener } from '../output/destination';
import type { Pausable } from '../model/pausable';

/**
 * Turns queue pressure from connected destinations into pause/resume of every
 * producer (TCP receivers pause their sockets, pollers defer, HTTP answers 503),
 * and answers how much a request may bring in at once (HTTP admission), so a
 * fast sender is slowed rather than dropped. A destination that is down or
 * stalled holds nobody back: it drops at its bound and counts.
 */
export class FlowControl implements PressureListener {
  private readonly pressured = new Set<Destination>();
  private readonly producers = new Set<Pausable>();
  private destinations: readonly Destination[] = [];

  get paused(): boolean {
    return this.pressured.size > 0;
  }

  /** The destinations whose queues admission is measured against. */
  watch(destinations: readonly Destination[]): void {
    this.destinations = destinations;
  }

  /** Register a producer; it is paused at once if the pipeline is under pressure. Returns the unregister function. */
  addProducer(producer: Pausable): () => void {
    this.producers.add(producer);
    if (this.paused) producer.pause();
    return () => this.producers.delete(producer);
  }

  onPressure(destination: Destination, high: boolean): void {
    const wasPaused = this.paused;
    if (high) this.pressured.add(destination);
    else this.pressured.delete(destination);
    if (wasPaused === this.paused) return;
    for (const p of this.producers) {
      if (this.paused) p.pause();
      else p.resume();
    }
  }

  /** Datapoints every connected destination can still queue without dropping (the smallest room). */
  admissionRoom(): number {
    let min = Infinity;
    for (const d of this.destinations) min = Math.min(min, d.admissionRoom);
    return min;
  }

  /** The most one request may ever bring: more than the smallest queue could never be admitted whole. */
  maxAdmission(): number {
    let min = Infinity;
    for (const d of this.destinations) min = Math.min(min, d.queue.limit);
    return min;
  }
}

import type { TransportEvents } from '../../src/output/transport/transport';

type TransportEvent = 'connect' | 'drain' | 'close';

/** Records what a transport reports, in order. */
export class TransportRecorder implements TransportEvents {
  readonly events: TransportEvent[] = [];
  closeError: Error | undefined;

  onConnect(): void {
    this.events.push('connect');
  }

  onDrain(): void {
    this.events.push('drain');
  }

  onClose(error: Error | undefined): void {
    this.events.push('close');
    this.closeError = error;
  }

  has(e: TransportEvent): boolean {
    return this.events.includes(e);
  }
}

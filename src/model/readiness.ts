/**
 * Whether the relay should be sent traffic (/ready): true once every listener
 * is bound, false from the moment shutdown begins, before receivers stop, so
 * a load balancer stops sending first.
 */
export class Readiness {
  private state: 'starting' | 'ready' | 'draining' = 'starting';

  get ready(): boolean {
    return this.state === 'ready';
  }

  get reason(): string {
    return this.state;
  }

  started(): void {
    if (this.state === 'starting') this.state = 'ready';
  }

  draining(): void {
    this.state = 'draining';
  }
}

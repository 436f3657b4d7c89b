import type { DrainOutcome } from '../relay/run';

/**
 * What a primary and its worker processes say to each other over the cluster
 * IPC channel (`workers: N`). Every message carries `cf` so that anything else
 * on the channel (Node's own cluster messages, a library's) is ignored.
 */

/** The environment variable that makes a forked process a worker, holding its index (0-based). */
export const WORKER_ENV = 'CARBON_FANOUT_WORKER';

export type WorkerRequestOp = 'status' | 'metrics' | 'reload';

export type PrimaryMessage =
  /** Answer with a `response` of the same id. */
  | { cf: 'request'; id: number; op: WorkerRequestOp }
  /** Drain and exit now (the primary has already waited shutdownGrace). */
  | { cf: 'stop' }
  /** Sent with a socket the primary accepted on listener `listener`'s address: serve it as that listener. */
  | { cf: 'connection'; listener: string }
  /** The primary refused a connection: the listener held maxConnections across all workers. Count and log it. */
  | { cf: 'refused'; listener: string; remoteAddress: string };

export type WorkerMessage =
  /** The relay in this worker is listening. */
  | { cf: 'started' }
  /** The relay could not start (a port taken, a file unreadable); the worker exits. */
  | { cf: 'failed'; error: string }
  | { cf: 'response'; id: number; ok: true; value: unknown }
  | { cf: 'response'; id: number; ok: false; error: string }
  /** Sent just before a worker exits after a drain. */
  | { cf: 'stopped'; outcome: DrainOutcome }
  /** A connection the primary handed over has closed (the primary counts each worker's open ones). */
  | { cf: 'closed'; listener: string };

function tagged(m: unknown): m is { cf: string } {
  return typeof m === 'object' && m !== null && typeof (m as { cf?: unknown }).cf === 'string';
}

export function isWorkerMessage(m: unknown): m is WorkerMessage {
  return tagged(m) && ['started', 'failed', 'response', 'stopped', 'closed'].includes(m.cf);
}

export function isPrimaryMessage(m: unknown): m is PrimaryMessage {
  return (
    tagged(m) &&
    (m.cf === 'stop' ||
      (m.cf === 'request' && typeof (m as { id?: unknown }).id === 'number') ||
      (m.cf === 'connection' && typeof (m as { listener?: unknown }).listener === 'string') ||
      (m.cf === 'refused' && typeof (m as { listener?: unknown }).listener === 'string' && typeof (m as { remoteAddress?: unknown }).remoteAddress === 'string'))
  );
}

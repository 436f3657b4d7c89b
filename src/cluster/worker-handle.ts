import type { Serializable } from 'node:child_process';
import type { Socket } from 'node:net';
import type { Logger } from '../telemetry/logger';
import type { PrimaryMessage } from './protocol';

/** A forked worker process as the primary sees it. */
export interface WorkerHandle {
  readonly pid: number | undefined;
  /** `onFailed` runs (asynchronously) when the message could not be handed to the worker: it died, its channel closed. */
  send(message: PrimaryMessage, onFailed?: (error: Error) => void): void;
  /**
   * send() with a socket for the worker; `done` runs once it is sent (error null) or could not be (this
   * process's copy stays open until then: close it in `done`). A worker that dies first may never call back.
   */
  sendSocket(message: PrimaryMessage, socket: Socket, done: (error: Error | null) => void): void;
  onMessage(listener: (message: unknown) => void): void;
  onExit(listener: (code: number | null, signal: string | null) => void): void;
  /** SIGKILL: for a worker that outlived the stop deadline. */
  kill(): void;
}

/** What a cluster.Worker and a ChildProcess forked with an IPC channel both offer. */
export interface ForkedProcess {
  readonly process?: { readonly pid?: number; kill(signal: NodeJS.Signals): boolean };
  readonly pid?: number;
  send(message: Serializable, sendHandle: Socket | undefined, options: { keepOpen?: boolean }, callback: (error: Error | null) => void): boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  on(event: 'exit', listener: (code: number | null, signal: string | null) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  kill?(signal: 'SIGKILL'): unknown;
}

/**
 * Wraps a forked worker so that talking to one that has just died never
 * takes the primary down: a worker killed with SIGKILL still looks connected
 * until its 'disconnect' arrives, and a send in that window fails with EPIPE,
 * which Node reports as an 'error' event (fatal when nobody listens) unless a
 * callback takes it.
 */
export function workerHandle(w: ForkedProcess, log: Logger, index: number): WorkerHandle {
  const pid = (): number | undefined => w.process?.pid ?? w.pid;
  w.on('error', (error) => log.warn('worker process error', { worker: index, pid: pid(), error: error.message }));
  const send = (m: PrimaryMessage, socket: Socket | undefined, done: (error: Error | null) => void): void => {
    try {
      // keepOpen: Node closes a sent socket's copy only when the send completes, and never for one queued
      // behind a worker that then dies; the caller closes it, in done or when the worker exits
      w.send(m, socket, { keepOpen: socket !== undefined }, (error) => done(error ?? null));
    } catch (error) {
      // a channel already closed throws in some Node versions instead of calling back
      const e = error as Error;
      setImmediate(() => done(e));
    }
  };
  return {
    get pid() {
      return pid();
    },
    send: (m, onFailed) =>
      send(m, undefined, (error) => {
        if (error !== null) onFailed?.(error);
      }),
    sendSocket: (m, socket, done) => send(m, socket, done),
    onMessage: (l) => void w.on('message', l),
    onExit: (l) => void w.on('exit', l),
    kill: () => {
      if (w.process !== undefined) w.process.kill('SIGKILL');
      else w.kill?.('SIGKILL');
    },
  };
}

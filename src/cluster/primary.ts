import type { Socket } from 'node:net';
import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { AdminListener, type StatusProvider } from '../admin/admin-listener';
import { packageVersion } from '../admin/status';
import { Backoff } from '../common/backoff';
import { configHash } from '../config/hash';
import type { RelayConfig } from '../config/load';
import type { ReloadOutcome, ReloadReport } from '../relay/relay';
import { streamListenerAddresses } from '../relay/topology';
import { logDrainOutcome, refused, type DrainOutcome, type ReadConfig } from '../relay/run';
import type { Logger } from '../telemetry/logger';
import { FAMILIES, PROMETHEUS_PREFIX, type LabelName } from '../telemetry/prometheus-names';
import { isWorkerMessage, type WorkerMessage, type WorkerRequestOp } from './protocol';
import { mergeStatus } from './status-merge';
import { ConnectionBalancer } from './balancer';
import type { WorkerHandle } from './worker-handle';

export interface PrimaryDeps {
  log: Logger;
  /** Start worker `index` (0-based). */
  fork: (index: number) => WorkerHandle;
  now?: () => number;
  /** How long a worker gets to answer a request before it is left out of the answer (default 5 s). */
  requestTimeoutMs?: number;
}

type SlotState = 'starting' | 'running' | 'restarting' | 'stopped';

interface Slot {
  readonly index: number;
  handle: WorkerHandle | undefined;
  state: SlotState;
  restarts: number;
  /** Grows while restarted workers die young; reset by one that stays up. */
  readonly backoff: Backoff;
  startedAt: number;
  timer: NodeJS.Timeout | undefined;
  outcome: DrainOutcome | undefined;
  /** Connections handed to this worker and not yet reported closed, per listener (listen.maxConnections counts them across workers). */
  readonly byListener: Map<string, number>;
  /** This process's copies of sockets on their way to the worker: closed once sent, or when it dies. */
  readonly handing: Set<Socket>;
}

/** Connections a worker holds, over its listeners. */
function held(slot: Slot): number {
  let n = 0;
  for (const c of slot.byListener.values()) n += c;
  return n;
}

const REQUEST_TIMEOUT_MS = 5000;
/** A worker that stayed up this long resets the restart backoff. */
const STABLE_MS = 60_000;
/** After the stop deadline, how long workers get to report before they are killed. */
const EXIT_MARGIN_MS = 5000;
const CONFIG_INFO = `${PROMETHEUS_PREFIX}config_info`;
const RESTART_BACKOFF = { initialMs: 1000, maxMs: 30_000, factor: 2, jitter: 0.2 };

/**
 * The primary process of `workers: N`: forks the workers (each runs the whole
 * relay on its share of the connections), owns the admin listener and answers
 * it from all of them (/status merged, /metrics aggregated with prom-client's
 * AggregatorRegistry, /ready while every worker runs), passes reloads and the
 * drain on to every worker, and restarts a worker that dies (it replays its
 * spool at start, as after any crash).
 */
export class Primary {
  readonly readiness = { ready: false, reason: 'starting' };
  private readonly slots: Slot[];
  private readonly admin: AdminListener | undefined;
  private readonly registry = new Registry();
  private readonly restartsCounter: Counter;
  private readonly reloads: Counter<'reason'>;
  private readonly workersGauge: Gauge<'state'>;
  /** Requests awaiting a worker's answer; `fail` answers for a worker that died or could not be told. */
  private readonly pending = new Map<number, { worker: number; resolve: (m: WorkerMessage) => void; fail: () => void }>();
  private nextId = 1;
  private stopping = false;
  private hash: string;
  private readonly startedAt: number;
  private startupFailure: ((error: Error) => void) | undefined;
  private readonly now: () => number;
  private readonly balancer: ConnectionBalancer;
  /** Where the search for the least-loaded worker starts, so ties go round. */
  private nextPick = 0;
  /** The balancer is bound: connections are taken. */
  private listening = false;

  constructor(
    private config: RelayConfig,
    private readonly deps: PrimaryDeps,
  ) {
    this.now = deps.now ?? Date.now;
    this.startedAt = this.now();
    this.hash = configHash(config);
    this.slots = Array.from({ length: config.workers }, (_, index) => ({ index, handle: undefined, state: 'stopped', restarts: 0, backoff: new Backoff(RESTART_BACKOFF), startedAt: 0, timer: undefined, outcome: undefined, byListener: new Map<string, number>(), handing: new Set<Socket>() }));
    this.balancer = new ConnectionBalancer((listener, socket) => this.handOver(listener, socket), deps.log);
    const registers = [this.registry];
    this.restartsCounter = new Counter({ name: `${PROMETHEUS_PREFIX}worker_restarts_total`, help: 'Worker processes restarted after they died.', registers });
    // 'max': workers count the reloads they applied; the primary alone sees the ones refused before reaching them
    this.reloads = new Counter({ name: `${PROMETHEUS_PREFIX}config_reloads_total`, help: 'Configuration reloads (SIGHUP), by result.', labelNames: ['reason'], registers, aggregator: 'max' });
    collectDefaultMetrics({ register: this.registry, prefix: PROMETHEUS_PREFIX });
    const configInfo: Gauge<LabelName> = new Gauge<LabelName>({
      name: CONFIG_INFO,
      help: FAMILIES.config_info.help,
      labelNames: FAMILIES.config_info.labels,
      registers,
      collect: () => {
        configInfo.reset();
        configInfo.set({ hash: this.hash }, 1);
      },
    });
    this.workersGauge = new Gauge({ name: `${PROMETHEUS_PREFIX}workers`, help: 'Worker processes by state (running, starting, restarting).', labelNames: ['state'], registers });
    this.admin =
      config.admin === false ? undefined : new AdminListener(config.admin, { status: this.statusProvider(), readiness: this.readiness, log: deps.log, metrics: () => this.scrape() });
  }

  get adminPort(): number {
    return this.admin?.port ?? 0;
  }

  /** The port the primary listens on for a TCP receiver (differs from the configured one when that was 0). */
  listenerPort(name: string): number {
    return this.balancer.port(name);
  }

  /** Starts the admin listener, then every worker; rejects (after stopping what started) if one cannot start. */
  async start(): Promise<void> {
    await this.admin?.start();
    const failed = new Promise<never>((_, reject) => (this.startupFailure = reject));
    try {
      await Promise.race([Promise.all(this.slots.map((s) => this.spawn(s))), failed]);
      // every worker is ready to serve: only now take connections (a taken port fails the start here)
      await this.balancer.bind(streamListenerAddresses(this.config.listen));
      this.listening = true;
    } catch (err) {
      this.startupFailure = undefined;
      await this.stop(this.now() + this.config.shutdownTimeoutMs);
      throw err;
    }
    this.startupFailure = undefined;
    this.updateReadiness();
    this.deps.log.info('carbon-fanout started', { config: this.config.file, workers: this.slots.length, pids: this.slots.map((s) => s.handle?.pid) });
  }

  /** What POST /reload and SIGHUP run: re-read, apply the primary's own part, then every worker re-reads and applies. */
  async reload(read: () => ReadConfig): Promise<ReloadOutcome> {
    let next: ReadConfig;
    try {
      next = read();
    } catch (err) {
      this.reloads.inc({ reason: 'failed' });
      return refused(err, this.deps.log);
    }
    const hash = configHash(next.config);
    const needsRestart = [
      ...(next.config.workers !== this.config.workers ? ['workers'] : []),
      ...((next.config.admin === false) !== (this.config.admin === false) ? ['admin (turning the admin listener on or off)'] : []),
    ];
    if (needsRestart.length > 0) {
      this.reloads.inc({ reason: 'restart_required' });
      this.deps.log.warn('reload not applied: these settings need a restart', { settings: needsRestart, hash });
      return { result: 'restart_required', needsRestart, added: [], removed: [], kept: [], reconfigured: [], hash };
    }
    const notApplied: string[] = [];
    if (next.config.admin !== false && this.admin !== undefined) {
      try {
        await this.admin.reconfigure(next.config.admin);
      } catch (err) {
        notApplied.push(`admin: ${(err as Error).message}`);
      }
    }
    const answers = (await this.request('reload')).map((a) => a.value);
    // the workers have their receivers for the new addresses: move the ports to them
    notApplied.push(...(await this.balancer.reconfigure(streamListenerAddresses(next.config.listen))));
    const reports = answers.filter((a): a is ReloadReport => typeof a === 'object' && a !== null && (a as ReloadOutcome).result !== 'failed');
    const failures = answers.filter((a) => !reports.includes(a as ReloadReport));
    if (failures.length > 0 || reports.length === 0) {
      this.reloads.inc({ reason: 'failed' });
      const error = failures.map((f) => (f as { error?: string }).error ?? String(f)).join('; ') || 'no worker answered';
      this.deps.log.error('reload failed in a worker', { error });
      return { result: 'failed', error };
    }
    if (notApplied.length === 0 && reports.every((r) => (r.notApplied ?? []).length === 0)) {
      this.config = next.config;
      this.hash = hash;
    }
    if (reports[0].result === 'applied') this.reloads.inc({ reason: 'applied' });
    const merged = reports[0];
    const allNotApplied = [...notApplied, ...reports.flatMap((r) => r.notApplied ?? [])];
    return { ...merged, ...(allNotApplied.length > 0 && { notApplied: [...new Set(allNotApplied)] }), hash: this.hash };
  }

  /** Drains every worker within the deadline (they deliver or spool what they hold) and stops the admin listener last. */
  async stop(deadline: number): Promise<DrainOutcome> {
    this.stopping = true;
    this.readiness.ready = false;
    this.readiness.reason = 'draining';
    await this.balancer.close();
    for (const s of this.slots) {
      if (s.timer !== undefined) clearTimeout(s.timer);
      s.timer = undefined;
    }
    const exits = this.slots.map((s) => this.exited(s));
    for (const s of this.slots) s.handle?.send({ cf: 'stop' });
    const killAt = deadline + EXIT_MARGIN_MS - this.now();
    const killer = setTimeout(
      () => {
        for (const s of this.slots) {
          if (s.handle === undefined) continue;
          this.deps.log.error('worker did not exit after the stop deadline: killed', { worker: s.index, pid: s.handle.pid });
          s.handle.kill();
        }
      },
      Math.max(0, killAt),
    );
    await Promise.all(exits);
    clearTimeout(killer);
    const total = { delivered: 0, spooled: 0, lost: 0 };
    for (const s of this.slots) {
      total.delivered += s.outcome?.delivered ?? 0;
      total.spooled += s.outcome?.spooled ?? 0;
      total.lost += s.outcome?.lost ?? 0;
    }
    logDrainOutcome(this.deps.log, total);
    await this.admin?.stop(deadline);
    return total;
  }

  /** Sets what /ready says while the primary waits shutdownGrace before stopping the workers. */
  draining(): void {
    this.readiness.ready = false;
    this.readiness.reason = 'draining';
  }

  setReloader(reload: () => Promise<ReloadOutcome>): void {
    this.admin?.setReloader(reload);
  }

  private spawn(slot: Slot): Promise<void> {
    slot.state = 'starting';
    slot.outcome = undefined;
    const handle = this.deps.fork(slot.index);
    slot.handle = handle;
    return new Promise<void>((resolve) => {
      handle.onMessage((m) => {
        if (!isWorkerMessage(m)) return;
        if (m.cf === 'started') {
          slot.state = 'running';
          slot.startedAt = this.now();
          this.updateReadiness();
          resolve();
        } else if (m.cf === 'failed') {
          this.deps.log.error('worker could not start', { worker: slot.index, error: m.error });
          this.startupFailure?.(new Error(`worker ${slot.index}: ${m.error}`));
        } else if (m.cf === 'stopped') slot.outcome = m.outcome;
        else if (m.cf === 'closed') this.released(slot, m.listener);
        else if (m.cf === 'response') this.pending.get(m.id)?.resolve(m);
      });
      handle.onExit((code, signal) => {
        slot.handle = undefined;
        slot.byListener.clear();
        // sends queued behind a worker that died are never called back: close those sockets here
        for (const socket of slot.handing) socket.destroy();
        slot.handing.clear();
        // a dead worker answers nothing: what waits on it is answered without it now, not after requestTimeoutMs
        for (const p of [...this.pending.values()]) if (p.worker === slot.index) p.fail();
        const wasRunning = slot.state === 'running';
        slot.state = 'stopped';
        if (!this.stopping && this.startupFailure !== undefined) this.startupFailure(new Error(`worker ${slot.index} exited during startup (code ${code}, signal ${signal})`));
        else if (!this.stopping) this.restartLater(slot, wasRunning, code, signal);
        this.updateReadiness();
      });
    });
  }

  private restartLater(slot: Slot, wasRunning: boolean, code: number | null, signal: string | null): void {
    // a worker that ran for a while died of something passing: restart after the first delay; one dying young waits longer each time
    if (wasRunning && this.now() - slot.startedAt >= STABLE_MS) slot.backoff.reset();
    const delay = slot.backoff.next();
    slot.state = 'restarting';
    this.deps.log.error('worker died: restarting it (it replays its spool)', { worker: slot.index, code, signal, restartInMs: delay });
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      if (this.stopping) return;
      slot.restarts++;
      this.restartsCounter.inc();
      void this.spawn(slot);
    }, delay);
  }

  /** Hands a connection to the running worker holding the fewest (ties go round); false when none runs. */
  private handOver(listener: string, socket: Socket): boolean {
    const n = this.slots.length;
    let best: Slot | undefined;
    for (let k = 0; k < n; k++) {
      const s = this.slots[(this.nextPick + k) % n];
      if (s.state !== 'running' || s.handle === undefined) continue;
      if (best === undefined || held(s) < held(best)) best = s;
    }
    if (best === undefined) return false;
    const slot = best;
    // listen.maxConnections is per listener for the relay, whatever the worker count: the primary sees every connection
    const max = this.config.listen.maxConnections;
    if (max > 0 && this.openOn(listener) >= max) {
      const remoteAddress = socket.remoteAddress ?? 'unknown';
      socket.destroy();
      // a worker counts and logs it, so the refusal shows wherever its own refusals do (self-metrics, /metrics, /status)
      slot.handle?.send({ cf: 'refused', listener, remoteAddress }, () => undefined);
      return true;
    }
    this.nextPick = (best.index + 1) % n;
    slot.byListener.set(listener, (slot.byListener.get(listener) ?? 0) + 1);
    slot.handing.add(socket);
    slot.handle?.sendSocket({ cf: 'connection', listener }, socket, (error) => {
      if (!slot.handing.delete(socket)) return;
      // sent: the worker has its own copy; not sent: the client sees the close and reconnects
      socket.destroy();
      if (error !== null) this.released(slot, listener);
    });
    return true;
  }

  /** Connections open on `listener` across the workers. */
  private openOn(listener: string): number {
    let n = 0;
    for (const s of this.slots) n += s.byListener.get(listener) ?? 0;
    return n;
  }

  /** A handed connection closed (or never reached its worker). */
  private released(slot: Slot, listener: string): void {
    const n = (slot.byListener.get(listener) ?? 0) - 1;
    if (n > 0) slot.byListener.set(listener, n);
    else slot.byListener.delete(listener);
  }

  private exited(slot: Slot): Promise<void> {
    if (slot.handle === undefined) return Promise.resolve();
    const handle = slot.handle;
    return new Promise<void>((resolve) => handle.onExit(() => resolve()));
  }

  private updateReadiness(): void {
    if (this.stopping || this.readiness.reason === 'draining') return;
    // /ready only once the receivers' ports take connections, not when the workers are up before that
    const running = this.listening && this.slots.every((s) => s.state === 'running');
    this.readiness.ready = running;
    this.readiness.reason = running ? 'ready' : this.slots.some((s) => s.state === 'restarting') ? 'worker restarting' : 'starting';
  }

  /** Asks every running worker; a worker that does not answer in time (or errs) is left out. */
  private async request(op: WorkerRequestOp): Promise<{ index: number; value: unknown }[]> {
    const asks = this.slots
      .filter((s) => s.state === 'running' && s.handle !== undefined)
      .map(
        (s) =>
          new Promise<{ index: number; value: unknown } | undefined>((resolve) => {
            const id = this.nextId++;
            let settled = false;
            const settle = (answer: { index: number; value: unknown } | undefined): void => {
              if (settled) return;
              settled = true;
              clearTimeout(timer);
              this.pending.delete(id);
              resolve(answer);
            };
            const timer = setTimeout(() => {
              this.deps.log.warn('worker did not answer in time', { worker: s.index, op });
              settle(undefined);
            }, this.deps.requestTimeoutMs ?? REQUEST_TIMEOUT_MS);
            this.pending.set(id, {
              worker: s.index,
              resolve: (m) => settle(m.cf === 'response' ? { index: s.index, value: m.ok ? m.value : { result: 'failed', error: `worker ${s.index}: ${m.error}` } } : undefined),
              fail: () => settle(undefined),
            });
            s.handle?.send({ cf: 'request', id, op }, () => settle(undefined));
          }),
      );
    return (await Promise.all(asks)).filter((a) => a !== undefined);
  }

  private statusProvider(): StatusProvider {
    return {
      tick: () => undefined,
      snapshot: async () => {
        const answers = (await this.request('status')) as { index: number; value: Record<string, unknown> }[];
        const received = new Map(answers.map((a) => [a.index, (a.value.received as { total?: number } | undefined)?.total ?? 0]));
        const merged = mergeStatus(answers.map((a) => a.value));
        return {
          ...merged,
          listeners: this.boundPorts(merged.listeners),
          version: packageVersion(),
          uptimeSeconds: Math.round((this.now() - this.startedAt) / 1000),
          config: { file: this.config.file, hash: this.hash },
          ready: this.readiness.ready,
          state: this.readiness.reason,
          workers: this.slots.map((s) => ({ index: s.index, pid: s.handle?.pid ?? null, state: s.state, restarts: s.restarts, received: received.get(s.index) ?? null, connections: held(s) })),
        };
      },
    };
  }

  /**
   * The TCP receivers' ports as the primary bound them: the workers are handed connections and only know the
   * configured port, which differs when that was 0.
   */
  private boundPorts(listeners: unknown): unknown {
    if (!Array.isArray(listeners)) return listeners;
    return listeners.map((l: unknown) => {
      if (typeof l !== 'object' || l === null || typeof (l as { name?: unknown }).name !== 'string') return l;
      const port = this.balancer.port((l as { name: string }).name);
      return port > 0 ? { ...l, port } : l;
    });
  }

  /** /metrics: every worker's families added up (or combined as each family says), with the primary's own. */
  private async scrape(): Promise<[string, string]> {
    const parts = (await this.request('metrics')).map((a) => a.value as MetricObjectWithValues<MetricValue<string>>[]);
    for (const state of ['running', 'starting', 'restarting'] as const) this.workersGauge.set({ state }, this.slots.filter((s) => s.state === state).length);
    const own = await this.registry.getMetricsAsJSON();
    // each worker hashes its own share of the config: the hash operators compare is the primary's (check prints it)
    const workers = parts.map((p) => p.filter((m) => m.name !== CONFIG_INFO));
    const registry = AggregatorRegistry.aggregate([...workers, own]);
    return [registry.contentType, await registry.metrics()];
  }
}

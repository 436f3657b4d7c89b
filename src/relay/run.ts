import { ConfigError } from '../config/config-error';
import type { RelayConfig } from '../config/load';
import type { Logger } from '../telemetry/logger';
import type { Relay, ReloadOutcome } from './relay';

/** What a stop achieved: delivered during the stop, spooled for the next start, lost. */
export interface DrainOutcome {
  delivered: number;
  spooled: number;
  lost: number;
}

/** A config as read for a reload, with the conversion's warnings (carbon.conf). */
export interface ReadConfig {
  config: RelayConfig;
  warnings?: readonly string[];
}

/**
 * The stop SIGTERM runs: /ready turns false first, so a load balancer stops
 * sending before the receivers stop reading (after `graceMs`), then every
 * component stops within shutdownTimeout; the outcome is logged and returned.
 */
export async function drainRelay(relay: Relay, log: Logger, signal: string, graceMs: number): Promise<DrainOutcome> {
  const config = relay.config;
  relay.readiness.draining();
  if (graceMs > 0) {
    log.info('shutting down: not ready; waiting for the load balancer to notice', { signal, graceMs });
    await new Promise((r) => setTimeout(r, graceMs));
  }
  log.info('shutting down: delivering queued datapoints', { signal, deadlineMs: config.shutdownTimeoutMs });
  const sent = (): number => [...relay.destinations.values()].reduce((n, d) => n + d.counters.sent, 0);
  const sentBefore = sent();
  const report = await relay.stop(Date.now() + config.shutdownTimeoutMs);
  const outcome = { delivered: sent() - sentBefore, spooled: report.spooled, lost: report.undelivered };
  logDrainOutcome(log, outcome);
  return outcome;
}

export function logDrainOutcome(log: Logger, outcome: DrainOutcome): void {
  if (outcome.lost > 0) log.error('shutdown finished with undelivered datapoints', { ...outcome });
  else if (outcome.spooled > 0) log.info('shutdown complete: what could not be delivered was spooled for the next start', { ...outcome });
  else log.info('shutdown complete: every queued datapoint was delivered', { ...outcome });
}

/** Re-read the config and apply it; an invalid one changes nothing and is counted. */
export async function reloadRelay(relay: Relay, read: () => ReadConfig, log: Logger): Promise<ReloadOutcome> {
  let next: ReadConfig;
  try {
    next = read();
  } catch (err) {
    relay.reloadFailed();
    return refused(err, log);
  }
  for (const w of next.warnings ?? []) log.warn(w);
  try {
    const r = await relay.reload(next.config);
    if (r.result === 'restart_required') log.warn('reload not applied: these settings need a restart', { settings: r.needsRestart, hash: r.hash });
    else if (r.result === 'unchanged') log.info('reload: configuration unchanged', { hash: r.hash });
    return r;
  } catch (err) {
    relay.reloadFailed();
    const error = (err as Error).message;
    log.error('reload failed; still running on the previous configuration', { error });
    return { result: 'failed', error };
  }
}

/** The answer and log line for a config that could not be read or validated. */
export function refused(err: unknown, log: Logger): ReloadOutcome {
  const error = (err as Error).message;
  if (err instanceof ConfigError) log.error('reload refused: the new configuration is invalid; still running on the previous one', { error, code: err.code });
  else log.error('reload failed; still running on the previous configuration', { error });
  return { result: 'failed', error };
}

/** Runs reloads one at a time, in the order asked (SIGHUP and POST /reload share it). */
export function serialized<T>(run: () => Promise<T>): () => Promise<T> {
  let last: Promise<unknown> = Promise.resolve();
  return () => {
    const done = last.then(run, run);
    last = done.catch(() => undefined);
    return done;
  };
}

#!/usr/bin/env node
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { ConfigError } from './config/config-error';
import { loadConfig, type RelayConfig } from './config/load';
import { buildRouters } from './routing/build';
import { RouteVerdict } from './routing/router';
import { Relay } from './relay';
import { createLogger, type Logger, type LogLevel } from './telemetry/logger';

export interface CliIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream;
  env: NodeJS.ProcessEnv;
  /** Resolves when `start` should shut down; defaults to the first SIGTERM or SIGINT. */
  shutdown?: Promise<string>;
  /** Use this logger instead of one built from the config (tests pass a silent one). */
  log?: Logger;
  /** Called once the relay is listening (tests use it to find ports). */
  onStarted?: (relay: Relay) => void;
}

const USAGE = `usage:
  carbon-fanout start [-c FILE]             run the relay (default config: config/relay.yaml)
  carbon-fanout check -c FILE               validate a config; exit 0 with a summary, 1 with the error
  carbon-fanout route -c FILE [METRIC...]   print METRIC<TAB>destinations for each metric (args or stdin lines)
`;

const LOG_LEVELS: readonly string[] = ['error', 'warn', 'info', 'debug'];

/** The CLI as a function: argv in, exit code out. The only place that reads argv or decides exit codes. */
export async function main(argv: readonly string[], io: CliIO): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (err) {
    io.stderr.write(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const [command, ...rest] = parsed.positionals;
  if (parsed.values.help || command === undefined) {
    (parsed.values.help ? io.stdout : io.stderr).write(USAGE);
    return parsed.values.help ? 0 : 2;
  }
  const file = parsed.values.config ?? (command === 'start' ? 'config/relay.yaml' : undefined);
  if (file === undefined) {
    io.stderr.write(`${command}: -c FILE is required\n${USAGE}`);
    return 2;
  }
  let config: RelayConfig;
  try {
    if (!['start', 'check', 'route'].includes(command)) {
      io.stderr.write(`unknown command "${command}"\n${USAGE}`);
      return 2;
    }
    config = loadConfig(file, io.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      io.stderr.write(`config error: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  switch (command) {
    case 'check':
      io.stdout.write(`${summary(config)}\n`);
      return 0;
    case 'route':
      return route(config, rest, io);
    default:
      return start(config, io);
  }
}

function summary(c: RelayConfig): string {
  const l = c.listen;
  const listeners = [
    l.line?.tcp && `line tcp ${l.line.tcp.host}:${l.line.tcp.port}`,
    l.line?.udp && `line udp ${l.line.udp.host}:${l.line.udp.port}`,
    l.line?.tls && `line tls ${l.line.tls.host}:${l.line.tls.port}`,
    l.pickle?.tcp && `pickle tcp ${l.pickle.tcp.host}:${l.pickle.tcp.port}`,
  ].filter(Boolean);
  const groups = c.groups.length > 0 ? `, ${c.groups.length} groups (${c.groups.map((g) => g.name).join(', ')})` : '';
  return `OK ${c.file}: ${listeners.length} listeners (${listeners.join(', ')}), ${c.destinations.length} destinations (${c.destinations
    .map((d) => d.name)
    .join(', ')})${groups}, ${c.rules.rules.length + 1} rules`;
}

const VERDICT_TEXT: Record<RouteVerdict, string> = {
  [RouteVerdict.Ok]: '',
  [RouteVerdict.InvalidName]: '(invalid name: dropped)',
  [RouteVerdict.Blacklisted]: '(blacklisted: dropped)',
  [RouteVerdict.NotWhitelisted]: '(not whitelisted: dropped)',
};

async function route(config: RelayConfig, metrics: string[], io: CliIO): Promise<number> {
  const { received } = buildRouters(config, (d) => d.name, io.log ?? createLogger({ level: 'error' }));
  const print = (m: string): void => {
    const r = received.route(m);
    io.stdout.write(`${m}\t${r.verdict === RouteVerdict.Ok ? r.destinations.join(',') : VERDICT_TEXT[r.verdict]}\n`);
  };
  if (metrics.length > 0) {
    metrics.forEach(print);
    return 0;
  }
  const rl = readline.createInterface({ input: io.stdin, crlfDelay: Infinity });
  for await (const line of rl) {
    const m = line.trim().split(/\s+/)[0];
    if (m) print(m);
  }
  return 0;
}

async function start(config: RelayConfig, io: CliIO): Promise<number> {
  const envLevel = io.env.LOG_LEVEL;
  const level = (envLevel !== undefined && LOG_LEVELS.includes(envLevel) ? envLevel : config.logLevel) as LogLevel;
  const log = io.log ?? createLogger({ level });
  const relay = new Relay(config, { log });
  try {
    await relay.start();
  } catch (err) {
    log.error('startup failed', { error: (err as Error).message });
    await relay.stop(Date.now());
    return 1;
  }
  log.info('carbon-fanout started', { config: config.file, destinations: [...relay.destinations.values()].map((d) => `${d.name}=${d.description}`) });
  io.onStarted?.(relay);
  const signal = await (io.shutdown ??
    new Promise<string>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    }));
  log.info('shutting down: delivering queued datapoints', { signal, deadlineMs: config.shutdownTimeoutMs });
  const report = await relay.stop(Date.now() + config.shutdownTimeoutMs);
  if (report.undelivered > 0) log.error('shutdown finished with undelivered datapoints', { undelivered: report.undelivered });
  else log.info('shutdown complete: every queued datapoint was delivered');
  if (io.log === undefined) await new Promise<void>((r) => log.on('finish', r).end());
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env }).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}

#!/usr/bin/env node
import cluster from 'node:cluster';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { ConfigError } from './config/config-error';
import { stringify as stringifyYaml } from 'yaml';
import { backstopConfigFromEnv } from './config/backstop-env';
import { carbonDestinationLabel, readCarbonConf, type CarbonConfResult } from './config/carbon-conf';
import { configHash } from './config/hash';
import { loadConfig, loadConfigObject, type RelayConfig } from './config/load';
import type { DestinationConfig, HealthGroupConfig } from './config/schema';
import { Primary } from './cluster/primary';
import { workerHandle } from './cluster/worker-handle';
import { WORKER_ENV } from './cluster/protocol';
import { runWorker, workerView, type PrimaryChannel } from './cluster/worker';
import { OrphanDrain } from './cluster/orphan-drain';
import { buildRouters } from './routing/build';
import { RouteVerdict } from './routing/router';
import { packageVersion } from './admin/status';
import { faultThreshold } from './codec/name-validation';
import { openToTheNetwork } from './ingest/http/groups';
import { Relay } from './relay/relay';
import { drainRelay, reloadRelay, serialized, type ReadConfig } from './relay/run';
import { dropSpool, inspectSpool, locateSpool, verifySpool, type CommandDeps, type SpoolLocation } from './output/spool/inspect';
import { SpoolLockedError } from './output/spool/spool';
import { importCatchpointIntegration } from './sources/catchpoint/integration-config';
import { pollOnce } from './sources/poll-once';
import { createLogger, silentLogger, type Logger, type LogLevel } from './telemetry/logger';

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
  /** Handed the function SIGHUP calls (re-read and apply the config), for tests that cannot send signals. */
  onReloadable?: (reload: () => void) => void;
  /**
   * The CLI runs as its own process and may fork worker processes (`workers` above 1). Off when main() is called
   * in a test's process: the relay then runs in that process, whatever `workers` says.
   */
  processes?: boolean;
  /** Epoch ms that `spool inspect` measures record ages against; default Date.now (tests fix it to assert exact ages). */
  now?: () => number;
}

const USAGE = `usage:
  carbon-fanout --version | -V              print the version
  carbon-fanout start [-c FILE]             run the relay (default config: config/relay.yaml)
  carbon-fanout check -c FILE               validate a config; exit 0 with a summary, 1 with the error
  carbon-fanout route -c FILE [METRIC...]   print METRIC<TAB>destinations for each metric (args or stdin lines)
  carbon-fanout convert --carbon-conf FILE  print the equivalent carbon-fanout YAML
  carbon-fanout convert --catchpoint-config DIR
                                            print a sources: block from the Catchpoint Graphite integration's
                                            config_catchpoint.yaml and config_graphite.yaml (in DIR or DIR/config)
  carbon-fanout poll-once -c FILE [--source NAME]
                                            run one poll of a pull source and print the lines it would relay
  carbon-fanout reload -c FILE              ask the relay running with FILE to re-read it (POST /reload on its admin
                                            listener, with the first admin user's credentials); prints the result
  carbon-fanout spool inspect|verify|drop -c FILE DEST [--yes]
                                            a network destination's disk spool: inspect prints its size, pending
                                            datapoints and oldest record; verify reads every pending record (exit 1
                                            on damage); drop empties it after asking (--yes: without asking).
                                            verify and drop refuse while a running relay holds the spool

  start, check, route and spool read carbon-relay's own files instead of -c with:
    --carbon-conf FILE   carbon.conf ([relay], then [relay:<instance>])
    --rules FILE         relay-rules.conf (default: CONF_DIR/relay-rules.conf)
    --instance NAME      carbon-relay --instance (default: a)
    --whitelist FILE, --blacklist FILE, --aggregation-rules FILE

  Without -c, when CARBON_URLS is set, Backstop's environment variables are the config
  (CARBON_URLS, PREFIXES, API_KEY, BACKSTOP_AUTH, PORT).
`;

const LOG_LEVELS: readonly string[] = ['error', 'warn', 'info', 'debug'];
const COMMANDS: readonly string[] = ['start', 'check', 'route', 'convert', 'poll-once', 'spool', 'reload'];
const SPOOL_ACTIONS: readonly string[] = ['inspect', 'verify', 'drop'];

/** What a command runs on: the validated config, and for carbon.conf input what the conversion reported. */
interface LoadedConfig {
  config: RelayConfig;
  /** Set when read from carbon.conf: the native config object (for convert) and its warnings. */
  carbon?: CarbonConfResult;
  /** Built from Backstop's environment variables (no -c given, CARBON_URLS set). */
  fromEnvironment?: boolean;
}

/** The CLI as a function: argv in, exit code out. The only place that reads argv or decides exit codes. */
export async function main(argv: readonly string[], io: CliIO): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        'carbon-conf': { type: 'string' },
        rules: { type: 'string' },
        instance: { type: 'string' },
        whitelist: { type: 'string' },
        blacklist: { type: 'string' },
        'aggregation-rules': { type: 'string' },
        'catchpoint-config': { type: 'string' },
        source: { type: 'string' },
        yes: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'V' },
      },
    });
  } catch (err) {
    io.stderr.write(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const v = parsed.values;
  const [command, ...rest] = parsed.positionals;
  if (v.version === true) {
    io.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  if (v.help || command === undefined) {
    (v.help ? io.stdout : io.stderr).write(USAGE);
    return v.help ? 0 : 2;
  }
  if (!COMMANDS.includes(command)) {
    io.stderr.write(`unknown command "${command}"\n${USAGE}`);
    return 2;
  }
  const carbonConf = v['carbon-conf'];
  const carbonOnly = (['rules', 'instance', 'whitelist', 'blacklist', 'aggregation-rules'] as const).filter((k) => v[k] !== undefined);
  let problem: string | undefined;
  if (carbonConf !== undefined && v.config !== undefined) problem = 'use -c FILE or --carbon-conf FILE, not both';
  else if (carbonConf === undefined && carbonOnly.length > 0) problem = `--${carbonOnly[0]} needs --carbon-conf`;
  else if (v['catchpoint-config'] !== undefined && command !== 'convert') problem = '--catchpoint-config is only for convert';
  else if (command === 'convert' && (carbonConf !== undefined || v.config !== undefined) && v['catchpoint-config'] !== undefined) problem = '--catchpoint-config DIR takes no other config (not both)';
  else if (command === 'convert' && carbonConf === undefined && v['catchpoint-config'] === undefined) problem = '--carbon-conf FILE is required (or --catchpoint-config DIR)';
  else if (v.source !== undefined && command !== 'poll-once') problem = '--source is only for poll-once';
  else if (v.yes === true && !(command === 'spool' && rest[0] === 'drop')) problem = '--yes is only for spool drop';
  else if (command === 'spool' && !SPOOL_ACTIONS.includes(rest[0] ?? '')) problem = rest[0] === undefined ? 'inspect, verify or drop is required' : `unknown action "${rest[0]}" (inspect, verify or drop)`;
  else if (command === 'spool' && rest.length < 2) problem = `${rest[0]} needs one destination name (DEST)`;
  else if (command === 'spool' && rest.length > 2) problem = `${rest[0]} takes one destination name, got ${rest.length - 1}`;
  else if (command !== 'start' && command !== 'convert' && carbonConf === undefined && v.config === undefined && !io.env.CARBON_URLS) problem = '-c FILE (or --carbon-conf FILE) is required';
  if (problem !== undefined) {
    io.stderr.write(`${command}: ${problem}\n${USAGE}`);
    return 2;
  }
  if (command === 'convert' && v['catchpoint-config'] !== undefined) return convertCatchpoint(v['catchpoint-config'], io);
  // the same reading at start and at every reload (SIGHUP), carbon.conf setups included
  const read = (): LoadedConfig => {
    // a Backstop deployment switches image without a config file: its environment is the config
    const backstop = carbonConf === undefined ? backstopConfigFromEnv(io.env) : undefined;
    if (carbonConf !== undefined) {
      const carbon = readCarbonConf({
        carbonConf,
        rules: v.rules,
        instance: v.instance,
        whitelist: v.whitelist,
        blacklist: v.blacklist,
        aggregationRules: v['aggregation-rules'],
      });
      return { config: loadConfigObject(carbon.config, carbonConf, io.env), carbon };
    }
    if (v.config === undefined && backstop !== undefined) return { config: loadConfigObject(backstop, 'backstop-environment', io.env), fromEnvironment: true };
    return { config: loadConfig(v.config ?? 'config/relay.yaml', io.env) };
  };
  let loaded: LoadedConfig;
  try {
    loaded = read();
  } catch (err) {
    if (err instanceof ConfigError) {
      io.stderr.write(`config error: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  // start logs them through the relay's logger instead
  if (command !== 'start') for (const w of loaded.carbon?.warnings ?? []) io.stderr.write(`warning: ${w}\n`);
  switch (command) {
    case 'check':
      // aggregation rules are parsed when the routers are built: build them as start does, so check refuses what start would
      try {
        buildRouters(loaded.config, (d) => d.name, silentLogger(), healthGroupLabel);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        io.stderr.write(`config error: ${err.message}\n`);
        return 1;
      }
      io.stdout.write(`${summary(loaded.config)}\n`);
      return 0;
    case 'route':
      return route(loaded, rest, io);
    case 'convert':
      io.stdout.write(toYaml(loaded));
      return 0;
    case 'poll-once':
      return runPollOnce(loaded.config, v.source, io);
    case 'spool':
      return spool(loaded.config, rest[0], rest[1], v.yes === true, io);
    case 'reload':
      return requestReload(loaded.config, io);
    default: {
      const worker = io.env[WORKER_ENV];
      if (cluster.isWorker && worker !== undefined) return startWorker(loaded, io, read, Number(worker));
      if (loaded.config.workers > 1 && io.processes === true) return startPrimary(loaded, io, read);
      return start(loaded, io, read);
    }
  }
}

/** The native YAML for a carbon.conf: loads to the same config (a test holds it to that). */
function toYaml(loaded: LoadedConfig): string {
  const header = [
    `# carbon-fanout config converted from ${loaded.config.file}`,
    '# Self-metric prefix and file paths are fixed at conversion time; edit them if this file moves to another host.',
  ];
  return `${header.join('\n')}\n${stringifyYaml(loaded.carbon?.config, { lineWidth: 0 })}`;
}

function summary(c: RelayConfig): string {
  const l = c.listen;
  const listeners = [
    l.line?.tcp && `line tcp ${l.line.tcp.host}:${l.line.tcp.port}`,
    l.line?.udp && `line udp ${l.line.udp.host}:${l.line.udp.port}`,
    l.line?.tls && `line tls ${l.line.tls.host}:${l.line.tls.port}`,
    l.pickle?.tcp && `pickle tcp ${l.pickle.tcp.host}:${l.pickle.tcp.port}`,
    l.http && `${l.http.cert === undefined ? 'http' : 'https'} ${l.http.host}:${l.http.port}`,
  ].filter(Boolean);
  const groups = c.groups.length > 0 ? `, ${c.groups.length} groups (${c.groups.map((g) => g.name).join(', ')})` : '';
  const sources = c.sources.length > 0 ? `, ${c.sources.length} sources (${c.sources.map((s) => `${s.name}: ${s.type}`).join(', ')})` : '';
  return `OK ${c.file}: ${listeners.length} listeners (${listeners.join(', ')}), ${c.destinations.length} destinations (${c.destinations
    .map((d) => d.name)
    .join(', ')})${groups}, ${c.rules.rules.length + 1} rules${sources}${c.admin === false ? '' : `, admin ${c.admin.host}:${c.admin.port}`}, ${c.workers === 1 ? '1 process' : `${c.workers} workers`}; config hash ${configHash(c)}`;
}

const VERDICT_TEXT: Record<RouteVerdict, string> = {
  [RouteVerdict.Ok]: '',
  [RouteVerdict.InvalidName]: '(invalid name: dropped)',
  [RouteVerdict.Blacklisted]: '(blacklisted: dropped)',
  [RouteVerdict.NotWhitelisted]: '(not whitelisted: dropped)',
  [RouteVerdict.NameTooLong]: '(name over maxNameLength: dropped)',
  [RouteVerdict.InvalidRewrite]: '(rewritten to an invalid name: dropped)',
};

/** The dry run judges names as a listener with the default validation level would. */
const ROUTE_THRESHOLD = faultThreshold('carbon');

/** Destinations as the relay names them, or as carbon writes them in DESTINATIONS when the input was carbon.conf. */
function routeLabel(loaded: LoadedConfig): (d: DestinationConfig) => string {
  if (loaded.carbon === undefined) return (d) => d.name;
  return (d) => (d.type === 'carbon' ? carbonDestinationLabel({ host: d.host, port: d.port, instance: d.instance ?? null }) : d.name);
}

/** A failover or any_of group picks a member at send time, by health: a dry run names the group and its members. */
const healthGroupLabel = (g: HealthGroupConfig, members: string[]): string => `${g.name}(${g.type}:${members.join('|')})`;

async function route(loaded: LoadedConfig, metrics: string[], io: CliIO): Promise<number> {
  const { received } = buildRouters(loaded.config, routeLabel(loaded), io.log ?? createLogger({ level: 'error' }), healthGroupLabel);
  const print = (m: string): void => {
    const r = received.route(m);
    const verdict = r.fault >= ROUTE_THRESHOLD ? RouteVerdict.InvalidName : r.verdict;
    // `orig -> rewritten` only when a rewrite rule changed the name, so the output without rewrites is as before
    const shown = r.rewritten ? `${m} -> ${r.name}` : m;
    io.stdout.write(`${shown}\t${verdict === RouteVerdict.Ok ? r.destinations.join(',') : VERDICT_TEXT[verdict]}\n`);
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

/** The Catchpoint integration's YAML files as a `sources:` block; warnings on stderr. */
function convertCatchpoint(dir: string, io: CliIO): number {
  try {
    const imported = importCatchpointIntegration(dir);
    for (const w of imported.warnings) io.stderr.write(`warning: ${w}\n`);
    io.stdout.write(imported.yaml);
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) {
      io.stderr.write(`convert: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

/** One poll of a source: its lines on stdout, a summary on stderr; exit 1 if a call failed. */
async function runPollOnce(config: RelayConfig, name: string | undefined, io: CliIO): Promise<number> {
  const names = config.sources.map((s) => s.name);
  const cfg = name === undefined && names.length === 1 ? config.sources[0] : config.sources.find((s) => s.name === name);
  if (cfg === undefined) {
    const known = names.length > 0 ? ` (configured: ${names.join(', ')})` : ' (the config has no sources:)';
    io.stderr.write(`poll-once: ${name === undefined ? '--source NAME is required' : `unknown source "${name}"`}${known}\n`);
    return 2;
  }
  const log = io.log ?? createLogger({ level: logLevel(config, io) });
  const { lines, result } = await pollOnce(cfg, { log });
  for (const line of lines) io.stdout.write(`${line}\n`);
  const summary = `${cfg.name}: ${result.datapoints} datapoints from ${result.calls} calls`;
  if (result.fatal !== undefined) io.stderr.write(`poll-once: ${cfg.name}: ${result.fatal}\n`);
  else if (!result.ok) io.stderr.write(`poll-once: ${summary}; ${result.failedCalls} failed, ${result.deferredCalls} not made (see the log)\n`);
  else io.stderr.write(`poll-once: ${summary}\n`);
  if (io.log === undefined) await new Promise<void>((r) => log.on('finish', r).end());
  return result.ok ? 0 : 1;
}

/**
 * spool inspect|verify|drop on one destination (output/spool/inspect.ts does
 * the work). Exit 2 when DEST is not a network destination, 1 when the config
 * gives it no spool, when a relay holds it (verify, drop), when verify finds
 * damage and when drop is declined or leaves segments behind.
 */
async function spool(config: RelayConfig, action: string, name: string, yes: boolean, io: CliIO): Promise<number> {
  const tag = `spool ${action}`;
  const found = locateSpool(config, name);
  if (!found.ok) {
    io.stderr.write(`${tag}: ${found.message}\n`);
    return found.problem === 'usage' ? 2 : 1;
  }
  const log = io.log ?? createLogger({ level: logLevel(config, io) });
  const deps: CommandDeps = { log, now: io.now ?? Date.now };
  try {
    return await spoolAction(action, found.spool, yes, deps, io);
  } catch (err) {
    if (err instanceof SpoolLockedError) {
      io.stderr.write(`${tag}: ${name}: the spool is in use by process ${err.ownerPid ?? '(unknown)'} (a running relay); stop it first\n`);
      return 1;
    }
    // the directory unreadable, a disk error: say which spool, as for any other failure of this command
    if (err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string') {
      io.stderr.write(`${tag}: ${name}: ${err.message}\n`);
      return 1;
    }
    throw err;
  } finally {
    if (io.log === undefined) await new Promise<void>((r) => log.on('finish', r).end());
  }
}

async function spoolAction(action: string, loc: SpoolLocation, yes: boolean, deps: CommandDeps, io: CliIO): Promise<number> {
  const print = (lines: string[]): void => void io.stdout.write(lines.map((l) => `${l}\n`).join(''));
  if (action === 'inspect') {
    const r = inspectSpool(loc, deps);
    const unknown = 'unknown';
    print([
      `directory: ${loc.dir}`,
      `bytes: ${r.bytes}`,
      `segments: ${r.segments}`,
      `bad segments: ${r.badSegments}`,
      `pending datapoints: ${r.pendingDatapoints ?? unknown}`,
      // appends and the clock are whole ms, so this prints at most 3 decimals, exactly
      `oldest record age seconds: ${r.lock.held ? unknown : r.oldest === undefined ? '-' : r.oldest.ageMs / 1000}`,
      `oldest record appended at: ${r.lock.held ? unknown : r.oldest === undefined ? '-' : new Date(r.oldest.appendedAtMs).toISOString()}`,
      `locked: ${r.lock.held ? `yes, by process ${r.lock.pid ?? '(unknown)'}` : 'no'}`,
    ]);
    return 0;
  }
  if (action === 'verify') {
    const r = verifySpool(loc, deps);
    print([`directory: ${loc.dir}`, `records checked: ${r.records}`, `datapoints: ${r.datapoints}`, `corrupt records: ${r.corruptRecords}`, `bad segments: ${r.badSegments}`]);
    return r.corruptRecords === 0 && r.badSegments === 0 ? 0 : 1;
  }
  const r = await dropSpool(loc, deps, async ({ datapoints, bytes }) => {
    if (yes) return true;
    io.stdout.write(`drop ${datapoints} datapoints (${bytes} bytes) queued for ${loc.destination}? [y/N] `);
    return /^y(es)?$/i.test((await readLine(io.stdin)) ?? '');
  });
  const kept = r.badSegments > 0 ? [`kept ${plural(r.badSegments, '.seg.bad file')} (quarantined damage, not part of the spool): remove them once examined`] : [];
  if (r.outcome === 'empty') {
    print([`nothing queued for ${loc.destination}`, ...kept]);
    return 0;
  }
  if (r.outcome === 'declined') {
    print(['not dropped']);
    return 1;
  }
  print([`dropped ${r.datapoints} datapoints (${r.bytes} bytes, ${plural(r.segments, 'segment')}) queued for ${loc.destination}`, ...kept]);
  if (r.segmentsLeft === 0) return 0;
  io.stderr.write(`spool drop: ${loc.destination}: ${plural(r.segmentsLeft, 'segment')} could not be deleted (see the log)\n`);
  return 1;
}

const plural = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? '' : 's'}`;

/** One line of input (the answer to a question); undefined at end of input. */
async function readLine(input: NodeJS.ReadableStream): Promise<string | undefined> {
  const rl = readline.createInterface({ input, crlfDelay: Infinity });
  try {
    for await (const line of rl) return line;
    return undefined;
  } finally {
    rl.close();
  }
}

function logLevel(config: RelayConfig, io: CliIO): LogLevel {
  const envLevel = io.env.LOG_LEVEL;
  return (envLevel !== undefined && LOG_LEVELS.includes(envLevel) ? envLevel : config.logLevel) as LogLevel;
}

async function start(loaded: LoadedConfig, io: CliIO, read: () => LoadedConfig): Promise<number> {
  const config = loaded.config;
  const log = io.log ?? createLogger({ level: logLevel(config, io), file: config.logFile });
  for (const w of loaded.carbon?.warnings ?? []) log.warn(w);
  if (loaded.fromEnvironment === true) log.info('configured from Backstop environment variables (CARBON_URLS, PREFIXES, API_KEY, BACKSTOP_AUTH, PORT)');
  // Node answers SIGUSR1 by opening its inspector on 127.0.0.1:9229 without authentication: code execution for
  // any local user who can signal us. A listener of our own replaces that handler (Node 20 has no flag to turn it off).
  let relay: Relay;
  try {
    relay = Relay.fromConfig(config, { log });
  } catch (err) {
    // building can still meet a bad file the loader does not parse (aggregation rules): an answer, never a stack trace
    if (err instanceof ConfigError) io.stderr.write(`config error: ${err.message}\n`);
    else log.error('startup failed', { error: (err as Error).message });
    if (io.log === undefined) await new Promise<void>((r) => log.on('finish', r).end());
    return 1;
  }
  const release = io.shutdown === undefined ? keepInspectorClosed(log) : () => undefined;
  // listening for SIGTERM from the start: a signal while listeners bind stops the relay once started
  const stopSignal = io.shutdown ?? firstStopSignal();
  try {
    await relay.start();
  } catch (err) {
    log.error('startup failed', { error: (err as Error).message });
    release();
    await relay.stop(Date.now());
    return 1;
  }
  log.info('carbon-fanout started', { config: config.file, destinations: [...relay.destinations.values()].map((d) => `${d.name}=${d.description}`) });
  const open = config.listen.http === undefined ? [] : openToTheNetwork(config.listen.http.host, config.http);
  if (open.length > 0) {
    log.warn('the HTTP front door listens beyond this host without authentication: anyone who can reach it can send datapoints (set http.auth, or listen.http.host: 127.0.0.1)', {
      host: config.listen.http?.host,
      port: config.listen.http?.port,
      endpointGroups: open,
    });
  }
  // spools of workers this relay no longer runs (workers was lowered, here to 1): delivered in the background
  const orphans = new OrphanDrain(config, 1, log);
  await orphans.start();
  io.onStarted?.(relay);
  // SIGHUP (and POST /reload on the admin listener) reloads; reloads run one at a time, in order
  const reloadNow = serialized(() => reloadRelay(relay, () => readForReload(read), log));
  relay.topology.admin?.setReloader(reloadNow);
  const onHangup = (): void => {
    void reloadNow();
  };
  if (io.shutdown === undefined) process.on('SIGHUP', onHangup);
  io.onReloadable?.(onHangup);
  const signal = await stopSignal;
  process.off('SIGHUP', onHangup);
  release();
  // what they cannot deliver by the deadline stays in their spools for the next start
  const orphansStopped = orphans.stop(Date.now() + config.shutdownTimeoutMs);
  await drainRelay(relay, log, signal, config.shutdownGraceMs);
  await orphansStopped;
  if (io.log === undefined) await new Promise<void>((r) => log.on('finish', r).end());
  return 0;
}

/** Node answers SIGUSR1 by opening its inspector; a listener of our own keeps it closed (see start). Returns the undo. */
function keepInspectorClosed(log: Logger): () => void {
  const onInspectSignal = (): void => {
    log.warn('SIGUSR1 ignored: the Node inspector stays closed in the relay (start node with --inspect to debug)');
  };
  process.on('SIGUSR1', onInspectSignal);
  return () => process.off('SIGUSR1', onInspectSignal);
}

/** `workers: N`: this process supervises N worker processes and owns the admin listener. */
async function startPrimary(loaded: LoadedConfig, io: CliIO, read: () => LoadedConfig): Promise<number> {
  const config = loaded.config;
  const log = io.log ?? createLogger({ level: logLevel(config, io), file: config.logFile });
  for (const w of loaded.carbon?.warnings ?? []) log.warn(w);
  const release = keepInspectorClosed(log);
  // listening for SIGTERM from the start: a signal while workers start stops them once started, instead of killing us
  const stopSignal = io.shutdown ?? firstStopSignal();
  const primary = new Primary(config, { log, fork: (index) => workerHandle(cluster.fork({ [WORKER_ENV]: String(index) }), log, index) });
  try {
    await primary.start();
  } catch (err) {
    log.error('startup failed', { error: (err as Error).message });
    release();
    return 1;
  }
  // spools of worker indexes beyond `workers` (it was lowered): delivered in the background, from this process
  const orphans = new OrphanDrain(config, config.workers, log);
  await orphans.start();
  const reloadNow = serialized(() => primary.reload(() => readForReload(read)));
  primary.setReloader(reloadNow);
  const onHangup = (): void => void reloadNow();
  process.on('SIGHUP', onHangup);
  const signal = await stopSignal;
  process.off('SIGHUP', onHangup);
  release();
  primary.draining();
  if (config.shutdownGraceMs > 0) {
    log.info('shutting down: not ready; waiting for the load balancer to notice', { signal, graceMs: config.shutdownGraceMs });
    await new Promise((r) => setTimeout(r, config.shutdownGraceMs));
  }
  log.info('shutting down: workers deliver queued datapoints', { signal, deadlineMs: config.shutdownTimeoutMs });
  const deadline = Date.now() + config.shutdownTimeoutMs;
  await Promise.all([primary.stop(deadline), orphans.stop(deadline)]);
  if (io.log === undefined) await new Promise<void>((r) => log.on('finish', r).end());
  return 0;
}

/** A worker process of `workers: N`: runs the relay on its share of the config until the primary (or a signal) stops it. */
async function startWorker(loaded: LoadedConfig, io: CliIO, read: () => LoadedConfig, index: number): Promise<number> {
  const view = (l: LoadedConfig): ReadConfig => ({ config: workerView(l.config, index), warnings: [] });
  const own = workerView(loaded.config, index);
  const base = io.log ?? createLogger({ level: logLevel(own, io), file: own.logFile });
  const log = base.child({ worker: index });
  const release = keepInspectorClosed(log);
  // a reload goes through the primary (it tells every worker); a SIGHUP sent to the whole process group must not kill us
  const onHangup = (): void => {
    log.debug('SIGHUP ignored in a worker: the primary reloads every worker');
  };
  process.on('SIGHUP', onHangup);
  const code = await runWorker(view(loaded).config, {
    index,
    channel: process as unknown as PrimaryChannel,
    log,
    reload: (relay) => reloadRelay(relay, () => view(read()), log),
    signalled: io.shutdown ?? firstStopSignal(),
  });
  process.off('SIGHUP', onHangup);
  release();
  if (io.log === undefined) await new Promise<void>((r) => base.on('finish', r).end());
  return code;
}

function readForReload(read: () => LoadedConfig): ReadConfig {
  const next = read();
  return { config: next.config, warnings: next.carbon?.warnings };
}

/** Resolves with the name of the first SIGTERM or SIGINT. */
function firstStopSignal(): Promise<string> {
  return new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
}

/** `carbon-fanout reload`: POST /reload to the admin listener of the relay running this config. */
async function requestReload(config: RelayConfig, io: CliIO): Promise<number> {
  if (config.admin === false) {
    io.stderr.write('reload: this config has no admin listener (admin: false); send SIGHUP to the relay instead\n');
    return 1;
  }
  const { host, port, users } = config.admin;
  const headers: Record<string, string> = users.length > 0 ? { authorization: `Basic ${Buffer.from(`${users[0].user}:${users[0].password}`).toString('base64')}` } : {};
  const where = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  try {
    const res = await fetch(`http://${where}/reload`, { method: 'POST', headers });
    const body = await res.text();
    (res.ok ? io.stdout : io.stderr).write(body.endsWith('\n') ? body : `${body}\n`);
    return res.ok ? 0 : 1;
  } catch (err) {
    io.stderr.write(`reload: no relay answering on ${where}: ${(err as Error).message}\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env, processes: true }).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}

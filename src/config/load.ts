import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KAFKA_MISSING, loadKafkaClient } from '../common/kafka-client';
import { deepFreeze } from '../common/deep-freeze';
import { ConfigError, ConfigErrorCode } from './config-error';
import { configSchema, httpSchema, type AggregationInput, isHashGroup, rulesFileSchema, type CarbonDestinationConfig, type ConfigInput, type DestinationConfig, type GroupConfig, type HttpConfig, type RuleConfig, type SourceConfig } from './schema';
import { ObjectSource, YamlFile, type ConfigSource } from './yaml-file';
import { unreadable, unreadableIfPresent, unusableCa, unusableKeyPair, unusableStateDir, unwritableOutputFile } from './referenced-files';
import { compilePythonRegex } from '../common/python/regex';
import { compileRewrite, RewriteSyntaxError, type CompiledRewrite } from './rewrite-rules';
import { readCaDirectory } from '../common/ca-certificates';

/** The validated, resolved configuration every component is built from. Paths are absolute. */
export interface RelayConfig {
  readonly file: string;
  readonly logLevel: ConfigInput['logLevel'];
  /** Path absolute; undefined: stderr only. */
  readonly logFile: ConfigInput['logFile'];
  readonly shutdownTimeoutMs: number;
  readonly shutdownGraceMs: number;
  /** Worker processes (`auto` resolved to the core count); 1: the relay runs in the process that starts it. */
  readonly workers: number;
  /** false: no admin listener. */
  readonly admin: ConfigInput['admin'];
  readonly routeCacheSize: number;
  readonly selfMetrics: { readonly intervalMs: number; readonly prefix: string | undefined };
  readonly listen: ConfigInput['listen'];
  /** The HTTP endpoints' settings, defaults filled in (used when listen.http is set). */
  readonly http: HttpConfig;
  readonly destinations: readonly DestinationConfig[];
  readonly groups: readonly GroupConfig[];
  /** Rules routing to destination or group names, patterns compiled; routing/rule-set.ts gives them carbon's semantics. */
  readonly rules: CompiledRules;
  /** `rewrite:` rules in order, patterns and replacements compiled (routing/rewriter.ts applies them). */
  readonly rewrites: readonly CompiledRewrite[];
  readonly filters: FilterConfig | undefined;
  readonly normalizeTags: boolean;
  readonly minTimestampResolution: number;
  /** Absolute; undefined: no state kept across restarts (no spools). */
  readonly dataDir: string | undefined;
  /** Pull sources (Catchpoint pollers), names unique. */
  readonly sources: readonly SourceConfig[];
  /** undefined: no aggregation. */
  readonly aggregation: AggregationConfig | undefined;
}

/** carbon-aggregator's settings; the rules file's text is read with the config, so a reload sees (and the hash covers) its changes. */
export interface AggregationConfig {
  /** Absolute path of aggregation-rules.conf. */
  readonly rulesFile: string;
  /** Its content, parsed when the aggregator is built (routing/aggregation-rules.ts). */
  readonly rulesText: string;
  readonly keepRaw: boolean;
  /** `rules`, or destination/group names. */
  readonly output: 'rules' | readonly string[];
  readonly maxIntervals: number;
  /** Seconds. */
  readonly writeBackFrequency: number | undefined;
  readonly maxAggregates: number;
  readonly maxValues: number;
}

/** A relay rule with its pattern compiled. */
export interface CompiledRule {
  readonly name: string;
  readonly pattern: RegExp;
  /** Destination or group names. */
  readonly targets: readonly string[];
  readonly continue: boolean;
}

export interface CompiledRules {
  /** In order, without the default rule. */
  readonly rules: readonly CompiledRule[];
  /** The default rule's destination or group names. */
  readonly defaultTargets: readonly string[];
}

export interface FilterConfig {
  readonly allow: readonly RegExp[];
  readonly block: readonly RegExp[];
  readonly allowFile?: string;
  readonly blockFile?: string;
}

interface Located<T> {
  value: T;
  source: ConfigSource;
  path: (string | number)[];
}

/**
 * The one way configuration enters the relay (`start` and `check` share it):
 * YAML with ${ENV} substitution, schema validation, cross-references (every
 * rule names a known destination, one default rule) and regex compilation.
 * Errors name the file, the line and the key path.
 */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): RelayConfig {
  return resolveConfig(YamlFile.read(path.resolve(file), env), env);
}

/**
 * Configuration built from another format (carbon.conf + relay-rules.conf):
 * the same schema, defaults and cross-checks as YAML. `file` names the origin
 * in errors and resolves relative paths.
 */
export function loadConfigObject(data: unknown, file: string, env: NodeJS.ProcessEnv = process.env): RelayConfig {
  return resolveConfig(new ObjectSource(path.resolve(file), data), env);
}

function resolveConfig(main: ConfigSource, env: NodeJS.ProcessEnv): RelayConfig {
  const cfg = main.parse(configSchema);
  const dir = path.dirname(main.file);

  const destinations: Located<DestinationConfig>[] = cfg.destinations.map((d, i) => ({ value: d, source: main, path: ['destinations', i] }));
  const rules: Located<RuleConfig>[] = (cfg.rules ?? []).map((r, i) => ({ value: r, source: main, path: ['rules', i] }));
  const groups: Located<GroupConfig>[] = cfg.groups.map((g, i) => ({ value: resolveGroupPaths(g, dir), source: main, path: ['groups', i] }));
  if (cfg.rulesFile !== undefined) {
    if (cfg.rules !== undefined) throw new ConfigError('set either rules or rulesFile, not both', { file: main.file, line: main.lineOf(['rulesFile']), path: 'rulesFile' }, ConfigErrorCode.SCHEMA);
    const rf = YamlFile.read(path.resolve(dir, cfg.rulesFile), env);
    const parsed = rf.parse(rulesFileSchema);
    parsed.destinations.forEach((d, i) => destinations.push({ value: resolvePaths(d, path.dirname(rf.file)), source: rf, path: ['destinations', i] }));
    parsed.rules.forEach((r, i) => rules.push({ value: r, source: rf, path: ['rules', i] }));
    parsed.groups.forEach((g, i) => groups.push({ value: resolveGroupPaths(g, path.dirname(rf.file)), source: rf, path: ['groups', i] }));
  }
  for (const d of destinations) if (d.source === main) d.value = resolvePaths(d.value, dir);

  const names = new Set<string>();
  for (const d of destinations) {
    if (names.has(d.value.name)) throw at(d, ['name'], `duplicate destination name "${d.value.name}"`, ConfigErrorCode.DUPLICATE_NAME);
    names.add(d.value.name);
  }
  if (destinations.length === 0) throw new ConfigError('no destinations configured', { file: main.file }, ConfigErrorCode.NO_DESTINATIONS);
  const network = new Set(destinations.filter((d) => d.value.type !== 'file').map((d) => d.value.name));
  const carbon = new Set(destinations.filter((d) => d.value.type === 'carbon').map((d) => d.value.name));
  for (const g of groups) {
    if (names.has(g.value.name)) throw at(g, ['name'], `"${g.value.name}" is already the name of a destination or group`, ConfigErrorCode.DUPLICATE_NAME);
    g.value.members.forEach((m, j) => {
      if (!network.has(m)) {
        throw names.has(m)
          ? at(g, ['members', j], `"${m}" is a file destination or group; members must be host/port destinations`, ConfigErrorCode.GROUP)
          : at(g, ['members', j], `unknown destination "${m}"`, ConfigErrorCode.UNKNOWN_DESTINATION);
      }
    });
    if (new Set(g.value.members).size !== g.value.members.length) throw at(g, ['members'], 'a destination is listed twice', ConfigErrorCode.GROUP);
    if (isHashGroup(g.value)) {
      g.value.members.forEach((m, j) => {
        // a Kafka topic partitions by itself (its partitioner); a ring's nodes are carbon hosts
        if (!carbon.has(m)) throw at(g, ['members', j], `"${m}" is not a carbon destination; ${g.value.type} members must be carbon destinations`, ConfigErrorCode.GROUP);
        // jump hash picks a member by position: without an explicit index, reordering the list would move series
        const instance = (destinations.find((x) => x.value.name === m)?.value as CarbonDestinationConfig).instance;
        if (g.value.type === 'jump_fnv1a_ch' && instance === undefined) {
          throw at(g, ['members', j], `"${m}" needs an instance: jump_fnv1a_ch orders members by it (set instance: "0", "1", ... on each), so the ring does not depend on the order destinations are listed`, ConfigErrorCode.GROUP);
        }
      });
    }
    // a ring node is (host, instance): two members that differ only by port would be one node (carbon refuses them too)
    if (!isHashGroup(g.value)) continue;
    const ringKeys = new Map<string, string>();
    g.value.members.forEach((m, j) => {
      const d = destinations.find((x) => x.value.name === m)?.value as CarbonDestinationConfig;
      const key = `${d.host}\n${d.instance ?? ''}`;
      const other = ringKeys.get(key);
      if (other !== undefined) throw at(g, ['members', j], `"${m}" and "${other}" have the same host and instance; give them distinct instances`, ConfigErrorCode.GROUP);
      ringKeys.set(key, m);
    });
  }
  for (const g of groups) names.add(g.value.name);
  if (rules.length === 0) throw new ConfigError('no rules configured (add at least `- {default: true, destinations: [...]}`)', { file: main.file }, ConfigErrorCode.NO_RULES);

  const compiled: CompiledRule[] = [];
  let defaultRule: Located<RuleConfig> | undefined;
  rules.forEach((r, i) => {
    r.value.destinations.forEach((name, j) => {
      if (!names.has(name)) throw at(r, ['destinations', j], `unknown destination or group "${name}" (known: ${[...names].join(', ')})`, ConfigErrorCode.UNKNOWN_DESTINATION);
    });
    if (r.value.default === true) {
      if (defaultRule !== undefined) throw at(r, ['default'], `a second default rule (the first is at line ${defaultRule.source.lineOf(defaultRule.path)})`, ConfigErrorCode.DEFAULT_RULE);
      defaultRule = r;
      return;
    }
    if (r.value.default === false) return; // carbon ignores `default = false` sections
    let pattern: RegExp;
    try {
      pattern = compilePythonRegex(r.value.pattern as string, { ignoreCase: r.value.ignoreCase === true });
    } catch (err) {
      throw at(r, ['pattern'], `invalid regular expression: ${(err as Error).message}`, ConfigErrorCode.REGEX);
    }
    compiled.push({ name: r.value.name ?? `rule ${i + 1}`, pattern, targets: r.value.destinations, continue: r.value.continue });
  });
  if (defaultRule === undefined) throw new ConfigError('exactly one rule must have `default: true`', { file: rules[0].source.file, line: rules[0].source.lineOf(['rules']), path: 'rules' }, ConfigErrorCode.DEFAULT_RULE);

  const aggregation = resolveAggregation(main, cfg.aggregation, dir, names);
  // an aggregate must see every input datapoint: split over processes, each would emit its own partial value
  if (aggregation !== undefined && typeof cfg.workers === 'number' && cfg.workers > 1) {
    throw new ConfigError('aggregation keeps its aggregates in one process: set workers: 1 (or leave workers out, which then means 1)', { file: main.file, line: main.lineOf(['workers']), path: 'workers' }, ConfigErrorCode.SCHEMA);
  }

  const sources = cfg.sources.map((s) => (s.type === 'kafka' ? { ...s, tls: resolveTlsPaths(s.tls, dir) } : s));
  const sourceNames = new Set<string>();
  sources.forEach((s, i) => {
    if (sourceNames.has(s.name)) throw at({ value: s, source: main, path: ['sources', i] }, ['name'], `duplicate source name "${s.name}"`, ConfigErrorCode.DUPLICATE_NAME);
    sourceNames.add(s.name);
  });

  const dataDir = cfg.dataDir === undefined ? undefined : path.resolve(dir, cfg.dataDir);
  const kafka = destinations.find((d) => d.value.type === 'kafka');
  if (kafka !== undefined && loadKafkaClient() === undefined) throw at(kafka, ['type'], KAFKA_MISSING, ConfigErrorCode.KAFKA_CLIENT_MISSING);
  for (const d of destinations) {
    const { value } = d;
    if (value.type !== 'file' && value.spool.mode !== undefined && value.spool.mode !== 'off' && dataDir === undefined) {
      throw at(d, ['spool', 'mode'], `spool mode ${value.spool.mode} needs dataDir (where spool files are kept)`, ConfigErrorCode.SCHEMA);
    }
    const queueAtHigh = Math.floor(value.maxQueueSize * value.highWaterMark);
    if (queueAtHigh < 1) throw at(d, ['highWaterMark'], 'maxQueueSize x highWaterMark must be at least 1', ConfigErrorCode.SCHEMA);
  }
  const listen = resolveListenPaths(cfg.listen, dir);
  const filters = compileFilters(main, cfg.filters, dir);
  const logFile = cfg.logFile === undefined ? undefined : { ...cfg.logFile, path: path.resolve(dir, cfg.logFile.path) };
  checkCaDirectories([
    { tls: listen.line?.tls, source: main, path: ['listen', 'line', 'tls'] },
    { tls: listen.pickle?.tls, source: main, path: ['listen', 'pickle', 'tls'] },
    ...destinations.map((d) => ({ tls: d.value.type === 'file' ? undefined : d.value.tls, source: d.source, path: [...d.path, 'tls'] })),
    ...sources.map((s, i) => ({ tls: s.type === 'kafka' ? s.tls : undefined, source: main, path: ['sources', i, 'tls'] })),
  ]);
  checkReferencedFiles({ main, listen, destinations, groups, sources, filters, dataDir, logFile: logFile?.path });

  return deepFreeze({
    file: main.file,
    logLevel: cfg.logLevel,
    logFile,
    shutdownTimeoutMs: cfg.shutdownTimeout,
    shutdownGraceMs: cfg.shutdownGrace,
    workers: cfg.workers !== 'auto' ? cfg.workers : aggregation !== undefined ? 1 : os.availableParallelism(),
    admin: cfg.admin,
    routeCacheSize: cfg.routeCacheSize,
    selfMetrics: { intervalMs: cfg.selfMetrics.interval, prefix: cfg.selfMetrics.prefix },
    listen,
    http: cfg.http ?? httpSchema.parse({}),
    destinations: destinations.map((d) => d.value),
    groups: groups.map((g) => g.value),
    rules: { rules: compiled, defaultTargets: defaultRule.value.destinations },
    rewrites: compileRewrites(main, cfg.rewrite),
    filters,
    normalizeTags: cfg.normalizeTags,
    minTimestampResolution: cfg.minTimestampResolution,
    dataDir,
    sources,
    aggregation,
  });
}

function resolveAggregation(source: ConfigSource, a: AggregationInput | undefined, dir: string, targets: ReadonlySet<string>): AggregationConfig | undefined {
  if (a === undefined) return undefined;
  const where = (p: (string | number)[]) => ({ file: source.file, line: source.lineOf(['aggregation', ...p]), path: ['aggregation', ...p].join('.') });
  if (a.output !== 'rules') {
    a.output.forEach((name, i) => {
      if (!targets.has(name)) throw new ConfigError(`unknown destination or group "${name}" (known: ${[...targets].join(', ')})`, where(['output', i]), ConfigErrorCode.UNKNOWN_DESTINATION);
    });
  }
  const rulesFile = path.resolve(dir, a.rules);
  let rulesText: string;
  try {
    rulesText = fs.readFileSync(rulesFile, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read the aggregation rules ${rulesFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, where(['rules']), ConfigErrorCode.READ);
  }
  return {
    rulesFile,
    rulesText,
    keepRaw: a.keepRaw,
    output: a.output,
    maxIntervals: a.maxIntervals,
    writeBackFrequency: a.writeBackFrequency === undefined ? undefined : a.writeBackFrequency / 1000,
    maxAggregates: a.maxAggregates,
    maxValues: a.maxValues,
  };
}

function at<T>(loc: Located<T>, sub: (string | number)[], problem: string, code: ConfigErrorCode): ConfigError {
  const p = [...loc.path, ...sub];
  return new ConfigError(problem, { file: loc.source.file, line: loc.source.lineOf(p), path: p.join('.') }, code);
}

function resolveGroupPaths(g: GroupConfig, dir: string): GroupConfig {
  return g.aggregationRules === undefined ? g : { ...g, aggregationRules: path.resolve(dir, g.aggregationRules) };
}

function compileRewrites(source: ConfigSource, rewrites: ConfigInput['rewrite']): CompiledRewrite[] {
  return rewrites.map((r, i) => {
    const where = (key: string): { file: string; line: number | undefined; path: string } => ({ file: source.file, line: source.lineOf(['rewrite', i, key]), path: `rewrite.${i}.${key}` });
    try {
      return compileRewrite(`rewrite ${i + 1}`, r.match, r.replace, r.ignoreCase, r.stop);
    } catch (err) {
      if (err instanceof RewriteSyntaxError) throw new ConfigError(err.message, where('replace'), ConfigErrorCode.REWRITE);
      throw new ConfigError(`invalid regular expression: ${(err as Error).message}`, where('match'), ConfigErrorCode.REGEX);
    }
  });
}

function compileFilters(source: ConfigSource, f: ConfigInput['filters'], dir: string): FilterConfig | undefined {
  if (f === undefined) return undefined;
  const compile = (key: 'allow' | 'block'): RegExp[] =>
    f[key].map((p, i) => {
      try {
        return compilePythonRegex(p, { ignoreCase: false });
      } catch (err) {
        throw new ConfigError(`invalid regular expression: ${(err as Error).message}`, { file: source.file, line: source.lineOf(['filters', key, i]), path: `filters.${key}.${i}` }, ConfigErrorCode.REGEX);
      }
    });
  return {
    allow: compile('allow'),
    block: compile('block'),
    allowFile: f.allowFile === undefined ? undefined : path.resolve(dir, f.allowFile),
    blockFile: f.blockFile === undefined ? undefined : path.resolve(dir, f.blockFile),
  };
}

/** The keys of a `tls:` block that name files or directories. */
const TLS_PATH_KEYS = ['ca', 'caPath', 'cert', 'key', 'clientCa', 'clientCaPath'] as const;

/** A `tls:` block with its files resolved against `dir`; `true`/`false` as they are. */
function resolveTlsPaths<T>(t: T, dir: string): T {
  if (typeof t !== 'object' || t === null) return t;
  const out = { ...t } as Record<string, unknown>;
  for (const k of TLS_PATH_KEYS) if (typeof out[k] === 'string') out[k] = path.resolve(dir, out[k]);
  return out as T;
}

function resolvePaths(d: DestinationConfig, dir: string): DestinationConfig {
  if (d.type === 'file') return d.file === '-' ? d : { ...d, file: path.resolve(dir, d.file) };
  return { ...d, tls: resolveTlsPaths(d.tls, dir) } as DestinationConfig;
}

interface ReferencedFiles {
  main: ConfigSource;
  listen: ConfigInput['listen'];
  destinations: readonly Located<DestinationConfig>[];
  groups: readonly Located<GroupConfig>[];
  sources: readonly SourceConfig[];
  filters: FilterConfig | undefined;
  dataDir: string | undefined;
  logFile: string | undefined;
}

/**
 * Every file and directory the configuration names, checked where it is
 * named: a certificate, key or CA the relay could not read (or that is not
 * PEM) fails here, for `check`, `start` and a reload alike, rather than when
 * a listener binds or a connection is made.
 */
function checkReferencedFiles(f: ReferencedFiles): void {
  const { main } = f;
  const fail = (loc: Located<unknown>, sub: (string | number)[], problem: string | undefined): void => {
    if (problem !== undefined) throw at(loc, sub, problem, ConfigErrorCode.FILE_UNREADABLE);
  };
  const inMain = (p: (string | number)[]): Located<unknown> => ({ value: undefined, source: main, path: p });
  const keyPair = (loc: Located<unknown>, t: { cert?: string; key?: string }): void => {
    if (t.cert === undefined || t.key === undefined) {
      // one without the other: librdkafka says what is missing when it connects; the file named must still be readable
      for (const k of ['cert', 'key'] as const) if (t[k] !== undefined) fail(loc, [k], unreadable(t[k]));
      return;
    }
    const bad = unusableKeyPair(t.cert, t.key);
    if (bad !== undefined) fail(loc, [bad.at], bad.problem);
  };
  for (const kind of ['line', 'pickle'] as const) {
    const t = f.listen[kind]?.tls;
    if (t === undefined) continue;
    const at = inMain(['listen', kind, 'tls']);
    keyPair(at, t);
    if (t.clientCa !== undefined) fail(at, ['clientCa'], unusableCa(t.clientCa));
  }
  const http = f.listen.http;
  if (http !== undefined) keyPair(inMain(['listen', 'http']), http);
  for (const d of f.destinations) {
    const { value } = d;
    if (value.type === 'file') {
      if (value.file !== '-') fail(d, ['file'], unwritableOutputFile(value.file));
      continue;
    }
    if (typeof value.tls !== 'object') continue;
    const tlsAt: Located<unknown> = { ...d, path: [...d.path, 'tls'] };
    if (value.tls.ca !== undefined) fail(tlsAt, ['ca'], unusableCa(value.tls.ca));
    keyPair(tlsAt, value.tls);
  }
  f.sources.forEach((s, i) => {
    if (s.type !== 'kafka' || typeof s.tls !== 'object') return;
    const tlsAt = inMain(['sources', i, 'tls']);
    if (s.tls.ca !== undefined) fail(tlsAt, ['ca'], unusableCa(s.tls.ca));
    keyPair(tlsAt, s.tls);
  });
  for (const g of f.groups) if (g.value.aggregationRules !== undefined) fail(g, ['aggregationRules'], unreadableIfPresent(g.value.aggregationRules));
  if (f.filters?.allowFile !== undefined) fail(inMain(['filters', 'allowFile']), [], unreadableIfPresent(f.filters.allowFile));
  if (f.filters?.blockFile !== undefined) fail(inMain(['filters', 'blockFile']), [], unreadableIfPresent(f.filters.blockFile));
  if (f.dataDir !== undefined) fail(inMain(['dataDir']), [], unusableStateDir(f.dataDir));
  if (f.logFile !== undefined) fail(inMain(['logFile', 'path']), [], unwritableOutputFile(f.logFile));
}

/**
 * Every CA directory in the config is read now, so one that is missing,
 * unreadable or without a certificate fails `check` and `start` naming its
 * key, instead of refusing every peer later.
 */
function checkCaDirectories(candidates: { tls: unknown; source: ConfigSource; path: (string | number)[] }[]): void {
  for (const { tls, source, path: at } of candidates) {
    if (typeof tls !== 'object' || tls === null) continue;
    for (const key of ['caPath', 'clientCaPath'] as const) {
      const dir = (tls as Partial<Record<typeof key, string>>)[key];
      if (dir === undefined) continue;
      try {
        readCaDirectory(dir);
      } catch (err) {
        const p = [...at, key];
        throw new ConfigError((err as Error).message, { file: source.file, line: source.lineOf(p), path: p.join('.') }, ConfigErrorCode.TLS);
      }
    }
  }
}

function resolveListenPaths(listen: ConfigInput['listen'], dir: string): ConfigInput['listen'] {
  const out = { ...listen };
  if (listen.line?.tls !== undefined) out.line = { ...listen.line, tls: resolveTlsPaths(listen.line.tls, dir) };
  if (listen.pickle?.tls !== undefined) out.pickle = { ...listen.pickle, tls: resolveTlsPaths(listen.pickle.tls, dir) };
  const h = listen.http;
  if (h?.cert !== undefined && h.key !== undefined) out.http = { ...h, cert: path.resolve(dir, h.cert), key: path.resolve(dir, h.key) };
  return out;
}

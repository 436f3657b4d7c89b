import os from 'node:os';
import path from 'node:path';
import type { z } from 'zod';
import { ConfigError, ConfigErrorCode, type ConfigErrorLocation } from './config-error';
import { IniFile, type IniOption } from './ini';
import { destinationName as destinationNameRule, type carbonDestinationSchema } from './destinations';
import { configSchema, type ConfigObject } from './schema';
import { parsePyFloat, pyFloatRepr } from '../common/python/float';
import { parsePyInt } from '../common/python/int';
import { pyStrip } from '../common/python/str';

/**
 * carbon-relay's own configuration (carbon.conf `[relay]` + relay-rules.conf),
 * read with carbon 1.1.7's semantics (conf.py Settings.readFrom/read_config,
 * relayrules.py, util.parseDestinations) and mapped onto the native config
 * object, which then goes through the same schema and loader checks as YAML.
 *
 * Deliberate differences from carbon, all reported instead of silent:
 *  - a relay-rules destination missing from DESTINATIONS is an error (carbon
 *    skips it, and a rule left with no destination buffers forever);
 *  - settings we do not implement produce warnings naming file:line;
 *  - destination strings carbon would misparse (no `:`) are errors.
 */

export interface CarbonConfOptions {
  /** carbon.conf (carbon-relay --config). */
  carbonConf: string;
  /** relay-rules.conf (carbon-relay --rules); default CONF_DIR/RELAY_RULES. */
  rules?: string;
  /** carbon-relay --instance; default 'a'. `[relay:<instance>]` overlays `[relay]`. */
  instance?: string;
  /** --whitelist / --blacklist; default CONF_DIR/whitelist.conf and CONF_DIR/blacklist.conf. */
  whitelist?: string;
  blacklist?: string;
  /** --aggregation-rules; default CONF_DIR/AGGREGATION_RULES. */
  aggregationRules?: string;
  /** socket.gethostname() for the self-metric prefix (default os.hostname()). */
  hostname?: string;
}

export interface CarbonConfResult {
  /** The native config object (schema input shape); every path in it is absolute. */
  config: Omit<z.input<typeof configSchema>, 'destinations'> & { destinations: DestinationObject[] };
  /** One line each: `file:line: [section] KEY: what is ignored and what happens instead`. */
  warnings: string[];
}

/** The name of the group a hashing RELAY_METHOD becomes. */
export const CARBON_RING_GROUP = 'carbon-ring';

/** carbon.conf destinations are Carbon receivers; written without `type`, as a hand-written config would be. */
type DestinationObject = Omit<z.input<typeof carbonDestinationSchema>, 'type'>;
type RuleObject = NonNullable<ConfigObject['rules']>[number];

// ---------------------------------------------------------------------------
// Python values, typed the way Settings.readFrom types them

type PyValue =
  | { type: 'int'; value: number; text: string }
  | { type: 'float'; value: number }
  | { type: 'str'; value: string }
  | { type: 'bool'; value: boolean }
  | { type: 'list'; value: string[] }
  | { type: 'none' };

const pyInt = (n: number): PyValue => ({ type: 'int', value: n, text: String(n) });
const pyFloat = (n: number): PyValue => ({ type: 'float', value: n });
const pyStr = (s: string): PyValue => ({ type: 'str', value: s });
const pyBool = (b: boolean): PyValue => ({ type: 'bool', value: b });
const NONE: PyValue = { type: 'none' };

/** conf.py `defaults` for the keys the relay reads (the type of the default decides how a value is parsed). */
const DEFAULTS: Readonly<Record<string, PyValue>> = {
  LINE_RECEIVER_INTERFACE: pyStr('0.0.0.0'),
  LINE_RECEIVER_PORT: pyInt(2003),
  ENABLE_UDP_LISTENER: pyBool(false),
  UDP_RECEIVER_INTERFACE: pyStr('0.0.0.0'),
  UDP_RECEIVER_PORT: pyInt(2003),
  PICKLE_RECEIVER_INTERFACE: pyStr('0.0.0.0'),
  PICKLE_RECEIVER_PORT: pyInt(2004),
  PICKLE_RECEIVER_MAX_LENGTH: pyInt(2 ** 20),
  MAX_RECEIVER_CONNECTIONS: pyFloat(Infinity),
  MIN_TIMESTAMP_RESOLUTION: pyInt(0),
  RELAY_METHOD: pyStr('rules'),
  ROUTER_HASH_TYPE: NONE,
  REPLICATION_FACTOR: pyInt(1),
  DIVERSE_REPLICAS: pyBool(true),
  DESTINATIONS: { type: 'list', value: [] },
  DESTINATION_PROTOCOL: pyStr('pickle'),
  DESTINATION_TRANSPORT: pyStr('none'),
  DESTINATION_SSL_CA: NONE,
  MAX_QUEUE_SIZE: pyInt(1000),
  MAX_DATAPOINTS_PER_MESSAGE: pyInt(500),
  USE_WHITELIST: pyBool(false),
  TAG_RELAY_NORMALIZED: pyBool(false),
  CARBON_METRIC_PREFIX: pyStr('carbon'),
  CARBON_METRIC_INTERVAL: pyInt(60),
  RELAY_RULES: pyStr('relay-rules.conf'),
  AGGREGATION_RULES: pyStr('aggregation-rules.conf'),
};

/** conf.py defaults whose type is list or bool; every other key is tried as int, then float, else kept as a string. */
const LIST_KEYS = new Set(['DESTINATIONS', 'BIND_PATTERNS']);
const BOOL_KEYS = new Set([
  'ENABLE_UDP_LISTENER', 'LOG_UPDATES', 'LOG_CREATES', 'LOG_CACHE_HITS', 'LOG_CACHE_QUEUE_SORTS', 'WHISPER_AUTOFLUSH',
  'WHISPER_SPARSE_CREATE', 'WHISPER_FALLOCATE_CREATE', 'WHISPER_LOCK_WRITES', 'WHISPER_FADVISE_RANDOM', 'CERES_LOCK_WRITES',
  'FORWARD_ALL', 'ENABLE_AMQP', 'AMQP_METRIC_NAME_IN_BODY', 'AMQP_VERBOSE', 'ENABLE_TAGS', 'TAG_HASH_FILENAMES',
  'TAG_RELAY_NORMALIZED', 'ENABLE_MANHOLE', 'DYNAMIC_ROUTER', 'DIVERSE_REPLICAS', 'DESTINATION_POOL_REPLICAS',
  'USE_FLOW_CONTROL', 'USE_INSECURE_UNPICKLER', 'USE_WHITELIST', 'TCP_KEEPALIVE', 'USE_RATIO_RESET',
  'LOG_LISTENER_CONN_SUCCESS', 'LOG_AGGREGATOR_MISSES', 'ENABLE_LOGROTATION',
]);

/** Keys mapped onto the native config (or used to find files). */
const MAPPED = new Set([...Object.keys(DEFAULTS), 'CONF_DIR']);

/** Accepted silently: process settings, and settings of carbon-cache/aggregator or of features they belong to. */
const IGNORED = new Set([
  'USER', 'PID_DIR', 'LOG_DIR', 'STORAGE_DIR', 'LOCAL_DATA_DIR', 'WHITELISTS_DIR', 'ENABLE_LOGROTATION', 'RAVEN_DSN',
  'LOG_LISTENER_CONN_SUCCESS', 'LOG_LISTENER_CONN_LOST', 'TCP_KEEPALIVE', 'TCP_KEEPIDLE', 'TCP_KEEPINTVL', 'TCP_KEEPCNT',
  // only matter when a setting that warns is on
  'DYNAMIC_ROUTER_MAX_RETRIES', 'MIN_RESET_STAT_FLOW', 'MIN_RESET_RATIO', 'MIN_RESET_INTERVAL', 'PROTOBUF_RECEIVER_INTERFACE',
  'AMQP_HOST', 'AMQP_PORT', 'AMQP_VHOST', 'AMQP_USER', 'AMQP_PASSWORD', 'AMQP_EXCHANGE', 'AMQP_METRIC_NAME_IN_BODY',
  'AMQP_VERBOSE', 'AMQP_SPEC', 'BIND_PATTERNS', 'MANHOLE_INTERFACE', 'MANHOLE_PORT', 'MANHOLE_USER', 'MANHOLE_PUBLIC_KEY',
  'MANHOLE_HOST_KEY_DIR',
  // carbon-cache / carbon-aggregator
  'MAX_CACHE_SIZE', 'MAX_UPDATES_PER_SECOND', 'MAX_UPDATES_PER_SECOND_ON_SHUTDOWN', 'MAX_CREATES_PER_MINUTE',
  'MIN_TIMESTAMP_LAG', 'CACHE_QUERY_INTERFACE', 'CACHE_QUERY_PORT', 'LOG_UPDATES', 'LOG_CREATES', 'LOG_CACHE_HITS',
  'LOG_CACHE_QUEUE_SORTS', 'DATABASE', 'WHISPER_AUTOFLUSH', 'WHISPER_SPARSE_CREATE', 'WHISPER_FALLOCATE_CREATE',
  'WHISPER_LOCK_WRITES', 'WHISPER_FADVISE_RANDOM', 'CERES_MAX_SLICE_GAP', 'CERES_NODE_CACHING_BEHAVIOR',
  'CERES_SLICE_CACHING_BEHAVIOR', 'CERES_LOCK_WRITES', 'MAX_AGGREGATION_INTERVALS', 'FORWARD_ALL', 'GRAPHITE_URL',
  'ENABLE_TAGS', 'TAG_UPDATE_INTERVAL', 'TAG_BATCH_SIZE', 'TAG_QUEUE_SIZE', 'TAG_HASH_FILENAMES', 'CACHE_WRITE_STRATEGY',
  'WRITE_BACK_FREQUENCY', 'LOG_AGGREGATOR_MISSES', 'REWRITE_RULES', 'CACHE_METRIC_NAMES_MAX', 'CACHE_METRIC_NAMES_TTL',
]);

/** Relay behaviour carbon-fanout does not implement: a warning when the value would change what carbon does. */
const UNSUPPORTED: Readonly<Record<string, { active: (v: PyValue) => boolean; instead: string }>> = {
  DESTINATION_POOL_REPLICAS: { active: truthy, instead: 'destination pools are not supported; destinations that share host:port are separate destinations, each sent everything routed to it' },
  DYNAMIC_ROUTER: { active: truthy, instead: 'routing is static; a destination that is down keeps its share of metrics, queued until it reconnects' },
  USE_RATIO_RESET: { active: truthy, instead: 'connections are never reset for a low sent/received ratio (MIN_RESET_* are ignored)' },
  USE_FLOW_CONTROL: { active: (v) => !truthy(v), instead: "flow control cannot be turned off; TCP receivers are paused while a destination's queue is above its highWaterMark" },
  QUEUE_LOW_WATERMARK_PCT: { active: (v) => !numberIs(v, 0.8), instead: "ignored (carbon only logs with it); paused receivers resume when the destination's queue drops below its lowWaterMark" },
  TIME_TO_DEFER_SENDING: { active: (v) => !numberIs(v, 0.0001), instead: 'ignored; queued datapoints are sent on the next event-loop turn' },
  METRIC_CLIENT_IDLE_TIMEOUT: { active: (v) => !(v.type === 'none' || (v.type === 'str' && (v.value === 'None' || v.value === ''))), instead: 'ignored; idle receiver connections are never closed' },
  PROTOBUF_RECEIVER_PORT: { active: truthy, instead: 'there is no protobuf receiver; this port is not opened' },
  USE_INSECURE_UNPICKLER: { active: truthy, instead: 'the pickle receiver never loads pickle globals, as with USE_INSECURE_UNPICKLER = False' },
  ENABLE_AMQP: { active: truthy, instead: 'no AMQP consumer is started' },
  ENABLE_MANHOLE: { active: truthy, instead: 'no manhole (SSH debug shell) is started' },
};

const RELAY_METHODS = ['rules', 'consistent-hashing', 'aggregated-consistent-hashing', 'fast-hashing', 'fast-aggregated-hashing'];

/** Python truthiness. */
function truthy(v: PyValue): boolean {
  switch (v.type) {
    case 'none': return false;
    case 'bool': return v.value;
    case 'int': case 'float': return v.value !== 0;
    case 'str': return v.value !== '';
    case 'list': return v.value.length > 0;
  }
}

function numberIs(v: PyValue, n: number): boolean {
  return (v.type === 'int' || v.type === 'float') && v.value === n;
}

/** Python str() of a value (int, float repr, str). */
function pyText(v: PyValue): string {
  switch (v.type) {
    case 'int': return v.text;
    case 'float': return pyFloatRepr(v.value);
    case 'str': return v.value;
    case 'bool': return v.value ? 'True' : 'False';
    case 'none': return 'None';
    case 'list': return `[${v.value.map((s) => `'${s}'`).join(', ')}]`;
  }
}

// ---------------------------------------------------------------------------
// Settings

interface Setting {
  readonly key: string;
  readonly value: PyValue;
  /** The interpolated value as written; undefined for carbon's default. */
  readonly raw?: string;
  /** undefined: carbon's default. */
  readonly option?: IniOption;
  readonly where: ConfigErrorLocation;
}

class Settings {
  readonly map = new Map<string, Setting>();

  constructor(readonly file: string) {}

  /** Settings.readFrom(path, section): false when the section is absent. */
  readFrom(ini: IniFile, section: string): boolean {
    if (!ini.hasSection(section)) return false;
    for (const { option, value } of ini.items(section)) {
      const key = option.key.toUpperCase();
      let typed: PyValue;
      if (LIST_KEYS.has(key)) typed = { type: 'list', value: value.split(',').map(pyStrip) };
      else if (BOOL_KEYS.has(key)) typed = pyBool(ini.getBoolean(section, option.key));
      else {
        const i = parsePyInt(value);
        const f = i === undefined ? parsePyFloat(value) : undefined;
        typed = i !== undefined ? { type: 'int', ...i } : f !== undefined ? pyFloat(f) : pyStr(value);
      }
      this.map.delete(key); // report in the order carbon last set them
      this.map.set(key, { key, value: typed, raw: value, option, where: { file: this.file, line: option.line, path: `[${option.section}] ${option.name}` } });
    }
    return true;
  }

  get(key: string): Setting {
    return this.map.get(key) ?? { key, value: DEFAULTS[key] ?? NONE, where: { file: this.file, path: key } };
  }

  isSet(key: string): boolean {
    return this.map.has(key);
  }
}

function fail(s: Setting | ConfigErrorLocation, problem: string, code: ConfigErrorCode = ConfigErrorCode.CARBON_CONF): ConfigError {
  return new ConfigError(problem, 'where' in s ? s.where : s, code);
}

function bool(s: Setting): boolean {
  return truthy(s.value);
}

/** A whole number (an int, or a float with no fraction), as the native config needs. */
function whole(s: Setting): number {
  const v = s.value;
  if ((v.type === 'int' || v.type === 'float') && Number.isInteger(v.value)) return v.value;
  throw fail(s, v.type === 'int' || v.type === 'float' ? 'must be a whole number' : 'must be a number');
}

/** A number of seconds (int or float). */
function seconds(s: Setting): number {
  const v = s.value;
  if (v.type === 'int' || v.type === 'float') return v.value;
  throw fail(s, 'must be a number');
}

/** A setting used as text (a name, a path): as written, even where carbon typed it as a number. */
function text(s: Setting): string {
  return s.value.type === 'str' ? s.value.value : s.raw ?? pyText(s.value);
}

// ---------------------------------------------------------------------------
// Destinations

interface Dest {
  host: string;
  port: number;
  instance: string | null;
}

const destKey = (d: Dest): string => `${d.host}\n${d.port}\n${d.instance ?? '\u0000'}`;
/** A destination as carbon writes it in DESTINATIONS: `host:port[:instance]`, IPv6 hosts in brackets. */
export const carbonDestinationLabel = (d: { host: string; port: number; instance: string | null }): string =>
  `${d.host.includes(':') ? `[${d.host}]` : d.host}:${d.port}${d.instance === null ? '' : `:${d.instance}`}`;
const destLabel = carbonDestinationLabel;

/** Python slicing s[start:end] with negative indices. */
function pySlice(s: string, start: number, end?: number): string {
  const norm = (i: number): number => (i < 0 ? Math.max(0, s.length + i) : Math.min(i, s.length));
  return s.slice(norm(start), end === undefined ? s.length : norm(end));
}

/**
 * util.parseDestination: `host:port[:instance]` or `[ipv6]:port[:instance]`;
 * everything after the port's `:` is the instance. Returns a problem string
 * where carbon raises, or where it would silently build a nonsense host
 * (no `:` at all: carbon turns `2004` into host `200`, port 2004).
 */
export function parseCarbonDestination(entry: string): Dest | string {
  const s = pyStrip(entry);
  if (s === '') return 'empty destination (a stray comma?)';
  const bidx = s.lastIndexOf(']:');
  const cidx = s.indexOf(':');
  let host: string;
  let rest: string;
  if (s.startsWith('[')) {
    if (bidx < 0) return `"${s}": expected [ipv6]:port[:instance]`;
    host = pySlice(s, 1, bidx);
    rest = pySlice(s, bidx + 2);
  } else {
    if (cidx < 0) return `"${s}": expected host:port[:instance]`;
    host = pySlice(s, 0, cidx);
    rest = pySlice(s, cidx + 1);
  }
  let instance: string | null = null;
  const colon = rest.indexOf(':');
  if (colon >= 0) {
    instance = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const port = parsePyInt(rest);
  if (port === undefined) return `"${s}": the port is not a number`;
  if (port.value < 1 || port.value > 65535) return `"${s}": the port must be 1-65535`;
  if (host === '') return `"${s}": no host`;
  if (instance === '') return `"${s}": empty instance after the last ':'`;
  return { host, port: port.value, instance };
}

/** The destination's name: the entry as written when the schema allows it, else carbon's own `host:port:instance` label. */
function destinationName(entry: string, d: Dest): string {
  if (destinationNameRule.safeParse(entry).success) return entry;
  return `${d.host}:${d.port}${d.instance === null ? '' : `:${d.instance}`}`;
}

// ---------------------------------------------------------------------------

export function readCarbonConf(opts: CarbonConfOptions): CarbonConfResult {
  const confFile = path.resolve(opts.carbonConf);
  const instance = opts.instance ?? 'a';
  const ini = IniFile.read(confFile);
  const settings = new Settings(confFile);
  const warnings: string[] = [];
  const warn = (where: ConfigErrorLocation, problem: string): void => {
    warnings.push(new ConfigError(problem, where, ConfigErrorCode.CARBON_CONF).message);
  };

  // conf.py read_config: [relay], then [relay:<instance>] when an instance is given
  const hasRelay = settings.readFrom(ini, 'relay');
  const hasInstance = instance !== '' && settings.readFrom(ini, `relay:${instance}`);
  // carbon would start with its defaults, i.e. with no destinations at all
  if (!hasRelay && !hasInstance) throw new ConfigError(`no [relay]${instance === '' ? '' : ` or [relay:${instance}]`} section`, { file: confFile }, ConfigErrorCode.CARBON_CONF);

  const confDir = path.resolve(settings.isSet('CONF_DIR') ? text(settings.get('CONF_DIR')) : path.dirname(confFile));
  /** Paths given on carbon-relay's command line are relative to the working directory, like everything else carbon opens. */
  const cli = (p: string | undefined): string | undefined => (p === undefined ? undefined : path.resolve(p));
  const origins = new Map<string, ConfigErrorLocation>();
  const config: CarbonConfResult['config'] = { destinations: [] };

  // --- listeners (protocols.py CarbonServerProtocol.build: port 0 = none)
  const listener = (ifaceKey: string, portKey: string, at: string): { host: string; port: number } | undefined => {
    const portSetting = settings.get(portKey);
    const port = whole(portSetting);
    if (port === 0) return undefined;
    const iface = settings.get(ifaceKey);
    if (iface.value.type !== 'str') throw fail(iface, 'must be an address');
    origins.set(`${at}.port`, portSetting.where);
    origins.set(`${at}.host`, iface.where);
    return { host: iface.value.value === '' ? '0.0.0.0' : iface.value.value, port };
  };
  const listen: NonNullable<ConfigObject['listen']> = {};
  const lineTcp = listener('LINE_RECEIVER_INTERFACE', 'LINE_RECEIVER_PORT', 'listen.line.tcp');
  const lineUdp = bool(settings.get('ENABLE_UDP_LISTENER')) ? listener('UDP_RECEIVER_INTERFACE', 'UDP_RECEIVER_PORT', 'listen.line.udp') : undefined;
  // carbon's line receivers require all three fields ("name value" is an invalid line)
  const strict = { timestampOptional: false };
  if (lineTcp !== undefined || lineUdp !== undefined) listen.line = { ...(lineTcp && { tcp: { ...lineTcp, ...strict } }), ...(lineUdp && { udp: { ...lineUdp, ...strict } }) };
  const pickleTcp = listener('PICKLE_RECEIVER_INTERFACE', 'PICKLE_RECEIVER_PORT', 'listen.pickle.tcp');
  if (pickleTcp !== undefined) {
    const maxLen = settings.get('PICKLE_RECEIVER_MAX_LENGTH');
    // Int32StringReceiver's prefix is 32-bit unsigned, so an infinite limit is the largest length it can announce
    const frame = maxLen.value.type === 'float' && maxLen.value.value === Infinity ? 2 ** 32 - 1 : whole(maxLen);
    origins.set('listen.pickle.maxFrameLength', maxLen.where);
    listen.pickle = { tcp: pickleTcp, maxFrameLength: frame };
  }
  const maxConn = settings.get('MAX_RECEIVER_CONNECTIONS');
  if (!(maxConn.value.type === 'float' && maxConn.value.value === Infinity)) {
    listen.maxConnections = whole(maxConn);
    origins.set('listen.maxConnections', maxConn.where);
  }
  config.listen = listen;

  // --- destinations (service.py setupRelayProcessor, client.py)
  const protocolSetting = settings.get('DESTINATION_PROTOCOL');
  const protocol = text(protocolSetting);
  if (protocol === 'protobuf') throw fail(protocolSetting, 'protobuf is not supported (use pickle or line)');
  if (protocol !== 'pickle' && protocol !== 'line') throw fail(protocolSetting, 'must be pickle or line');
  const transport = settings.get('DESTINATION_TRANSPORT');
  const ssl = text(transport) === 'ssl';
  if (!ssl && text(transport) !== 'none') warn(transport.where, "only 'ssl' means TLS (carbon compares exactly); plain TCP is used");
  const caSetting = settings.get('DESTINATION_SSL_CA');
  const ca = ssl && truthy(caSetting.value) ? path.resolve(text(caSetting)) : undefined;
  const queueSetting = settings.get('MAX_QUEUE_SIZE');
  const maxQueueSize = whole(queueSetting);
  const perMessageSetting = settings.get('MAX_DATAPOINTS_PER_MESSAGE');
  const maxDatapointsPerMessage = whole(perMessageSetting);

  const destSetting = settings.get('DESTINATIONS');
  const entries = destSetting.value.type === 'list' ? destSetting.value.value : [];
  const destinations: DestinationObject[] = [];
  const byTuple = new Map<string, string>();
  const parsed: Dest[] = [];
  for (const entry of entries) {
    const d = parseCarbonDestination(entry);
    if (typeof d === 'string') throw fail(destSetting, d);
    if (byTuple.has(destKey(d))) {
      warn(destSetting.where, `${destLabel(d)} is listed twice; carbon connects to it once`);
      continue;
    }
    const name = destinationName(entry, d);
    byTuple.set(destKey(d), name);
    parsed.push(d);
    const i = destinations.length;
    for (const k of ['name', 'host', 'port', 'instance']) origins.set(`destinations.${i}.${k}`, destSetting.where);
    origins.set(`destinations.${i}.protocol`, protocolSetting.where);
    origins.set(`destinations.${i}.tls`, ssl ? caSetting.where : transport.where);
    origins.set(`destinations.${i}.maxQueueSize`, queueSetting.where);
    origins.set(`destinations.${i}.highWaterMark`, queueSetting.where);
    origins.set(`destinations.${i}.maxDatapointsPerMessage`, perMessageSetting.where);
    destinations.push({
      name,
      host: d.host,
      port: d.port,
      ...(d.instance !== null && { instance: d.instance }),
      // client.py: ('%s:%d:%s' % (host, port, instance)).replace('.', '_'), so dashboards keep their series
      metricName: `${d.host}:${d.port}:${d.instance ?? 'None'}`.replace(/\./g, '_'),
      protocol,
      ...(ssl && { tls: ca === undefined ? {} : { ca } }),
      maxQueueSize,
      maxDatapointsPerMessage,
    });
  }
  if (destinations.length === 0) throw fail(destSetting, destSetting.option === undefined ? 'DESTINATIONS is not set' : 'no destinations', ConfigErrorCode.NO_DESTINATIONS);
  config.destinations = destinations;

  // --- routing (routers.py)
  const methodSetting = settings.get('RELAY_METHOD');
  const method = text(methodSetting);
  if (!RELAY_METHODS.includes(method)) throw fail(methodSetting, `must be one of ${RELAY_METHODS.join(', ')}`);
  if (method === 'rules') {
    const rulesFile = cli(opts.rules) ?? path.resolve(confDir, text(settings.get('RELAY_RULES')));
    config.rules = readRelayRules(rulesFile, confFile, byTuple, warn);
  } else {
    const fast = method.startsWith('fast');
    const hashSetting = settings.get('ROUTER_HASH_TYPE');
    // `settings.ROUTER_HASH_TYPE or default`, then carbonHash: anything but fnv1a_ch/mmh3_ch is md5
    const wanted = truthy(hashSetting.value) ? text(hashSetting) : fast ? 'mmh3_ch' : 'carbon_ch';
    const type = wanted === 'fnv1a_ch' || wanted === 'mmh3_ch' ? wanted : 'carbon_ch';
    if (type !== wanted) warn(hashSetting.where, 'not carbon_ch, fnv1a_ch or mmh3_ch; carbon_ch (md5) is used, as carbon does');
    const seen = new Map<string, Dest>();
    for (const d of parsed) {
      const key = `${d.host}\n${d.instance ?? '\u0000'}`;
      if (seen.has(key)) throw fail(destSetting, `${destLabel(d)}: destination instance (${d.host}, ${d.instance ?? 'None'}) already configured; with ${method} the port does not tell destinations apart`);
      seen.set(key, d);
    }
    const rf = settings.get('REPLICATION_FACTOR');
    const diverse = settings.get('DIVERSE_REPLICAS');
    origins.set('groups.0.type', hashSetting.where);
    origins.set('groups.0.replication', rf.where);
    origins.set('groups.0.diverse', diverse.where);
    origins.set('groups.0', methodSetting.where);
    config.groups = [
      {
        name: CARBON_RING_GROUP,
        type,
        ring: fast ? 'fast' : 'consistent',
        replication: whole(rf),
        diverse: bool(diverse),
        members: destinations.map((d) => d.name),
        // carbon adds ring nodes in DESTINATIONS order: the first added keeps a contested position
        memberOrder: 'listed',
        ...(method.includes('aggregated')
          ? { aggregationRules: cli(opts.aggregationRules) ?? path.resolve(confDir, text(settings.get('AGGREGATION_RULES'))) }
          : {}),
      },
    ];
    config.rules = [{ default: true, destinations: [CARBON_RING_GROUP] }];
  }

  // --- filters (service.py createBaseService, conf.py CarbonCacheOptions.postOptions)
  if (bool(settings.get('USE_WHITELIST'))) {
    config.filters = {
      allowFile: cli(opts.whitelist) ?? path.join(confDir, 'whitelist.conf'),
      blockFile: cli(opts.blacklist) ?? path.join(confDir, 'blacklist.conf'),
    };
  }

  // --- the rest
  // carbon-relay is one process (a second instance is another [relay:<name>]); `convert` output can raise it
  config.workers = 1;
  config.normalizeTags = bool(settings.get('TAG_RELAY_NORMALIZED'));
  const resolution = settings.get('MIN_TIMESTAMP_RESOLUTION');
  config.minTimestampResolution = whole(resolution);
  origins.set('minTimestampResolution', resolution.where);
  const intervalSetting = settings.get('CARBON_METRIC_INTERVAL');
  const interval = seconds(intervalSetting);
  const hostname = (opts.hostname ?? os.hostname()).replace(/\./g, '_');
  const prefixSetting = settings.get('CARBON_METRIC_PREFIX');
  config.selfMetrics = {
    // instrumentation.py starts the LoopingCall only when the interval is > 0 (an infinite one never fires)
    interval: interval > 0 && interval !== Infinity ? interval : 0,
    prefix: `${pyText(prefixSetting.value)}.relays.${hostname}-${instance}`,
  };
  origins.set('selfMetrics.interval', intervalSetting.where);
  origins.set('selfMetrics.prefix', prefixSetting.where);

  // --- settings that are not ours
  for (const s of settings.map.values()) {
    if (MAPPED.has(s.key) || IGNORED.has(s.key)) continue;
    const unsupported = UNSUPPORTED[s.key];
    if (unsupported !== undefined) {
      if (unsupported.active(s.value)) warn(s.where, `not supported: ${unsupported.instead}`);
    } else if (s.key === 'DESTINATIONS_POOL_REPLICAS') {
      warn(s.where, 'not a carbon setting (carbon reads DESTINATION_POOL_REPLICAS; the example carbon.conf misspells it), so it has no effect');
    } else if (s.option?.section !== 'DEFAULT') {
      // [DEFAULT] values are usually there for %(name)s interpolation, so only a section's own unknown keys warn
      warn(s.where, 'unknown setting, ignored (carbon-relay 1.1.7 does not read it either)');
    }
  }

  validate(config, origins, confFile);
  return { config, warnings };
}

/** The schema's verdict, with each issue reported at the carbon.conf line it came from. */
function validate(config: ConfigObject, origins: ReadonlyMap<string, ConfigErrorLocation>, file: string): void {
  const result = configSchema.safeParse(config);
  if (result.success) return;
  const messages = result.error.issues.map((issue) => {
    const parts = issue.path.filter((p): p is string | number => typeof p !== 'symbol').map(String);
    let where: ConfigErrorLocation = { file };
    for (let n = parts.length; n >= 0; n--) {
      const o = origins.get(parts.slice(0, n).join('.'));
      if (o !== undefined) {
        where = o;
        break;
      }
    }
    return new ConfigError(`${issue.message} (${parts.join('.')})`, where, ConfigErrorCode.SCHEMA).message;
  });
  throw new ConfigError(messages.join('\n'), {}, ConfigErrorCode.SCHEMA);
}

/**
 * relayrules.py loadRelayRules, over carbon's OrderedConfigParser section order.
 * Destinations are matched to DESTINATIONS by the exact (host, port, instance)
 * tuple and referenced by name.
 */
function readRelayRules(file: string, confFile: string, byTuple: ReadonlyMap<string, string>, warn: (where: ConfigErrorLocation, problem: string) => void): RuleObject[] {
  const ini = IniFile.read(file);
  const headers = ini.orderedSections();
  const listed = new Set(headers.map((h) => h.name));
  for (const name of ini.sections()) {
    if (!listed.has(name)) warn({ file, line: ini.section(name)?.line, path: `[${name}]` }, "text after ']' on the header line hides this section from carbon, which ignores it; skipped too");
  }
  const rules: RuleObject[] = [];
  let defaultRule: { rule: RuleObject; line: number } | undefined;
  for (const h of headers) {
    const section = h.name;
    const at = (key: string): ConfigErrorLocation => {
      const o = ini.option(section, key);
      return { file, line: o?.line ?? h.line, path: `[${section}] ${o?.name ?? key}` };
    };
    if (section !== 'DEFAULT' && !ini.hasSection(section)) {
      throw new ConfigError("carbon reads this line as a section header (it starts with '[' and ends with ']'), and that section has no destinations", { file, line: h.line }, ConfigErrorCode.CARBON_CONF);
    }
    if (!ini.hasOption(section, 'destinations')) throw new ConfigError(`section [${section}] has no destinations (carbon requires them in every section)`, { file, line: h.line }, ConfigErrorCode.CARBON_CONF);
    const dests: Dest[] = [];
    for (const entry of ini.get(section, 'destinations').split(',')) {
      const d = parseCarbonDestination(entry);
      if (typeof d === 'string') throw new ConfigError(d, at('destinations'), ConfigErrorCode.CARBON_CONF);
      dests.push(d);
    }
    const names = (): string[] => {
      const out: string[] = [];
      for (const d of dests) {
        const name = byTuple.get(destKey(d));
        if (name === undefined) {
          throw new ConfigError(
            `${destLabel(d)} is not in DESTINATIONS of ${confFile} (host, port and instance must all match; carbon would silently drop it, and buffer without limit when a rule is left with no destination)`,
            at('destinations'),
            ConfigErrorCode.UNKNOWN_DESTINATION,
          );
        }
        if (!out.includes(name)) out.push(name);
      }
      return out;
    };
    if (ini.hasOption(section, 'pattern')) {
      if (ini.hasOption(section, 'default')) throw new ConfigError(`section [${section}] has both pattern and default; use one or the other`, at('default'), ConfigErrorCode.CARBON_CONF);
      const pattern = ini.get(section, 'pattern');
      const cont = ini.hasOption(section, 'continue') ? ini.getBoolean(section, 'continue') : false;
      // re.compile('') matches every name; the schema wants a non-empty pattern
      rules.push({ name: section, pattern: pattern === '' ? '(?:)' : pattern, continue: cont, destinations: names() });
      continue;
    }
    if (ini.hasOption(section, 'default')) {
      if (!ini.getBoolean(section, 'default')) continue; // carbon ignores `default = false`
      if (defaultRule !== undefined) throw new ConfigError(`a second default rule (the first is [${defaultRule.rule.name}] at line ${defaultRule.line}); exactly one section may have default = true`, at('default'), ConfigErrorCode.DEFAULT_RULE);
      defaultRule = { rule: { name: section, default: true, destinations: names() }, line: h.line };
      continue;
    }
    warn({ file, line: h.line, path: `[${section}]` }, 'neither pattern nor default; carbon ignores this section, and so do we');
  }
  if (defaultRule === undefined) throw new ConfigError('no default rule: exactly one section must have default = true', { file }, ConfigErrorCode.DEFAULT_RULE);
  // carbon evaluates the default rule last, wherever it is written
  rules.push(defaultRule.rule);
  return rules;
}

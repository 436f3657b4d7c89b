/*
 * Validation policy: partial. Every value list that can be named is sent; the
 * answer is 400 naming each rejected item ("item 3: ...", "line 2: ...") when
 * there are any, else 200 "ok". Not whole-request, because write_http never
 * retries and one POST carries ~20 value lists from unrelated plugins: one bad
 * list would otherwise lose all the good ones every interval, with nothing the
 * sender could resend. (Backstop is partial too: it sends items until the
 * first bad one.) A body that is not a JSON array or PUTVAL lines is 400 with
 * nothing sent. Unknown values (JSON null, PUTVAL U/nan) and notifications are
 * skipped and counted (httpSkippedItems), never a 400.
 */
import type { Request, Response } from 'express';
import type { HttpConfig } from '../../../config/schema';
import { bodyText, readBody } from '../body';
import type { EndpointContext, EndpointGroup } from '../endpoint-group';
import { ERROR_CODE_HEADER, HttpError, HttpErrorCode } from '../http-error';
import type { RequestMetrics } from '../request-metrics';

type CollectdConfig = HttpConfig['collectd'];

/** One collectd value list, from either body format. */
interface ValueList {
  host: string;
  plugin: string;
  pluginInstance: string;
  type: string;
  typeInstance: string;
  /** Epoch seconds, fractional as collectd sends them (%.3f). */
  time: number;
  /** One per data source; null = unknown (NaN gauge, first rate, PUTVAL U). */
  values: (number | null)[];
  /** Data-source names; undefined for a PUTVAL of a multi-value type not in types.db. */
  dsnames: readonly string[] | undefined;
}

/** Metric names for a value list, each with the index of its value; a string is why it cannot be named. */
type Namer = (vl: ValueList) => [name: string, valueIndex: number][] | string;

const DS_TYPES = new Set(['gauge', 'counter', 'derive', 'absolute']);

/**
 * collectd 5.12's types.db (Debian /usr/share/collectd/types.db), the types
 * whose data sources are not the single `value`: PUTVAL lines carry no
 * data-source names, and write_graphite naming needs them.
 */
const TYPES_DB: Readonly<Record<string, readonly string[]>> = Object.fromEntries(
  `compression uncompressed,compressed;df used,free;disk_io_time io_time,weighted_io_time;disk_latency read,write
disk_merged read,write;disk_octets read,write;disk_ops read,write;disk_time read,write;dns_octets queries,responses
domain_state state,reason;duration seconds;ib_octets rx,tx;ib_packets rx,tx;if_dropped rx,tx;if_errors rx,tx
if_octets rx,tx;if_packets rx,tx;io_octets rx,tx;io_ops read,write;io_packets rx,tx;load shortterm,midterm,longterm
memcached_octets rx,tx;mysql_octets rx,tx;node_octets rx,tx;ps_count processes,threads;ps_cputime user,syst
ps_disk_octets read,write;ps_disk_ops read,write;ps_pagefaults minflt,majflt;serial_octets rx,tx
smart_attribute current,worst,threshold,pretty;vf_broadcast vf_value;vf_bytes vf_rx,vf_tx;vf_dropped vf_rx,vf_tx
vf_link_info vf_value;vf_multicast vf_value;vf_packets vf_rx,vf_tx;vmpage_faults minflt,majflt;vmpage_io in,out
voltage_threshold value,threshold;arc_counts demand_data,demand_metadata,prefetch_data,prefetch_metadata
arc_l2_bytes read,write;arc_size current,target,minlimit,maxlimit
mysql_qcache hits,inserts,not_cached,lowmem_prunes,queries_in_cache;mysql_threads running,connected,cached,created`
    .split(/[;\n]/)
    .map((entry) => {
      const [type, names] = entry.split(' ') as [string, string];
      return [type, names.split(',')];
    }),
);
const SINGLE_VALUE = ['value'] as const;

// ---- naming -------------------------------------------------------------

/** Every char of write_graphite's GRAPHITE_FORBIDDEN, replaced in the whole name (prefix and postfix too). */
const GRAPHITE_FORBIDDEN = /[ \t"\\:!,/()\n\r]/g;

/**
 * write_graphite's gr_format_name + escape_graphite_string (collectd 5.12,
 * src/utils/format_graphite). Parts are escaped for isspace/iscntrl, and for
 * Unicode whitespace too (which collectd passes through but no Graphite can
 * store; collectd's own JSON has already turned non-ASCII into '?').
 */
function graphiteNamer(c: CollectdConfig): Namer {
  const part = c.preserveSeparator ? /[\s\x00-\x1f\x7f-\x9f]/g : /[\s\x00-\x1f\x7f-\x9f.]/g;
  const escapeChar = c.escapeCharacter;
  const esc = (s: string): string => s.replace(part, () => escapeChar);
  const sep = c.separateInstances ? '.' : '-';
  return (vl) => {
    const host = esc(c.reverseHost ? vl.host.split('.').reverse().join('.') : vl.host);
    const plugin = esc(vl.plugin);
    const pi = esc(vl.pluginInstance);
    const type = esc(vl.type);
    const ti = esc(vl.typeInstance);
    const p = pi === '' ? plugin : plugin + sep + pi;
    const t = ti === '' ? type : c.dropDuplicateFields && plugin === type ? ti : type + sep + ti;
    const head = c.prefix + host + c.postfix + '.' + p;
    const n = vl.values.length;
    if (!c.alwaysAppendDs && n === 1) return [[(head + '.' + t).replace(GRAPHITE_FORBIDDEN, () => escapeChar), 0]];
    const ds = vl.dsnames ?? (n === 1 ? SINGLE_VALUE : undefined);
    if (ds === undefined) return `type "${vl.type}" has ${n} values but is not in collectd's types.db, so its data-source names are unknown (send Format "JSON", which carries dsnames)`;
    const stem = c.dropDuplicateFields && p === t ? head : head + '.' + t;
    return ds.map((name, i) => [(stem + '.' + name).replace(GRAPHITE_FORBIDDEN, () => escapeChar), i]);
  };
}

/** Backstop's processes.rb: the two values of these types and the names it gives them. */
const PS_PAIRS: Readonly<Record<string, readonly [string, string]>> = {
  ps_count: ['num_proc', 'num_thread'],
  ps_disk_ops: ['read', 'write'],
  ps_disk_octets: ['read', 'write'],
  ps_pagefaults: ['minor', 'major'],
  ps_cputime: ['user', 'system'],
};

/**
 * Backstop's lib/backstop/collectd/plugins/*.rb: the metric(s) a value list
 * becomes under mitt.<cloud>.<slot>.<id>. Names are not sanitised (Backstop's
 * are not); ones a Graphite cannot store are rejected when added. These rules
 * assume collectd 4 lists, and are kept so (e.g. `disk` calls values[0]
 * "write" although collectd sends read first).
 */
function backstopMetrics(vl: ValueList): [string, number][] {
  const { plugin: p, pluginInstance: pi, type: t, typeInstance: ti } = vl;
  switch (p) {
    case 'cpu':
      return [[`cpu.${pi}.${ti}`, 0]];
    case 'df':
      return [[`df.${ti}.used`, 0], [`df.${ti}.free`, 1]];
    case 'disk':
      return [[`disk.${pi}.${t}.write`, 0], [`disk.${pi}.${t}.read`, 1]];
    case 'interface':
      return [[`net.${ti}.${t}.in`, 0], [`net.${ti}.${t}.out`, 1]];
    case 'load':
      return [['load.1m', 0], ['load.5m', 1], ['load.15m', 2]];
    case 'memory':
    case 'swap':
    case 'droid':
      return [[`${p}.${ti}`, 0]];
    case 'conntrack':
      return [['conntrack.connections', 0]];
    case 'fsperformance':
    case 'nfsiostat':
      return [[`${p}.${pi}.${ti}`, 0]];
    case 'processes': {
      if (pi === '') return [[`processes.${ti === '' ? t : ti}`, 0]];
      const pair = PS_PAIRS[t];
      if (pair === undefined) return [[`processes.${pi}.${t}`, 0]];
      return [[`processes.${pi}.${t}.${pair[0]}`, 0], [`processes.${pi}.${t}.${pair[1]}`, 1]];
    }
    default:
      // generic.rb (tcpconns' own rule is commented out, so it lands here too): no plugin name
      return [[ti === '' ? t : `${t}.${ti}`, 0]];
  }
}

function backstopNamer(): Namer {
  return (vl) => {
    // parser.rb: DOT/DASH spelled out in host names, then cloud.slot.id from the labels
    const labels = vl.host.replaceAll('DOT', '.').replaceAll('DASH', '-').split('.');
    while (labels.length > 0 && labels[labels.length - 1] === '') labels.pop(); // Ruby's split drops trailing empty fields
    if (labels.length < 2) return `host "${vl.host}" needs at least two dot-separated labels for backstop naming (mitt.<cloud>.<slot>.<id>)`;
    const id = labels[labels.length - 1];
    const slot = labels[labels.length - 2];
    // Backstop joins the leading labels with '.', then turns every '.' into '-'
    const base = `mitt.${labels.slice(0, -2).join('-')}.${slot}.${id}.`;
    return backstopMetrics(vl).map(([metric, i]) => [base + metric, i]);
  };
}

// ---- JSON (Format "JSON") -----------------------------------------------

/**
 * A notification (write_http `Notifications true`): an Alertmanager-style
 * object, not a value list.
 */
function isNotification(o: Record<string, unknown>): boolean {
  return o.values === undefined && typeof o.labels === 'object' && o.labels !== null;
}

const isStringArray = (a: unknown[]): boolean => a.every((s) => typeof s === 'string' && s !== '');

/** A write_http JSON value list, checked; a string is why it is not one. */
function valueListFromJson(o: Record<string, unknown>): ValueList | string {
  const absent = ['values', 'dstypes', 'dsnames', 'time', 'host', 'plugin', 'type'].filter((k) => o[k] === undefined || o[k] === null);
  // Backstop's text, with the fields named
  if (absent.length > 0) return `missing fields: ${absent.join(', ')}`;
  const { values, dstypes, dsnames, time, interval, host, plugin, type } = o;
  const pi = o.plugin_instance ?? '';
  const ti = o.type_instance ?? '';
  if (!Array.isArray(values) || values.length === 0) return 'values must be a non-empty array';
  if (!Array.isArray(dstypes)) return 'dstypes must be an array';
  if (!Array.isArray(dsnames)) return 'dsnames must be an array';
  if (dstypes.length !== values.length) return 'values and dstypes differ in length';
  if (dsnames.length !== values.length) return 'values and dsnames differ in length';
  for (let j = 0; j < values.length; j++) {
    const v: unknown = values[j];
    if (v !== null && typeof v !== 'number') return `values[${j}] is not a number or null`;
  }
  const badType = dstypes.findIndex((d) => typeof d !== 'string' || !DS_TYPES.has(d));
  if (badType >= 0) return `dstypes[${badType}] is not one of gauge, counter, derive, absolute`;
  if (!isStringArray(dsnames)) return 'dsnames must be non-empty strings';
  if (typeof time !== 'number') return 'time must be a number (epoch seconds)';
  if (interval !== undefined && typeof interval !== 'number') return 'interval must be a number';
  if (typeof host !== 'string' || host === '') return 'host must be a non-empty string';
  if (typeof plugin !== 'string' || plugin === '') return 'plugin must be a non-empty string';
  if (typeof type !== 'string' || type === '') return 'type must be a non-empty string';
  if (typeof pi !== 'string') return 'plugin_instance must be a string';
  if (typeof ti !== 'string') return 'type_instance must be a string';
  return { host, plugin, pluginInstance: pi, type, typeInstance: ti, time, values: values as (number | null)[], dsnames: dsnames as string[] };
}

// ---- PUTVAL (Format "Command") ------------------------------------------

/** C isspace(): space, \t \n \v \f \r. */
const isCSpace = (c: number): boolean => c === 0x20 || (c >= 0x09 && c <= 0x0d);

/** collectd's parse_string(): whitespace-separated fields, "quoted" with \-escapes. */
function tokenize(line: string): string[] | string {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    while (i < line.length && isCSpace(line.charCodeAt(i))) i++;
    if (i >= line.length) return out;
    if (line[i] !== '"') {
      const start = i;
      while (i < line.length && !isCSpace(line.charCodeAt(i))) i++;
      out.push(line.slice(start, i));
      continue;
    }
    let s = '';
    for (i++; ; i++) {
      if (i >= line.length) return 'unterminated quoted string';
      let ch = line[i];
      if (ch === '"') break;
      if (ch === '\\') {
        if (++i >= line.length) return 'backslash at the end of the line';
        ch = line[i];
      }
      s += ch;
    }
    i++;
    if (i < line.length && !isCSpace(line.charCodeAt(i))) return 'a quoted string must be followed by whitespace';
    out.push(s);
  }
}

const C_NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const C_SPECIAL = /^([+-]?)(inf|infinity|nan)$/i;

/** What C's strtod accepts (decimal forms, inf, nan); undefined otherwise. */
function parseCNumber(s: string): number | undefined {
  if (C_NUMBER.test(s)) return Number(s);
  const m = C_SPECIAL.exec(s);
  if (m === null) return undefined;
  if (m[2]!.toLowerCase() === 'nan') return NaN;
  return m[1] === '-' ? -Infinity : Infinity;
}

/** `PUTVAL <host/plugin[-pi]/type[-ti]> [interval=<s>] [meta:<k>=<v>] <time>:<v1>[:<v2>...] ...`: one value list per time. */
function valueListsFromPutval(tokens: readonly string[], now: number): ValueList[] | string {
  if (tokens.length < 3) return 'PUTVAL needs an identifier and at least one value list';
  const id = tokens[1]!;
  const a = id.indexOf('/');
  const b = a < 0 ? -1 : id.indexOf('/', a + 1);
  if (b < 0) return `identifier "${id}" is not host/plugin[-instance]/type[-instance]`;
  // plugin and type names have no '-'; instances may
  const [plugin, pluginInstance] = splitFirst(id.slice(a + 1, b), '-');
  const [type, typeInstance] = splitFirst(id.slice(b + 1), '-');
  const host = id.slice(0, a);
  if (host === '' || plugin === '' || type === '') return `identifier "${id}" has an empty host, plugin or type`;
  const known = TYPES_DB[type];
  const out: ValueList[] = [];
  for (const tok of tokens.slice(2)) {
    // cmd_parse_option: [A-Za-z0-9_:]+ then '='
    const opt = /^([A-Za-z0-9_:]+)=/.exec(tok);
    if (opt !== null) {
      const key = opt[1]!.toLowerCase();
      // interval is not used for naming; meta data is not carried to Graphite
      if (key === 'interval' || key.startsWith('meta:')) continue;
      return `unknown option "${opt[1]}"`;
    }
    const fields = tok.split(':');
    if (fields.length < 2) return `value list "${tok}" is not <time>:<value>[:<value>...]`;
    let time: number;
    if (fields[0] === 'N') time = now;
    else {
      const t = parseCNumber(fields[0]!);
      if (t === undefined || !Number.isFinite(t) || t < 0) return `time "${fields[0]}" is not N or epoch seconds`;
      time = t === 0 ? now : t; // plugin_dispatch_values treats time 0 as now
    }
    const values: (number | null)[] = [];
    for (const f of fields.slice(1)) {
      const v = f === 'U' ? NaN : parseCNumber(f);
      if (v === undefined) return `value "${f}" is not a number or U`;
      values.push(Number.isNaN(v) ? null : v); // write_http's Command format prints NaN gauges as nan
    }
    if (known !== undefined && known.length !== values.length) return `type "${type}" has ${known.length} data sources in types.db, got ${values.length} values`;
    out.push({ host, plugin, pluginInstance, type, typeInstance, time, values, dsnames: known ?? (values.length === 1 ? SINGLE_VALUE : undefined) });
  }
  if (out.length === 0) return 'PUTVAL has no value list';
  return out;
}

function splitFirst(s: string, sep: string): [string, string] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, ''] : [s.slice(0, i), s.slice(i + 1)];
}

// ---- the endpoint -------------------------------------------------------

const PUTVAL_BODY = /^\s*PUTVAL\s/i;

/**
 * POST /collectd: collectd's write_http plugin, Format "JSON" (an array of
 * value lists) or Format "Command" (PUTVAL lines), named as Backstop's
 * /collectd did or as write_graphite would (`http.collectd.naming`). Values go
 * on as sent: write_http defaults to raw counters (StoreRates false), where
 * write_graphite sends rates; set StoreRates true for write_graphite's values.
 * 64-bit counters: values travel as doubles (as whisper stores them), and
 * JSON.parse already rounds correctly to the nearest one.
 */
export function createCollectdEndpoints(ctx: EndpointContext): EndpointGroup {
  const { ingest, http } = ctx;
  const config = http.collectd;
  const limits = { maxBodySize: http.maxBodySize, maxDecompressedSize: http.maxDecompressedSize };
  const namer = config.naming === 'backstop' ? backstopNamer() : graphiteNamer(config);

  /** Adds the value list's datapoints; returns how many unknown values were skipped. */
  const addValueList = (m: RequestMetrics, where: string, vl: ValueList): number => {
    const named = namer(vl);
    if (typeof named === 'string') {
      m.reject(where, named);
      return 0;
    }
    let skipped = 0;
    for (const [name, i] of named) {
      if (i >= vl.values.length) m.reject(where, `${name}: values[${i}] is missing (${vl.values.length} values)`);
      else if (vl.values[i] === null) skipped++;
      else m.add(where, name, vl.values[i], vl.time);
    }
    return skipped;
  };

  const fromJson = (text: string, m: RequestMetrics): number => {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (err) {
      throw new HttpError(400, HttpErrorCode.MALFORMED_BODY, `JSON is required (collectd write_http Format "JSON", or PUTVAL lines): ${err instanceof Error ? err.message.slice(0, 200) : String(err)}`);
    }
    if (!Array.isArray(body)) throw new HttpError(400, HttpErrorCode.INVALID_BODY, 'expected a JSON array of collectd value lists (write_http Format "JSON")');
    let skipped = 0;
    for (let i = 0; i < body.length; i++) {
      const where = `item ${i}`;
      const item: unknown = body[i];
      if (typeof item !== 'object' || item === null || Array.isArray(item)) {
        m.reject(where, 'not an object (a collectd value list)');
        continue;
      }
      const o = item as Record<string, unknown>;
      if (isNotification(o)) {
        skipped++;
        continue;
      }
      const vl = valueListFromJson(o);
      if (typeof vl === 'string') m.reject(where, vl);
      else skipped += addValueList(m, where, vl);
    }
    return skipped;
  };

  const fromPutval = (text: string, m: RequestMetrics): number => {
    let skipped = 0;
    const lines = text.split('\n');
    for (let n = 0; n < lines.length; n++) {
      const where = `line ${n + 1}`;
      const tokens = tokenize(lines[n]!);
      if (typeof tokens === 'string') {
        m.reject(where, tokens);
        continue;
      }
      if (tokens.length === 0) continue;
      const command = tokens[0]!.toUpperCase();
      if (command === 'PUTNOTIF') {
        skipped++;
        continue;
      }
      if (command !== 'PUTVAL') {
        m.reject(where, `unknown command "${tokens[0]!.slice(0, 20)}" (only PUTVAL is accepted)`);
        continue;
      }
      const lists = valueListsFromPutval(tokens, ingest.nowSeconds());
      if (typeof lists === 'string') m.reject(where, lists);
      else for (const vl of lists) skipped += addValueList(m, where, vl);
    }
    return skipped;
  };

  const collectd = async (req: Request, res: Response): Promise<void> => {
    ingest.assertAccepting();
    const text = bodyText(await readBody(req, limits));
    const m = ingest.newRequest();
    // Command bodies are text/plain and JSON ones application/json, but clients mislabel; the body tells
    const skipped = PUTVAL_BODY.test(text) ? fromPutval(text, m) : fromJson(text, m);
    ingest.deps.counters.httpSkippedItems += skipped;
    const problems = ingest.submitValid(m, `http:${req.ip ?? ''}`);
    if (problems === undefined) res.status(200).type('text/plain').send('ok');
    else res.status(400).set(ERROR_CODE_HEADER, HttpErrorCode.INVALID_ITEMS).type('text/plain').send(problems);
  };

  return {
    name: 'collectd',
    mount(routes) {
      routes.on(['post'], '/collectd', collectd);
    },
  };
}

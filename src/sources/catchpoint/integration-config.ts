import fs from 'node:fs';
import path from 'node:path';
import YAML, { LineCounter } from 'yaml';
import { ConfigError, ConfigErrorCode } from '../../config/config-error';
import { CATCHPOINT_DEFAULT_BASE_URL } from '../../config/schema';

/**
 * `carbon-fanout convert --catchpoint-config DIR`: Catchpoint's Graphite
 * integration (graphite-python, run from cron) keeps its settings in
 * config_catchpoint.yaml and config_graphite.yaml, in DIR or DIR/config:
 *
 *   client_id: '...'          client_secret: '...'        refresh_token: 'None'
 *   protocol: 'https'         domain: 'io.catchpoint.com/ui/api'
 *   token_endpoint: 'token'   version: 'v1'               rawdata_endpoint: 'performance/raw?tests'
 *   test_ids: { web: ['142619', ...], traceroute: [...], ... }
 *   batch_size: 10            log_file: 'app.log'         log_level: 'debug'
 *
 *   carbon_server: '127.0.0.1'
 *   carbon_port: 2003
 *
 * Read tolerantly: ids as numbers, digit strings or one comma-separated
 * string; key spellings like clientId/tests/base_url (the Node.js port);
 * the settings nested under one top-level key. The secret is never copied:
 * the block reads it from the environment.
 */

export interface IntegrationImport {
  /** The `sources:` block, with comments. */
  yaml: string;
  /** What could not be carried over, for stderr. */
  warnings: string[];
  /** The source entry that `yaml` holds. */
  source: Record<string, unknown>;
  /** The files read. */
  files: { catchpoint: string; graphite?: string };
}

/** The integration's series names: `system.cp.testdata.<Metric>;testId=..` (utils.py). */
export const INTEGRATION_PREFIX = 'system.cp.testdata';
export const CLIENT_ID_VAR = 'CATCHPOINT_CLIENT_ID';
export const CLIENT_SECRET_VAR = 'CATCHPOINT_CLIENT_SECRET';

/** Keys the integration reads, by normalised spelling (lower case, no _ or -): what they become. */
const ALIASES: Record<string, string> = {
  clientid: 'clientId',
  clientkey: 'clientId',
  consumerkey: 'clientId',
  clientsecret: 'clientSecret',
  consumersecret: 'clientSecret',
  testids: 'tests',
  tests: 'tests',
  protocol: 'protocol',
  domain: 'domain',
  baseurl: 'baseUrl',
  tokenendpoint: 'tokenEndpoint',
  tokenpath: 'tokenEndpoint',
  version: 'version',
  rawdataendpoint: 'rawEndpoint',
  lastrawpath: 'rawEndpoint',
  batchsize: 'batchSize',
  refreshtoken: 'ignored',
  logfile: 'logFile',
  loglevel: 'ignored',
};

const GRAPHITE_ALIASES: Record<string, string> = {
  carbonserver: 'host',
  carbonhost: 'host',
  server: 'host',
  host: 'host',
  carbonport: 'port',
  port: 'port',
};

export function importCatchpointIntegration(dir: string): IntegrationImport {
  const warnings: string[] = [];
  const base = fs.existsSync(dir) && fs.statSync(dir).isFile() ? path.dirname(dir) : dir;
  const catchpointFile = findFile(base, 'config_catchpoint.yaml');
  if (catchpointFile === undefined) {
    throw new ConfigError(`no config_catchpoint.yaml in ${base} or ${path.join(base, 'config')}`, { file: path.resolve(base) }, ConfigErrorCode.READ);
  }
  const settings = normalise(readYaml(catchpointFile), ALIASES, 'tests', catchpointFile, warnings);

  const source: Record<string, unknown> = {
    name: 'catchpoint',
    type: 'catchpoint',
    ...baseUrlOf(settings, warnings),
    clientId: `\${${CLIENT_ID_VAR}}`,
    clientSecret: `\${${CLIENT_SECRET_VAR}}`,
    interval: '15m',
    ...batchSizeOf(settings.batchSize, warnings),
    tests: testsOf(settings.tests, catchpointFile, warnings),
    prefix: INTEGRATION_PREFIX,
    tags: true,
  };

  const graphiteFile = findFile(base, 'config_graphite.yaml');
  let carbon: { host: unknown; port: unknown } | undefined;
  if (graphiteFile !== undefined) {
    const g = normalise(readYaml(graphiteFile), GRAPHITE_ALIASES, 'host', graphiteFile, warnings);
    if (g.host !== undefined || g.port !== undefined) carbon = { host: g.host ?? '127.0.0.1', port: g.port ?? 2003 };
  }

  const header = [
    `# carbon-fanout source converted from ${catchpointFile}`,
    `# Credentials are not copied: put the file's client_id and client_secret in the relay's environment`,
    `# as ${CLIENT_ID_VAR} and ${CLIENT_SECRET_VAR}.`,
    `# The integration ran from cron every 15 minutes and named its series ${INTEGRATION_PREFIX}.<Metric>;testId=..;nodeId=..:`,
    `# the prefix below keeps those names (remove it for carbon-fanout's default, catchpoint.testdata).`,
  ];
  if (carbon !== undefined) {
    header.push(
      `# It wrote plaintext lines to carbon at ${String(carbon.host)}:${String(carbon.port)} (${graphiteFile}).`,
      '# If no destination of this relay goes there yet, add one and route catchpoint series to it, e.g.:',
      '#   destinations:',
      `#     - { name: carbon, host: ${String(carbon.host)}, port: ${String(carbon.port)}, protocol: line }`,
    );
  }
  const doc = new YAML.Document({ sources: [source] });
  YAML.visit(doc, {
    Seq(_key, node) {
      if (node.items.every((i) => YAML.isScalar(i))) node.flow = true;
    },
  });
  return { yaml: `${header.join('\n')}\n${doc.toString({ lineWidth: 0 })}`, warnings, source, files: { catchpoint: catchpointFile, graphite: graphiteFile } };
}

function findFile(dir: string, name: string): string | undefined {
  return [path.join(dir, name), path.join(dir, 'config', name)].map((f) => path.resolve(f)).find((f) => fs.existsSync(f));
}

function readYaml(file: string): unknown {
  const lines = new LineCounter();
  const doc = YAML.parseDocument(fs.readFileSync(file, 'utf8'), { lineCounter: lines });
  const err = doc.errors[0];
  if (err !== undefined) throw new ConfigError(err.message.split('\n')[0], { file, line: err.linePos?.[0].line }, ConfigErrorCode.YAML);
  return doc.toJS();
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Known keys by their canonical name; unknown ones warned about. Descends into a single wrapping key if `marker` is only found there. */
function normalise(data: unknown, aliases: Record<string, string>, marker: string, file: string, warnings: string[]): Record<string, unknown> {
  if (!isObject(data)) throw new ConfigError('expected a mapping of settings', { file }, ConfigErrorCode.SCHEMA);
  const canonical = (k: string): string | undefined => aliases[k.toLowerCase().replace(/[_\-\s]/g, '')];
  let obj = data;
  const keys = Object.keys(obj);
  if (!keys.some((k) => canonical(k) === marker) && keys.length === 1 && isObject(obj[keys[0]])) obj = obj[keys[0]] as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    const c = canonical(k);
    if (c === undefined) warnings.push(`${path.basename(file)}: ignored unknown key "${k}"`);
    // the relay's log is not the source's: say where it goes instead of dropping the setting silently
    else if (c === 'logFile') warnings.push(`${path.basename(file)}: ${k} is not carried over: the relay logs to stderr (journald under systemd); to log to a file, set logFile: { path: ... } in the relay's config`);
    else if (c !== 'ignored') out[c] = v;
  }
  return out;
}

function baseUrlOf(s: Record<string, unknown>, warnings: string[]): { baseUrl?: string } {
  let url: string;
  if (typeof s.baseUrl === 'string' && s.baseUrl.trim() !== '') {
    url = s.baseUrl.trim().replace(/\/+$/, '') + '/';
  } else if (typeof s.domain === 'string' && s.domain.trim() !== '') {
    const protocol = typeof s.protocol === 'string' && s.protocol.trim() !== '' ? s.protocol.trim().replace(/:\/*$/, '') : 'https';
    let domain = s.domain.trim().replace(/^[a-z]+:\/\//i, '').replace(/\/+$/, '');
    if (/\/api$/i.test(domain)) domain = domain.slice(0, -4);
    else warnings.push(`domain "${s.domain}" does not end in /api; baseUrl is ${protocol}://${domain}/ (check that {baseUrl}api/token is the token endpoint)`);
    url = `${protocol}://${domain}/`;
  } else {
    url = CATCHPOINT_DEFAULT_BASE_URL;
  }
  if (s.tokenEndpoint !== undefined && !/^\/?(api\/)?token$/.test(String(s.tokenEndpoint))) {
    warnings.push(`token_endpoint "${String(s.tokenEndpoint)}" is not carried over: carbon-fanout asks {baseUrl}api/token`);
  }
  if (s.version !== undefined && String(s.version) !== 'v1') warnings.push(`version "${String(s.version)}" is not carried over: carbon-fanout asks {baseUrl}api/v1/performance/raw`);
  if (s.rawEndpoint !== undefined && !/^\/?(api\/v1\/)?performance\/raw\b/.test(String(s.rawEndpoint))) {
    warnings.push(`rawdata_endpoint "${String(s.rawEndpoint)}" is not carried over: carbon-fanout asks {baseUrl}api/v1/performance/raw`);
  }
  return url === CATCHPOINT_DEFAULT_BASE_URL ? {} : { baseUrl: url };
}

function batchSizeOf(v: unknown, warnings: string[]): { batchSize?: number } {
  if (v === undefined || v === null) return {};
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    warnings.push(`batch_size ${JSON.stringify(v)} is not a positive integer; using 20`);
    return {};
  }
  if (n > 20) {
    warnings.push(`batch_size ${n} is above Catchpoint's 20 tests per call; using 20`);
    return {};
  }
  return n === 20 ? {} : { batchSize: n };
}

function testsOf(v: unknown, file: string, warnings: string[]): Record<string, number[]> {
  if (!isObject(v)) throw new ConfigError('test_ids is missing or not a mapping of test type to ids', { file }, ConfigErrorCode.SCHEMA);
  const out: Record<string, number[]> = {};
  const seen = new Map<number, string>();
  for (const [rawType, list] of Object.entries(v)) {
    let type = rawType.trim().toLowerCase().replace(/[^a-z0-9_]+/g, '_');
    if (!/^[a-z]/.test(type)) type = `type_${type}`;
    if (type !== rawType) warnings.push(`test type "${rawType}" is written "${type}"`);
    const raw = list === null || list === undefined ? [] : Array.isArray(list) ? list : typeof list === 'string' ? list.split(/[\s,]+/).filter((s) => s !== '') : [list];
    for (const item of raw) {
      const id = typeof item === 'number' ? item : typeof item === 'string' && /^\s*\d+\s*$/.test(item) ? Number(item.trim()) : NaN;
      if (!Number.isSafeInteger(id) || id <= 0) {
        warnings.push(`test_ids.${rawType}: ${JSON.stringify(item)} is not a test id; skipped`);
        continue;
      }
      const first = seen.get(id);
      if (first !== undefined) {
        warnings.push(`test ${id} is listed under ${first} and ${type}; kept under ${first} only`);
        continue;
      }
      seen.set(id, type);
      (out[type] ??= []).push(id);
    }
  }
  if (seen.size === 0) throw new ConfigError('test_ids lists no test ids', { file }, ConfigErrorCode.SCHEMA);
  return out;
}

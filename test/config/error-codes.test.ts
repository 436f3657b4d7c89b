import fs from 'node:fs';
import path from 'node:path';
import { backstopConfigFromEnv } from '../../src/config/backstop-env';
import { readCarbonConf } from '../../src/config/carbon-conf';
import { CONFIG_ERROR_CODES, ConfigError, ConfigErrorCode } from '../../src/config/config-error';
import { loadConfig } from '../../src/config/load';
import { parseAggregationRules } from '../../src/routing/aggregation-rules';
import { tempDirsRemovedAfterAll } from '../helpers/relay';

const newDir = tempDirsRemovedAfterAll();

/**
 * The published codes, written out: a code is a contract with whoever matches
 * on it, so renaming, removing or adding one must show up here.
 */
const PUBLISHED = [
  'CF_ERR_CONFIG_READ',
  'CF_ERR_CONFIG_YAML',
  'CF_ERR_CONFIG_INI',
  'CF_ERR_CONFIG_ENV',
  'CF_ERR_CONFIG_SCHEMA',
  'CF_ERR_CONFIG_UNKNOWN_DESTINATION',
  'CF_ERR_CONFIG_DUPLICATE_NAME',
  'CF_ERR_CONFIG_DEFAULT_RULE',
  'CF_ERR_CONFIG_NO_RULES',
  'CF_ERR_CONFIG_NO_DESTINATIONS',
  'CF_ERR_CONFIG_REGEX',
  'CF_ERR_CONFIG_REWRITE',
  'CF_ERR_CONFIG_GROUP',
  'CF_ERR_CONFIG_CARBON_CONF',
  'CF_ERR_CONFIG_AGGREGATION_RULES',
  'CF_ERR_CONFIG_FILE_UNREADABLE',
  'CF_ERR_CONFIG_KAFKA_CLIENT_MISSING',
  'CF_ERR_CONFIG_TLS',
];

/** Write relay.yaml (and any other files) into a fresh directory and load it. */
function loadYaml(text: string, env: NodeJS.ProcessEnv = {}): unknown {
  const dir = newDir();
  fs.writeFileSync(path.join(dir, 'relay.yaml'), text);
  return loadConfig(path.join(dir, 'relay.yaml'), env);
}

/** Write carbon.conf and relay-rules.conf into a fresh directory and read them. */
function readCarbon(conf: string, rules = '[default]\ndefault = true\ndestinations = 127.0.0.1:2004\n'): unknown {
  const dir = newDir();
  fs.writeFileSync(path.join(dir, 'carbon.conf'), conf);
  fs.writeFileSync(path.join(dir, 'relay-rules.conf'), rules);
  return readCarbonConf({ carbonConf: path.join(dir, 'carbon.conf'), hostname: 'h' });
}

/**
 * Loads a config in a module registry where the optional Kafka client cannot
 * be required, as on a machine where it did not build. (The error comes from
 * that registry's ConfigError class, hence the name check below.)
 */
function loadWithoutKafkaClient(text: string): unknown {
  let result: unknown;
  jest.isolateModules(() => {
    jest.doMock('@confluentinc/kafka-javascript', () => {
      throw new Error("Cannot find module '@confluentinc/kafka-javascript'");
    });
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { loadConfig: isolated } = require('../../src/config/load') as typeof import('../../src/config/load');
    const dir = newDir();
    fs.writeFileSync(path.join(dir, 'relay.yaml'), text);
    result = isolated(path.join(dir, 'relay.yaml'), {});
  });
  return result;
}

const DEST = 'destinations:\n  - {name: a, host: 10.0.0.1, port: 2004}\n';
const DEFAULT_RULE = 'rules:\n  - {default: true, destinations: [a]}\n';

/** One configuration per code, each read the way the relay reads it, and the message it gives. */
const CASES: [ConfigErrorCode, () => unknown, RegExp][] = [
  [ConfigErrorCode.READ, () => loadConfig(path.join(newDir(), 'absent.yaml'), {}), /absent\.yaml: cannot read file: ENOENT/],
  [ConfigErrorCode.YAML, () => loadYaml('destinations: [\n'), /relay\.yaml:\d+: /],
  [ConfigErrorCode.YAML, () => loadYaml(`${DEST}  - {name: b, host: *nowhere, port: 2004}\n${DEFAULT_RULE}`), /relay\.yaml:3: alias refers to an anchor that is not defined before it$/],
  [ConfigErrorCode.INI, () => readCarbon('[relay]\nDESTINATIONS = 127.0.0.1:2004\njunk\n'), /carbon\.conf:3: not a \[section\] header/],
  [ConfigErrorCode.ENV, () => loadYaml(`destinations:\n  - {name: a, host: '\${CARBON_HOST}', port: 2004}\n${DEFAULT_RULE}`), /relay\.yaml:2: .*environment variable CARBON_HOST is not set$/],
  [ConfigErrorCode.ENV, () => backstopConfigFromEnv({ CARBON_URLS: 'carbon://h:2003', BACKSTOP_AUTH: 'nopassword' }), /^environment: BACKSTOP_AUTH: BACKSTOP_AUTH must be user:pass/],
  [ConfigErrorCode.SCHEMA, () => loadYaml(`${DEST}${DEFAULT_RULE}logLevel: loud\n`), /relay\.yaml:5: logLevel: Invalid option/],
  [ConfigErrorCode.SCHEMA, () => loadYaml(`destinations:\n  - {name: a, host: h, port: 2004, maxQueueSize: 1, highWaterMark: 0.5}\n${DEFAULT_RULE}`), /highWaterMark: maxQueueSize x highWaterMark must be at least 1$/],
  [ConfigErrorCode.UNKNOWN_DESTINATION, () => loadYaml(`${DEST}rules:\n  - {default: true, destinations: [b]}\n`), /rules\.0\.destinations\.0: unknown destination or group "b" \(known: a\)$/],
  [ConfigErrorCode.UNKNOWN_DESTINATION, () => loadYaml(`${DEST}groups:\n  - {name: g, members: [a, nope]}\n${DEFAULT_RULE}`), /groups\.0\.members\.1: unknown destination "nope"$/],
  [ConfigErrorCode.DUPLICATE_NAME, () => loadYaml(`${DEST}  - {name: a, host: 10.0.0.2, port: 2004}\n${DEFAULT_RULE}`), /destinations\.1\.name: duplicate destination name "a"$/],
  [ConfigErrorCode.DUPLICATE_NAME, () => loadYaml(`${DEST}groups:\n  - {name: a, members: [a]}\n${DEFAULT_RULE}`), /groups\.0\.name: "a" is already the name of a destination or group$/],
  [ConfigErrorCode.DEFAULT_RULE, () => loadYaml(`${DEST}rules:\n  - {pattern: ^x, destinations: [a]}\n`), /rules: exactly one rule must have `default: true`$/],
  [ConfigErrorCode.NO_RULES, () => loadYaml(DEST), /relay\.yaml: no rules configured/],
  [ConfigErrorCode.NO_DESTINATIONS, () => loadYaml('rules:\n  - {default: true, destinations: []}\n'), /relay\.yaml: no destinations configured$/],
  [ConfigErrorCode.REGEX, () => loadYaml(`${DEST}${DEFAULT_RULE}filters:\n  allow: ['(unclosed']\n`), /filters\.allow\.0: invalid regular expression: /],
  [ConfigErrorCode.REGEX, () => loadYaml(`${DEST}${DEFAULT_RULE}rewrite:\n  - {match: '(unclosed', replace: x}\n`), /relay\.yaml:6: rewrite\.0\.match: invalid regular expression: /],
  [ConfigErrorCode.REWRITE, () => loadYaml(`${DEST}${DEFAULT_RULE}rewrite:\n  - {match: '^a\\.(b)', replace: 'x.\\2'}\n`), /relay\.yaml:6: rewrite\.0\.replace: the replacement refers to group 2, but the pattern has only 1$/],
  [ConfigErrorCode.GROUP, () => loadYaml(`${DEST}groups:\n  - {name: g, members: [a, a]}\n${DEFAULT_RULE}`), /groups\.0\.members: a destination is listed twice$/],
  [ConfigErrorCode.GROUP, () => loadYaml(`${DEST}  - {name: f, file: out.txt}\ngroups:\n  - {name: g, members: [a, f]}\n${DEFAULT_RULE}`), /groups\.0\.members\.1: "f" is a file destination or group/],
  [ConfigErrorCode.CARBON_CONF, () => readCarbon('[relay]\nDESTINATIONS = 127.0.0.1:2004\nRELAY_METHOD = round-robin\n'), /carbon\.conf:3: \[relay\] RELAY_METHOD: must be one of /],
  [
    ConfigErrorCode.KAFKA_CLIENT_MISSING,
    () => loadWithoutKafkaClient('destinations:\n  - {type: kafka, name: k, brokers: [127.0.0.1:9092], topic: metrics}\nrules:\n  - {default: true, destinations: [k]}\n'),
    /relay\.yaml:2: destinations\.0\.type: @confluentinc\/kafka-javascript is not installed .*CKJS_LINKING=dynamic npm ci$/,
  ],
  [ConfigErrorCode.TLS, () => loadYaml(`destinations:\n  - {name: a, host: h, port: 2004, tls: {caPath: ${newDir()}}}\n${DEFAULT_RULE}`), /relay\.yaml:2: destinations\.0\.tls\.caPath: no PEM certificate in CA directory /],
  [ConfigErrorCode.AGGREGATION_RULES, () => parseAggregationRules('# rules\nnot a rule\n', 'aggregation-rules.conf'), /^aggregation-rules\.conf:2: invalid aggregation rule: /],
  [
    ConfigErrorCode.FILE_UNREADABLE,
    () => loadYaml(`listen:\n  line:\n    tls: {port: 0, cert: absent.crt, key: absent.key}\n${DEST}${DEFAULT_RULE}`),
    /relay\.yaml:3: listen\.line\.tls\.cert: cannot read .*absent\.crt: ENOENT \(no such file or directory\)$/,
  ],
];

describe('ConfigError codes', () => {
  it('are the published ones, each defined once', () => {
    expect([...CONFIG_ERROR_CODES]).toEqual(PUBLISHED);
    expect(new Set(CONFIG_ERROR_CODES).size).toBe(CONFIG_ERROR_CODES.length);
    expect(Object.isFrozen(ConfigErrorCode)).toBe(true);
    expect(Object.isFrozen(CONFIG_ERROR_CODES)).toBe(true);
  });

  it('each has a configuration below that produces it', () => {
    expect(new Set(CASES.map(([code]) => code))).toEqual(new Set(CONFIG_ERROR_CODES));
  });

  it.each(CASES.map(([code, f, message], i) => [`${code} (${i})`, code, f, message] as const))('%s', (_name, code, f, message) => {
    let err: unknown;
    try {
      f();
    } catch (e) {
      err = e;
    }
    expect(err instanceof ConfigError || (err as Error).constructor.name === 'ConfigError').toBe(true);
    expect((err as ConfigError).code).toBe(code);
    expect((err as ConfigError).message).toMatch(message);
  });

  it('is not part of the message', () => {
    const err = new ConfigError('no destinations configured', { file: 'relay.yaml' }, ConfigErrorCode.NO_DESTINATIONS);
    expect(err.message).toBe('relay.yaml: no destinations configured');
    expect(err.code).toBe('CF_ERR_CONFIG_NO_DESTINATIONS');
  });
});

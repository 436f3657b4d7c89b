/**
 * Stable codes for configuration problems (fastify's `FST_ERR_...` style), so
 * callers and tests can tell kinds of problem apart without matching message
 * text. One constant per kind; the message says what exactly is wrong.
 */
export const ConfigErrorCode = Object.freeze({
  /** A configuration file cannot be found or read (missing, unreadable, not UTF-8). */
  READ: 'CF_ERR_CONFIG_READ',
  /** A YAML file cannot be parsed or expanded (syntax, undefined alias, too many aliases). */
  YAML: 'CF_ERR_CONFIG_YAML',
  /** An INI file (carbon.conf, relay-rules.conf) cannot be parsed or interpolated, as configparser would refuse it. */
  INI: 'CF_ERR_CONFIG_INI',
  /** An environment variable the configuration needs is not set (`${VAR}` in YAML) or not well-formed (Backstop's CARBON_URLS, BACKSTOP_AUTH). */
  ENV: 'CF_ERR_CONFIG_ENV',
  /** A key or value fails validation: unknown key, wrong type, out of range, settings that exclude each other. */
  SCHEMA: 'CF_ERR_CONFIG_SCHEMA',
  /** A rule, group member or relay rule names a destination (or group) that is not configured. */
  UNKNOWN_DESTINATION: 'CF_ERR_CONFIG_UNKNOWN_DESTINATION',
  /** Two destinations, groups or sources share a name. */
  DUPLICATE_NAME: 'CF_ERR_CONFIG_DUPLICATE_NAME',
  /** No default rule, or more than one. */
  DEFAULT_RULE: 'CF_ERR_CONFIG_DEFAULT_RULE',
  /** No rules at all. */
  NO_RULES: 'CF_ERR_CONFIG_NO_RULES',
  /** No destinations at all. */
  NO_DESTINATIONS: 'CF_ERR_CONFIG_NO_DESTINATIONS',
  /** A pattern is not a valid regular expression (rules, filters, rewrites). */
  REGEX: 'CF_ERR_CONFIG_REGEX',
  /** A rewrite's replacement is malformed or refers to a capture group its pattern does not have. */
  REWRITE: 'CF_ERR_CONFIG_REWRITE',
  /** A group's members cannot form it: not a host/port destination, listed twice, or the same ring node twice. */
  GROUP: 'CF_ERR_CONFIG_GROUP',
  /** carbon.conf or relay-rules.conf says something carbon-fanout cannot map (bad setting value, destination string, section). */
  CARBON_CONF: 'CF_ERR_CONFIG_CARBON_CONF',
  /** A line of carbon's aggregation-rules.conf is invalid. */
  AGGREGATION_RULES: 'CF_ERR_CONFIG_AGGREGATION_RULES',
  /**
   * A file or directory the configuration names cannot be used: a TLS certificate, key or CA missing, unreadable
   * or not PEM; a filter or aggregation-rules file that exists but cannot be read; a dataDir that is not a writable
   * directory; a file destination whose directory does not exist.
   */
  FILE_UNREADABLE: 'CF_ERR_CONFIG_FILE_UNREADABLE',
  /** The config uses Kafka, and the optional Kafka client (@confluentinc/kafka-javascript) is not installed. */
  KAFKA_CLIENT_MISSING: 'CF_ERR_CONFIG_KAFKA_CLIENT_MISSING',
  /** A TLS CA directory (`caPath`, `clientCaPath`) cannot be read, holds no PEM certificate, or holds one that does not parse. */
  TLS: 'CF_ERR_CONFIG_TLS',
} as const);

export type ConfigErrorCode = (typeof ConfigErrorCode)[keyof typeof ConfigErrorCode];

/** Every code, each once. */
export const CONFIG_ERROR_CODES: readonly ConfigErrorCode[] = Object.freeze(Object.values(ConfigErrorCode));

export interface ConfigErrorLocation {
  file?: string;
  line?: number;
  /** Dotted key path, e.g. `destinations.0.port`. */
  path?: string;
}

/** A configuration problem, rendered as `file:line: path: what is wrong`. Never includes a configured value. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';

  constructor(
    problem: string,
    readonly where: ConfigErrorLocation,
    /** What kind of problem it is; not part of the message. */
    readonly code: ConfigErrorCode,
  ) {
    super(render(problem, where));
  }
}

function render(problem: string, w: ConfigErrorLocation): string {
  let head = '';
  if (w.file !== undefined) head = w.line !== undefined ? `${w.file}:${w.line}: ` : `${w.file}: `;
  if (w.path !== undefined && w.path !== '') head += `${w.path}: `;
  return head + problem;
}

import { ConfigError, ConfigErrorCode } from './config-error';
import type { ConfigObject } from './schema';

/** Backstop's environment variables (lib/backstop/config.rb) plus PORT, which its Procfile listens on. */
export const BACKSTOP_ENV = ['CARBON_URLS', 'PREFIXES', 'API_KEY', 'BACKSTOP_AUTH'] as const;

/** Backstop's Dockerfile exposes 3000. */
const DEFAULT_PORT = 3000;

/**
 * A config equivalent to a Backstop deployment's environment, so it can switch
 * image without a config file: HTTP on PORT (default 3000) with Backstop's
 * endpoints, line-protocol destinations from CARBON_URLS (only host and port
 * are used, as Backstop does), API_KEY prefixed to every name, BACKSTOP_AUTH
 * `user:pass,...` as Basic credentials. Returns undefined when CARBON_URLS is
 * not set.
 *
 * One difference: Backstop writes each metric to a randomly chosen carbon;
 * with several CARBON_URLS we spread names with a consistent hash instead, so
 * one series always lands on one carbon-cache.
 */
export function backstopConfigFromEnv(env: NodeJS.ProcessEnv): ConfigObject | undefined {
  const urls = env.CARBON_URLS;
  if (urls === undefined || urls.trim() === '') return undefined;
  const where = { file: 'environment', path: 'CARBON_URLS' };
  const destinations = urls.split(',').map((raw, i) => {
    let u: URL;
    try {
      // Backstop URI.parse's any scheme (carbon://, tcp://); only host and port matter
      u = new URL(raw.trim());
    } catch {
      throw new ConfigError(`"${raw.trim()}" is not a URL like carbon://10.0.0.1:2003`, where, ConfigErrorCode.ENV);
    }
    const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    if (host === '' || u.port === '') throw new ConfigError(`"${raw.trim()}" needs a host and a port`, where, ConfigErrorCode.ENV);
    return {
      name: `carbon-${i + 1}`,
      host,
      port: Number(u.port),
      instance: String(i + 1),
      protocol: 'line' as const,
      // Backstop prefixed every name, even one that already started with the key: keep the series names it made
      ...(env.API_KEY !== undefined && env.API_KEY !== '' && { apiKey: env.API_KEY, apiKeyMode: 'always' as const }),
    };
  });
  const users = (env.BACKSTOP_AUTH ?? '')
    .split(',')
    .filter((p) => p !== '')
    .map((pair) => {
      const colon = pair.indexOf(':');
      if (colon <= 0) throw new ConfigError('BACKSTOP_AUTH must be user:pass[,user2:pass2...]', { file: 'environment', path: 'BACKSTOP_AUTH' }, ConfigErrorCode.ENV);
      return { user: pair.slice(0, colon), password: pair.slice(colon + 1) };
    });
  const port = env.PORT === undefined || env.PORT === '' ? DEFAULT_PORT : Number(env.PORT);
  const several = destinations.length > 1;
  const adminPort = env.ADMIN_PORT === undefined || env.ADMIN_PORT === '' ? undefined : Number(env.ADMIN_PORT);
  return {
    listen: { http: { host: '0.0.0.0', port } },
    // the operator's listener stays on loopback; ADMIN_PORT moves it (0: any free port)
    ...(adminPort !== undefined && { admin: { port: adminPort } }),
    http: {
      ...(users.length > 0 && { auth: { users } }),
      // Backstop's PREFIXES is split on ',' without trimming
      publish: { prefixes: (env.PREFIXES ?? '').split(',').filter((p) => p !== '') },
      collectd: { naming: 'backstop' },
      // only Backstop's endpoints, as the image being replaced served
      feed: { enabled: false },
      sink: { enabled: false },
      grafana: { enabled: false },
    },
    destinations,
    ...(several && { groups: [{ name: 'carbon', type: 'jump_fnv1a_ch', members: destinations.map((d) => d.name) }] }),
    rules: [{ default: true, destinations: several ? ['carbon'] : [destinations[0]!.name] }],
  };
}

import request from 'supertest';
import { main, type CliIO } from '../../src/cli';
import { backstopConfigFromEnv } from '../../src/config/backstop-env';
import { ConfigError } from '../../src/config/config-error';
import { loadConfigObject } from '../../src/config/load';
import type { Relay } from '../../src/relay/relay';
import { captureIo } from '../helpers/cli-io';
import { CaptureServer, waitFor } from '../helpers/sink';
import { carbonDestinations } from '../helpers/destinations';

describe("Backstop's environment variables as the config", () => {
  it('maps CARBON_URLS, PREFIXES, API_KEY, BACKSTOP_AUTH and PORT', () => {
    const obj = backstopConfigFromEnv({ CARBON_URLS: 'carbon://10.0.0.1:2003,tcp://[::1]:2103', PREFIXES: 'app,note', API_KEY: 'k-1', BACKSTOP_AUTH: 'ops:pa:ss,ci:x', PORT: '8080' });
    const config = loadConfigObject(obj, 'backstop-environment', {});
    expect(config.listen.http).toMatchObject({ port: 8080 });
    // apiKeyMode always: Backstop prefixed every name, so the series it made keep their names
    expect(carbonDestinations(config.destinations).map((d) => [d.host, d.port, d.protocol, d.apiKey, d.apiKeyMode])).toEqual([
      ['10.0.0.1', 2003, 'line', 'k-1', 'always'],
      ['::1', 2103, 'line', 'k-1', 'always'],
    ]);
    expect(config.groups).toHaveLength(1);
    expect(config.http?.publish.prefixes).toEqual(['app', 'note']);
    expect(config.http?.auth?.users).toEqual([
      { user: 'ops', password: 'pa:ss' },
      { user: 'ci', password: 'x' },
    ]);
    expect(config.http?.collectd.naming).toBe('backstop');
    expect([config.http?.sink.enabled, config.http?.feed.enabled, config.http?.publish.enabled]).toEqual([false, false, true]);
  });

  it('is off without CARBON_URLS, and names a bad URL', () => {
    expect(backstopConfigFromEnv({ PREFIXES: 'x' })).toBeUndefined();
    expect(() => backstopConfigFromEnv({ CARBON_URLS: 'nonsense' })).toThrow(ConfigError);
    expect(() => backstopConfigFromEnv({ CARBON_URLS: 'carbon://host-without-port' })).toThrow(/needs a host and a port/);
    for (const env of [{ CARBON_URLS: 'nonsense' }, { CARBON_URLS: 'carbon://host-without-port' }, { CARBON_URLS: 'carbon://h:2003', BACKSTOP_AUTH: 'no-colon' }]) {
      let err: unknown;
      try {
        backstopConfigFromEnv(env);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).code).toBe('CF_ERR_CONFIG_ENV');
    }
  });

  it('start with only the environment serves /publish with Basic auth and the API key prefix', async () => {
    const capture = new CaptureServer('line');
    const port = await capture.listen();
    let stop!: (s: string) => void;
    let relay: Relay | undefined;
    const io: CliIO = {
      ...captureIo({ env: { CARBON_URLS: `carbon://127.0.0.1:${port}`, PREFIXES: 'test', API_KEY: '12345', BACKSTOP_AUTH: 'u:p', PORT: '0', ADMIN_PORT: '0' }, silent: true }),
      shutdown: new Promise((r) => (stop = r)),
      onStarted: (r) => (relay = r),
    };
    const exit = main(['start'], io);
    await waitFor(() => relay !== undefined, 'started');
    const url = `http://127.0.0.1:${relay!.listeners.http!.port}`;
    expect((await request(url).post('/publish/test').send({ metric: 'foo', value: 1, measure_time: 1 })).status).toBe(401);
    expect((await request(url).post('/publish/test').auth('u', 'p').send({ metric: 'foo', value: 1, measure_time: 1 })).status).toBe(200);
    expect((await request(url).get('/health')).body).toEqual({ health: 'ok' });
    await waitFor(() => capture.raw.toString() === '12345.test.foo 1 1\n', 'published line');
    stop('test');
    expect(await exit).toBe(0);
    await capture.close();
  });
});

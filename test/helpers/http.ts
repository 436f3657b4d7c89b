import type { Express } from 'express';
import { httpSchema } from '../../src/config/schema';
import { createHttpApp } from '../../src/ingest/http/app';
import type { EndpointContext, EndpointGroup } from '../../src/ingest/http/endpoint-group';
import { HttpIngest } from '../../src/ingest/http/http-ingest';
import type { Relay } from '../../src/relay/relay';
import { RateLimitedLog } from '../../src/telemetry/rate-limited-log';
import { silentLogger } from '../../src/telemetry/logger';
import { startRelay } from './relay';
import { CaptureServer } from './sink';

export interface HttpHarness {
  /** The Express app, for supertest's request(app). */
  app: Express;
  ingest: HttpIngest;
  relay: Relay;
  /** A real TCP line-protocol destination every datapoint is routed to. */
  capture: CaptureServer;
  /** Lines received by the capture server so far. */
  lines(): string[];
  close(): Promise<void>;
}

/**
 * One endpoint group behind the real app (auth, limits, errors) and a real
 * relay whose single destination is a TCP capture server speaking the line
 * protocol, so tests assert what reaches a destination line by line.
 * `http` is the `http:` config section (defaults applied by the schema).
 */
export async function startHttpGroup(
  factory: (ctx: EndpointContext) => EndpointGroup,
  http: Record<string, unknown> = {},
  now?: () => number,
  /** What the destinations can still queue; default: the relay's own answer. */
  room?: () => number,
): Promise<HttpHarness> {
  const capture = new CaptureServer('line');
  const port = await capture.listen();
  const relay = await startRelay({
    destinations: [{ name: 'capture', host: '127.0.0.1', port, protocol: 'line' }],
    rules: [{ default: true, destinations: ['capture'] }],
  });
  const log = silentLogger();
  const config = httpSchema.parse(http);
  const ingest = new HttpIngest(
    {
      pipeline: relay.pipeline,
      counters: relay.topology.counters.listener('http', 'http'),
      responses: relay.topology.counters.httpResponses,
      log,
      limited: new RateLimitedLog(log),
      now: now ?? Date.now,
      room: room ?? (() => relay.pipeline.flow.admissionRoom()),
    },
    config.maxItems,
  );
  relay.pipeline.addSource(ingest);
  const group = factory({ ingest, http: config });
  group.start?.();
  const app = createHttpApp(config, ingest, [group]);
  return {
    app,
    ingest,
    relay,
    capture,
    lines: () => capture.raw.toString('utf8').split('\n').filter((l) => l !== ''),
    close: async () => {
      group.stop?.();
      await relay.stop(Date.now() + 2000);
      await capture.close();
    },
  };
}

import type { HttpConfig } from '../../config/schema';
import { createCollectdEndpoints } from './endpoints/collectd';
import type { EndpointContext, EndpointGroup } from './endpoint-group';
import { createFeedEndpoints } from './endpoints/feed';
import { createGrafanaEndpoints } from './endpoints/grafana';
import { createGithubEndpoints } from './endpoints/github';
import { createPagerdutyEndpoints } from './endpoints/pagerduty';
import { createPublishEndpoints } from './endpoints/publish';
import { createSinkEndpoints } from './endpoints/sink';

type GroupName = Exclude<keyof HttpConfig, 'maxBodySize' | 'maxDecompressedSize' | 'maxItems' | 'rateLimit' | 'trustProxy' | 'cors' | 'auth'>;

/** Endpoint groups by their config key; each file under src/ingest/http/ adds one. */
const FACTORIES: Partial<Record<GroupName, (ctx: EndpointContext) => EndpointGroup>> = {
  feed: createFeedEndpoints,
  sink: createSinkEndpoints,
  publish: createPublishEndpoints,
  collectd: createCollectdEndpoints,
  grafana: createGrafanaEndpoints,
  github: createGithubEndpoints,
  pagerduty: createPagerdutyEndpoints,
};

/** The enabled groups, in a fixed order. */
export function buildEndpointGroups(ctx: EndpointContext): EndpointGroup[] {
  const out: EndpointGroup[] = [];
  for (const [name, factory] of Object.entries(FACTORIES) as [GroupName, (ctx: EndpointContext) => EndpointGroup][]) {
    if (ctx.http[name].enabled) out.push(factory(ctx));
  }
  return out;
}

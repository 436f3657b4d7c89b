import type { HttpConfig } from '../../config/schema';
import { createCollectdEndpoints } from './collectd';
import type { EndpointContext, EndpointGroup } from './endpoint-group';
import { createFeedEndpoints } from './feed';
import { createGrafanaEndpoints } from './grafana';
import { createGithubEndpoints } from './github';
import { createPagerdutyEndpoints } from './pagerduty';
import { createPublishEndpoints } from './publish';
import { createSinkEndpoints } from './sink';

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

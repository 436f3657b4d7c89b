import type { HttpConfig } from '../../config/schema';
import { AddressAllowList } from '../../common/cidr';
import { LOOPBACK_PROXIES } from './client-address';
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

/** Addresses only this host can reach: an HTTP listener bound to one serves no one else. */
const LOOPBACK = new AddressAllowList(LOOPBACK_PROXIES);

/**
 * The enabled endpoint groups anyone who can reach `host` may send datapoints
 * to: no API keys, users or allow-list (their own or `http.auth`), and for
 * the webhooks no signing secret. Empty when `host` is a loopback address.
 */
export function openToTheNetwork(host: string, http: HttpConfig): GroupName[] {
  if (host === 'localhost' || LOOPBACK.allows(host)) return [];
  return (Object.keys(FACTORIES) as GroupName[]).filter((name) => {
    const group = http[name];
    if (!group.enabled) return false;
    if ('secret' in group && group.secret !== undefined) return false;
    const auth = group.auth ?? http.auth;
    return auth === undefined || (auth.apiKeys.length === 0 && auth.users.length === 0 && auth.allow.length === 0);
  });
}

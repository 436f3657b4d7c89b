import type { Request, Response } from 'express';
import { bodyText, mediaType, readBody } from '../body';
import { BoundedLru } from '../../../common/bounded-lru';
import type { EndpointContext, EndpointGroup } from '../endpoint-group';
import { hmacSha256MatchesAny, isoSeconds, isRecord, lineSafe, parseJson, signatureRejected } from './webhook';
import { HttpError, HttpErrorCode, quoted, rejectionText, type Rejection } from '../http-error';

/** A form value as Rack builds it from `a[b][c]=v` keys: a string, a list (`a[]=`), or nested fields. */
export type FormValue = string | string[] | FormObject;
export interface FormObject {
  [key: string]: FormValue;
}

/** Rack's own limit is 100; the incident bodies Backstop took nest 2 deep, so 8 is generous and bounds the work per key. */
export const MAX_FORM_DEPTH = 8;

const BRACKETED_KEY = /^([^[\]]+)((?:\[[^[\]]*\])*)$/;
const SEGMENT = /\[([^[\]]*)\]/g;

/**
 * Parses a form body with bracket-nested keys as Rack does for Backstop
 * (`service[name]=nagios&trigger_summary_data[HOSTNAME]=aux1` →
 * `{service: {name: 'nagios'}, trigger_summary_data: {HOSTNAME: 'aux1'}}`).
 * Objects have no prototype, so keys like `__proto__` are plain data.
 * - `a[]=x&a[]=y` gives a list; `[]` anywhere but last (`assigned_to[][object][name]`,
 *   how Ruby's RestClient encodes arrays of hashes) is skipped: Rack's merge
 *   rules for those are intricate and nothing we map reads them.
 * - A repeated scalar key keeps the last value, as Rack does.
 * - A key that is both a value and an object (`a=1&a[b]=2`) is a 400, as Rack
 *   raises; so is nesting deeper than maxDepth.
 * - A key that is not `name[seg]...` (`a[b`, `[x]`) is kept whole as a flat key.
 */
export function parseNestedForm(text: string, maxDepth = MAX_FORM_DEPTH): FormObject {
  const root = Object.create(null) as FormObject;
  for (const [key, value] of new URLSearchParams(text)) {
    const m = BRACKETED_KEY.exec(key);
    const path = m === null ? [key] : [m[1]!, ...Array.from(m[2]!.matchAll(SEGMENT), (s) => s[1]!)];
    if (path.length > maxDepth) throw new HttpError(400, HttpErrorCode.MALFORMED_BODY, `form field ${quoted(key)} is nested deeper than ${maxDepth} levels`);
    const list = path.length > 1 && path[path.length - 1] === '';
    const keys = list ? path.slice(0, -1) : path;
    if (keys.includes('')) continue;
    let node = root;
    for (const k of keys.slice(0, -1)) {
      const next: FormValue | undefined = node[k];
      if (next === undefined) node = node[k] = Object.create(null) as FormObject;
      else if (typeof next === 'string' || Array.isArray(next)) throw conflict(key);
      else node = next;
    }
    const leaf = keys[keys.length - 1]!;
    const existing = node[leaf];
    if (list) {
      if (existing === undefined) node[leaf] = [value];
      else if (Array.isArray(existing)) existing.push(value);
      else throw conflict(key);
    } else {
      if (existing !== undefined && typeof existing !== 'string') throw conflict(key);
      node[leaf] = value;
    }
  }
  return root;
}

function conflict(key: string): HttpError {
  return new HttpError(400, HttpErrorCode.MALFORMED_BODY, `form field ${quoted(key)} conflicts with another field of the same name (a value and a nested field, or a list)`);
}

/** The fields Backstop's rules read, from whichever webhook shape carried them. */
interface Incident {
  /** `service.name` (REST v1 / webhook v1 / form) or `service.summary` (REST v2 / webhooks v2 and v3). */
  service: string | undefined;
  serviceId: string | undefined;
  incidentKey: string | undefined;
  /** Nagios `trigger_summary_data`, or what the Nagios integration's incident_key says. */
  hostname: string | undefined;
  servicedesc: string | undefined;
  /** The incident's creation time; the datapoint's timestamp. */
  created: unknown;
  /** `high` or `low` (REST v2 incidents). */
  urgency: string | undefined;
}

const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof v === 'number' && Number.isFinite(v) ? String(v) : undefined);
const field = (o: unknown, k: string): unknown => (isRecord(o) ? o[k] : undefined);

/** REST v1 incident: Backstop's form body, and `data.incident` of a v1 webhook message. */
function fromRestV1(o: Record<string, unknown>): Incident {
  const tsd = o.trigger_summary_data;
  return {
    service: text(field(o.service, 'name')),
    serviceId: text(field(o.service, 'id')),
    incidentKey: text(o.incident_key),
    hostname: text(field(tsd, 'HOSTNAME')),
    servicedesc: text(field(tsd, 'SERVICEDESC')),
    created: o.created_on,
    urgency: text(o.urgency),
  };
}

/**
 * REST v2 incident: `data` of a v3 event, `incident` of a v2 message. These
 * have no trigger_summary_data; PagerDuty's Nagios integration puts the host
 * and service in the incident key (`event_source=service;host_name=aux1;service_desc=fs_partition_8`,
 * as in Backstop's sample), so the nagios rule reads them from there.
 */
function fromRestV2(o: Record<string, unknown>, fallbackCreated?: unknown): Incident {
  const incidentKey = text(o.incident_key);
  const nagios = new Map<string, string>();
  for (const kv of (incidentKey ?? '').split(';')) {
    const eq = kv.indexOf('=');
    if (eq > 0) nagios.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  return {
    service: text(field(o.service, 'summary')),
    serviceId: text(field(o.service, 'id')),
    incidentKey,
    hostname: nagios.get('host_name'),
    servicedesc: nagios.get('event_source') === 'host' ? '' : nagios.get('service_desc'),
    created: o.created_at ?? fallbackCreated,
    urgency: text(o.urgency),
  };
}

/**
 * Backstop's naming, after `alerts.`; a string saying why when the incident
 * is not one Backstop knew. Backstop sanitised only what it names below;
 * every component here also goes through lineSafe so no field can break the line.
 * `anyService` (v3 webhooks, which any PagerDuty service sends, unlike the
 * integrations Backstop's rules were written for) names every other service
 * `alerts.<service>.<urgency>`: a level each, so a series per service and
 * urgency rather than a whisper file per incident.
 */
function alertName(i: Incident, anyService: boolean): { name: string } | { ignored: string } {
  switch (i.service) {
    case 'Pingdom': {
      if (i.incidentKey === undefined || i.incidentKey.trim() === '') return { ignored: 'Pingdom incident without incident_key' };
      // Backstop: . → _, parentheses removed, each whitespace run → a level. Trimmed first so
      // a trailing space cannot end the name with an empty level (Backstop would).
      const key = i.incidentKey.replace(/\./g, '_').replace(/[()]/g, '').trim().replace(/\s+/g, '.');
      return { name: `alerts.pingdom.${lineSafe(key)}` };
    }
    case 'nagios': {
      if (i.hostname === undefined || i.hostname === '') return { ignored: 'nagios incident without a HOSTNAME (trigger_summary_data[HOSTNAME], or host_name= in the incident key)' };
      // a host alert has an empty (or, in some bodies, no) SERVICEDESC
      const what = i.servicedesc === undefined || i.servicedesc === '' ? 'host_down' : lineSafe(i.servicedesc);
      return { name: `alerts.nagios.${lineSafe(i.hostname.replace(/\./g, '_'))}.${what}` };
    }
    case 'Enterprise Zendesk':
      if (i.serviceId === undefined || i.serviceId === '') return { ignored: 'Enterprise Zendesk incident without service id' };
      return { name: `alerts.enterprise.zendesk.${lineSafe(i.serviceId)}` };
    default:
      if (i.service === undefined || i.service.trim() === '') return { ignored: 'unknown alert: no service name' };
      if (anyService) return { name: `alerts.${oneLevel(i.service)}.${oneLevel(i.urgency ?? 'unknown')}` };
      return { ignored: `unknown alert: service ${quoted(i.service)} (only Pingdom, nagios and Enterprise Zendesk become metrics from v1/v2 messages and form incidents; v3 webhooks name any service)` };
  }
}

/** Free text as one name level: dots as `_` (as Backstop treats a nagios host), then lineSafe; trimmed so padding adds no `_`. */
const oneLevel = (s: string): string => lineSafe(s.trim().replace(/\./g, '_'));

/** Event ids remembered to drop PagerDuty's at-least-once redeliveries; insertion-ordered, oldest forgotten first. */
const MAX_RECENT_EVENTS = 10_000;

/**
 * PagerDuty incidents at `POST /pagerduty`, named by Backstop's rules:
 * `alerts.pingdom.<incident_key: . as _, no parentheses, whitespace runs as .>`,
 * `alerts.nagios.<HOSTNAME, . as _>.<SERVICEDESC, or host_down when empty>`,
 * `alerts.enterprise.zendesk.<service id>`, value 1, at the incident's
 * creation time (the time of receipt when it has none or it is not ISO 8601).
 * v3 incidents of any other service are `alerts.<service, . as _>.<urgency>`.
 *
 * Bodies accepted:
 * - v3 webhooks `{event: {id, event_type, data}}`: `incident.triggered` counts
 *   (service = `data.service.summary`, time = `data.created_at`, else `occurred_at`);
 * - v1 `{messages: [{type, data: {incident}}]}`: each `incident.trigger` counts;
 *   v2 `{messages: [{event, incident}]}` likewise (REST v2 incident as in v3);
 * - form-encoded nested incidents (`service[name]=nagios&...`) as the
 *   pagerduty-incident-webhooks poller sent Backstop (it posts triggered
 *   incidents only), or the same incident object as JSON: each counts.
 * Other event types (acknowledge, resolve, ...) are not counted: one alert is
 * one datapoint, as in Backstop.
 *
 * Policies:
 * - PagerDuty drops a delivery answered with any 4xx other than 429 and, after
 *   three, disables the subscription for 24 h. So anything well-formed that
 *   we do not map (unknown service, other event types, a body that is not a
 *   PagerDuty shape at all) is 200 with a body naming what was ignored. Only
 *   a broken body (invalid JSON or UTF-8, conflicting form keys), an oversized
 *   one, and a bad signature get a 4xx; overload is 503, which PagerDuty retries.
 * - With `secret` configured, `X-PagerDuty-Signature` is required on every
 *   body shape (the legacy ones were never signed, so they cannot be used with
 *   a secret; otherwise an attacker would just pick an unsigned shape). Any
 *   `v1=` signature in the list may match (PagerDuty sends several while a
 *   secret is rotated). Missing or wrong → 401, which PagerDuty does not retry:
 *   a wrong secret should show as failed deliveries.
 * - A v3 event id or v1/v2 message id already counted among the last
 *   10,000 is ignored: PagerDuty delivers at least once.
 * - The answer is 200 as soon as the datapoints are queued; nothing waits on a destination.
 */
export function createPagerdutyEndpoints(ctx: EndpointContext): EndpointGroup {
  const { ingest, http } = ctx;
  const { secret } = http.pagerduty;
  const limits = { maxBodySize: http.maxBodySize, maxDecompressedSize: http.maxDecompressedSize };
  const recent = new BoundedLru<string, true>(MAX_RECENT_EVENTS);

  const verify = (req: Request, raw: Buffer, key: string): void => {
    const header = req.get('x-pagerduty-signature');
    if (header === undefined || header.trim() === '') throw signatureRejected(ingest, req, 'X-PagerDuty-Signature is required');
    const v1 = header
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.startsWith('v1='))
      .map((s) => s.slice(3));
    if (v1.length === 0) throw signatureRejected(ingest, req, 'X-PagerDuty-Signature has no "v1=<hex digest>" signature');
    if (!hmacSha256MatchesAny(key, raw, v1)) throw signatureRejected(ingest, req, 'no X-PagerDuty-Signature v1 signature matches the body');
  };

  const parse = (req: Request, raw: Buffer): Record<string, unknown> => {
    const body = bodyText(raw);
    if (body.trim() === '') throw new HttpError(400, HttpErrorCode.INVALID_BODY, 'empty body: send a PagerDuty webhook (JSON) or a form-encoded incident');
    if (mediaType(req) !== 'application/json' && !body.trimStart().startsWith('{')) return parseNestedForm(body);
    const json = parseJson(body, 'the body');
    if (!isRecord(json)) throw new HttpError(400, HttpErrorCode.INVALID_BODY, 'expected a JSON object: {"event": {...}} (v3), {"messages": [...]} (v1/v2) or an incident');
    return json;
  };

  const pagerduty = async (req: Request, res: Response): Promise<void> => {
    ingest.assertAccepting();
    const raw = await readBody(req, limits);
    if (secret !== undefined) verify(req, raw, secret);
    const body = parse(req, raw);

    const m = ingest.newRequest();
    const ignored: Rejection[] = [];
    const counted: string[] = [];
    /** One incident that would count: dropped if its delivery was seen, else named by Backstop's rules. */
    const consider = (where: string, incident: Incident, id: string | undefined, anyService = false): void => {
      if (id !== undefined && (recent.has(id) || counted.includes(id))) {
        ignored.push({ where, reason: `duplicate delivery of ${quoted(id)}` });
        return;
      }
      const alert = alertName(incident, anyService);
      if ('ignored' in alert) {
        ignored.push({ where, reason: alert.ignored });
        return;
      }
      m.add(where, alert.name, 1, isoSeconds(incident.created));
      if (id !== undefined) counted.push(id);
    };

    if (isRecord(body.event)) {
      const event = body.event;
      const type = text(event.event_type);
      if (type !== 'incident.triggered') ignored.push({ where: 'event', reason: `event_type ${quoted(type ?? 'missing')} is not counted (only incident.triggered)` });
      else if (!isRecord(event.data)) ignored.push({ where: 'event', reason: 'incident.triggered without data' });
      else consider('event', fromRestV2(event.data, event.occurred_at), text(event.id), true);
    } else if (Array.isArray(body.messages)) {
      body.messages.forEach((msg: unknown, n) => {
        const where = `messages[${n}]`;
        if (!isRecord(msg)) return ignored.push({ where, reason: 'not an object' });
        const id = text(msg.id);
        if (typeof msg.type === 'string') {
          // v1: type + data.incident (REST v1 incident)
          const incident = field(msg.data, 'incident');
          if (msg.type !== 'incident.trigger') return ignored.push({ where, reason: `type ${quoted(msg.type)} is not counted (only incident.trigger)` });
          if (!isRecord(incident)) return ignored.push({ where, reason: 'incident.trigger without data.incident' });
          return consider(where, fromRestV1(incident), id);
        }
        if (typeof msg.event === 'string') {
          // v2: event + incident (REST v2 incident)
          if (msg.event !== 'incident.trigger') return ignored.push({ where, reason: `event ${quoted(msg.event)} is not counted (only incident.trigger)` });
          if (!isRecord(msg.incident)) return ignored.push({ where, reason: 'incident.trigger without incident' });
          return consider(where, fromRestV2(msg.incident), id);
        }
        return ignored.push({ where, reason: 'neither a v1 message (type) nor a v2 message (event)' });
      });
    } else if (body.service !== undefined) {
      consider('incident', fromRestV1(body), undefined);
    } else {
      ignored.push({ where: 'body', reason: 'not a PagerDuty webhook: no "event", "messages" or "service"' });
    }

    ingest.submitAll(m, `http:${req.ip ?? ''}`);
    for (const id of counted) recent.set(id, true);
    const sent = m.batch.length;
    const summary = `ok: ${sent} alert${sent === 1 ? '' : 's'} sent${ignored.length > 0 ? `, ${ignored.length} ignored` : ''}`;
    res.status(200).type('text/plain').send(rejectionText(summary, ignored));
  };

  return {
    name: 'pagerduty',
    mount(routes) {
      routes.on(['post'], '/pagerduty', pagerduty);
    },
  };
}

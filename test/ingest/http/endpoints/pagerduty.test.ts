import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { createPagerdutyEndpoints, parseNestedForm } from '../../../../src/ingest/http/endpoints/pagerduty';
import { startHttpGroup, type HttpHarness } from '../../../helpers/http';
import { waitFor } from '../../../helpers/sink';

const NOW_MS = 1_700_000_123_456;
const NOW_S = 1_700_000_123;
const fixture = (name: string): string => fs.readFileSync(path.join(__dirname, '../../../fixtures/http', name), 'utf8');
const BACKSTOP_FORM = fixture('pagerduty-backstop-incident.form');
const V1_DOCS = fixture('pagerduty-v1-docs.json');
const V3_DOCS = fixture('pagerduty-v3-docs.json');
const SECRET = 'pd-secret-do-not-log';
const hmac = (body: string, secret = SECRET): string => crypto.createHmac('sha256', secret).update(body).digest('hex');

type Json = Record<string, unknown>;
/** The docs' v3 event with its incident's fields replaced. */
function v3(data: Json, event: Json = {}): string {
  const doc = JSON.parse(V3_DOCS) as { event: Json & { data: Json } };
  return JSON.stringify({ event: { ...doc.event, ...event, data: { ...doc.event.data, ...data } } });
}
/** The docs' v1 message with its incident's fields replaced. */
function v1Message(incident: Json, message: Json = {}): Json {
  const doc = JSON.parse(V1_DOCS) as { messages: (Json & { data: { incident: Json } })[] };
  const m = doc.messages[0]!;
  return { ...m, ...message, data: { incident: { ...m.data.incident, ...incident } } };
}

const NAGIOS_KEY = 'event_source=service;host_name=aux1;service_desc=fs_partition_8';

describe('POST /pagerduty (Backstop alert naming)', () => {
  let h: HttpHarness;
  afterEach(async () => h.close());

  it("maps the poller's form-encoded nagios incident exactly as Backstop does", async () => {
    h = await startHttpGroup(createPagerdutyEndpoints, {}, () => NOW_MS);
    const res = await request(h.app).post('/pagerduty').type('form').send(BACKSTOP_FORM);
    expect(res.status).toBe(200);
    expect(res.text).toBe('ok: 1 alert sent\n');
    await waitFor(() => h.lines().length === 1, 'the alert');
    expect(h.lines()).toEqual(['alerts.nagios.aux1.fs_partition_8 1 1337901097']);
  });

  it('applies the Pingdom, nagios host-down and Enterprise Zendesk rules to form incidents, sanitising what could break a line', async () => {
    h = await startHttpGroup(createPagerdutyEndpoints, {}, () => NOW_MS);
    const post = (body: string): request.Test => request(h.app).post('/pagerduty').type('form').send(body);
    await post('service[name]=Pingdom&incident_key=www.example.com+(HTTP+check)&created_on=2013-04-05T23:55:03Z').expect(200);
    await post('service[name]=Pingdom&incident_key=+api.example.com++(TCP+port)+&created_on=2013-04-05T23:55:04Z').expect(200);
    await post('service[name]=nagios&trigger_summary_data[HOSTNAME]=web1.example.com&trigger_summary_data[SERVICEDESC]=&created_on=2013-04-05T23:55:05Z').expect(200);
    await post('service[name]=nagios&trigger_summary_data[HOSTNAME]=web2&created_on=2013-04-05T23:55:06Z').expect(200);
    await post('service[name]=nagios&trigger_summary_data[HOSTNAME]=web3&trigger_summary_data[SERVICEDESC]=Disk+Space+%2Fvar%0A&created_on=2013-04-05T23:55:07Z').expect(200);
    await post('service[name]=Enterprise+Zendesk&service[id]=PZD1234&created_on=2013-04-05T23:55:08%2B02:00').expect(200);
    // no (or no usable) created_on: the time of receipt
    await post('service[name]=nagios&trigger_summary_data[HOSTNAME]=web4&trigger_summary_data[SERVICEDESC]=load').expect(200);
    await post('service[name]=nagios&trigger_summary_data[HOSTNAME]=web5&trigger_summary_data[SERVICEDESC]=load&created_on=last+tuesday').expect(200);
    await waitFor(() => h.lines().length === 8, '8 alerts');
    expect(h.lines()).toEqual([
      'alerts.pingdom.www_example_com.HTTP.check 1 1365206103',
      'alerts.pingdom.api_example_com.TCP.port 1 1365206104',
      'alerts.nagios.web1_example_com.host_down 1 1365206105',
      'alerts.nagios.web2.host_down 1 1365206106',
      'alerts.nagios.web3.Disk_Space_/var_ 1 1365206107',
      'alerts.enterprise.zendesk.PZD1234 1 1365198908',
      `alerts.nagios.web4.load 1 ${NOW_S}`,
      `alerts.nagios.web5.load 1 ${NOW_S}`,
    ]);
  });

  it('answers 2xx for incidents Backstop did not know, saying why, and sends nothing for them', async () => {
    h = await startHttpGroup(createPagerdutyEndpoints, {}, () => NOW_MS);
    const cases: [string, string][] = [
      ['service[name]=Datadog&incident_key=x', 'ok: 0 alerts sent, 1 ignored\nincident: unknown alert: service "Datadog" (only Pingdom, nagios and Enterprise Zendesk become metrics from v1/v2 messages and form incidents; v3 webhooks name any service)\n'],
      ['service[id]=PX&incident_key=x', 'ok: 0 alerts sent, 1 ignored\nincident: unknown alert: no service name\n'],
      ['service[name]=nagios&trigger_summary_data[SERVICEDESC]=load', 'ok: 0 alerts sent, 1 ignored\nincident: nagios incident without a HOSTNAME (trigger_summary_data[HOSTNAME], or host_name= in the incident key)\n'],
      ['service[name]=Pingdom', 'ok: 0 alerts sent, 1 ignored\nincident: Pingdom incident without incident_key\n'],
      ['service[name]=Enterprise+Zendesk', 'ok: 0 alerts sent, 1 ignored\nincident: Enterprise Zendesk incident without service id\n'],
      ['hello=world', 'ok: 0 alerts sent, 1 ignored\nbody: not a PagerDuty webhook: no "event", "messages" or "service"\n'],
    ];
    for (const [body, text] of cases) {
      const res = await request(h.app).post('/pagerduty').type('form').send(body);
      expect(res.status).toBe(200);
      expect(res.text).toBe(text);
    }
    const json = await request(h.app).post('/pagerduty').type('json').send('{"foo":1}');
    expect(json.status).toBe(200);
    expect(json.text).toMatch(/ignored\nbody: not a PagerDuty webhook/);
    await request(h.app).post('/pagerduty').type('form').send(BACKSTOP_FORM).expect(200);
    await waitFor(() => h.lines().length === 1, 'the marker alert');
    expect(h.lines()).toEqual(['alerts.nagios.aux1.fs_partition_8 1 1337901097']);
    expect(h.relay.counters.httpBadRequests).toBe(0);
  });

  it('counts each incident.trigger of a v1 webhook, ignoring other types and unknown services', async () => {
    h = await startHttpGroup(createPagerdutyEndpoints, {}, () => NOW_MS);
    const docs = JSON.parse(V1_DOCS) as { messages: Json[] };
    const body = {
      messages: [
        docs.messages[0], // "Production XDB Cluster": not a service Backstop mapped
        v1Message({ service: { id: 'PDQCZQO', name: 'nagios' }, trigger_summary_data: { HOSTNAME: 'db1.prod', SERVICEDESC: 'replication' } }, { id: 'm-2' }),
        v1Message({ service: { id: 'PDQCZQO', name: 'nagios' }, trigger_summary_data: { HOSTNAME: 'db1.prod', SERVICEDESC: 'replication' } }, { id: 'm-3', type: 'incident.resolve' }),
        v1Message({ service: { id: 'PP', name: 'Pingdom' }, incident_key: 'shop.example.com (HTTP)', created_on: '2016-02-22T21:03:00Z' }, { id: 'm-4' }),
        42,
        { id: 'm-6', foo: 'bar' },
      ],
    };
    const res = await request(h.app).post('/pagerduty').send(body);
    expect(res.status).toBe(200);
    expect(res.text).toBe(
      [
        'ok: 2 alerts sent, 4 ignored',
        'messages[0]: unknown alert: service "Production XDB Cluster" (only Pingdom, nagios and Enterprise Zendesk become metrics from v1/v2 messages and form incidents; v3 webhooks name any service)',
        'messages[2]: type "incident.resolve" is not counted (only incident.trigger)',
        'messages[4]: not an object',
        'messages[5]: neither a v1 message (type) nor a v2 message (event)',
        '',
      ].join('\n'),
    );
    await waitFor(() => h.lines().length === 2, '2 alerts');
    expect(h.lines()).toEqual(['alerts.nagios.db1_prod.replication 1 1456174975', 'alerts.pingdom.shop_example_com.HTTP 1 1456174980']);
  });

  it('counts a v2 incident.trigger message from its REST v2 incident', async () => {
    h = await startHttpGroup(createPagerdutyEndpoints, {}, () => NOW_MS);
    const body = {
      messages: [
        { id: 'v2-1', event: 'incident.trigger', created_on: '2020-01-01T00:00:01Z', incident: { incident_key: NAGIOS_KEY, created_at: '2020-01-01T00:00:00Z', service: { id: 'PS', summary: 'nagios', type: 'service_reference' } } },
        { id: 'v2-2', event: 'incident.acknowledge', incident: {} },
      ],
    };
    const res = await request(h.app).post('/pagerduty').send(body);
    expect(res.text).toBe('ok: 1 alert sent, 1 ignored\nmessages[1]: event "incident.acknowledge" is not counted (only incident.trigger)\n');
    await waitFor(() => h.lines().length === 1, 'the alert');
    expect(h.lines()).toEqual(['alerts.nagios.aux1.fs_partition_8 1 1577836800']);
  });

  it('maps v3 incident.triggered events by service summary, reading nagios host and service from the incident key', async () => {
    h = await startHttpGroup(createPagerdutyEndpoints, {}, () => NOW_MS);
    const post = (body: string): request.Test => request(h.app).post('/pagerduty').set('Content-Type', 'application/json').set('User-Agent', 'PagerDuty-Webhook/V3.0').send(body);
    const docs = await post(V3_DOCS);
    expect(docs.status).toBe(200);
    expect(docs.text).toBe('ok: 1 alert sent\n');
    const acked = await post(v3({}, { event_type: 'incident.acknowledged' }));
    expect(acked.text).toBe('ok: 0 alerts sent, 1 ignored\nevent: event_type "incident.acknowledged" is not counted (only incident.triggered)\n');
    const service = await post(JSON.stringify({ event: { id: 'e-svc', event_type: 'service.updated', data: { id: 'PF9KMXH' } } }));
    expect(service.text).toBe('ok: 0 alerts sent, 1 ignored\nevent: event_type "service.updated" is not counted (only incident.triggered)\n');

    await post(v3({ incident_key: NAGIOS_KEY, service: { id: 'P1', summary: 'nagios', type: 'service_reference' } }, { id: 'e-1' })).expect(200, 'ok: 1 alert sent\n');
    await post(v3({ incident_key: 'event_source=host;host_name=web1.example.com', service: { id: 'P1', summary: 'nagios' } }, { id: 'e-2' })).expect(200);
    await post(v3({ incident_key: 'www.example.com (HTTP check)', service: { id: 'P2', summary: 'Pingdom' }, created_at: undefined }, { id: 'e-3' })).expect(200);
    await post(v3({ service: { id: 'PZD', summary: 'Enterprise Zendesk' } }, { id: 'e-4' })).expect(200);
    await waitFor(() => h.lines().length === 5, '5 alerts');
    expect(h.lines()).toEqual([
      // the docs' event: a service Backstop had no rule for
      'alerts.API_Service.high 1 1586445387',
      'alerts.nagios.aux1.fs_partition_8 1 1586445387',
      'alerts.nagios.web1_example_com.host_down 1 1586445387',
      // no created_at: the event's occurred_at
      'alerts.pingdom.www_example_com.HTTP.check 1 1601664322',
      'alerts.enterprise.zendesk.PZD 1 1586445387',
    ]);
  });

  it('names v3 incidents of any other service alerts.<service>.<urgency>, each part one sanitised level', async () => {
    h = await startHttpGroup(createPagerdutyEndpoints, {}, () => NOW_MS);
    const post = (body: string): request.Test => request(h.app).post('/pagerduty').set('Content-Type', 'application/json').set('User-Agent', 'PagerDuty-Webhook/V3.0').send(body);
    const svc = (summary: unknown): Json => ({ id: 'PSVC', summary, type: 'service_reference', self: 'https://api.pagerduty.com/services/PSVC', html_url: 'https://acme.pagerduty.com/services/PSVC' });
    await post(v3({ service: svc('Checkout'), urgency: 'low', created_at: '2024-03-01T12:00:00Z' }, { id: 'a-1' })).expect(200, 'ok: 1 alert sent\n');
    // dots would add levels, whitespace and controls would break the line
    await post(v3({ service: svc(' shop.example.com  (EU)\tprod '), created_at: '2024-03-01T12:00:01Z' }, { id: 'a-2' })).expect(200, 'ok: 1 alert sent\n');
    await post(v3({ service: svc('Datadog'), urgency: undefined, created_at: '2024-03-01T12:00:02Z' }, { id: 'a-3' })).expect(200, 'ok: 1 alert sent\n');
    await post(v3({ service: svc('Datadog'), urgency: 'high', created_at: undefined }, { id: 'a-4', occurred_at: '2024-03-01T12:00:03.5Z' })).expect(200, 'ok: 1 alert sent\n');
    // Backstop's three keep their names and their checks
    await post(v3({ service: svc('Pingdom'), incident_key: undefined }, { id: 'a-5' })).expect(200, 'ok: 0 alerts sent, 1 ignored\nevent: Pingdom incident without incident_key\n');
    for (const summary of [undefined, null, '  ']) {
      await post(v3({ service: svc(summary) }, { id: `no-name-${String(summary)}` })).expect(200, 'ok: 0 alerts sent, 1 ignored\nevent: unknown alert: no service name\n');
    }
    // only triggered incidents count, whatever the service
    await post(v3({ service: svc('Checkout') }, { id: 'a-6', event_type: 'incident.resolved' })).expect(200, 'ok: 0 alerts sent, 1 ignored\nevent: event_type "incident.resolved" is not counted (only incident.triggered)\n');
    await waitFor(() => h.lines().length === 4, '4 alerts');
    expect(h.lines()).toEqual([
      'alerts.Checkout.low 1 1709294400',
      'alerts.shop_example_com_(EU)_prod.high 1 1709294401',
      'alerts.Datadog.unknown 1 1709294402',
      'alerts.Datadog.high 1 1709294403',
    ]);
  });

  it('counts a redelivered event id once (PagerDuty delivers at least once)', async () => {
    h = await startHttpGroup(createPagerdutyEndpoints, {}, () => NOW_MS);
    const event = v3({ incident_key: NAGIOS_KEY, service: { id: 'P1', summary: 'nagios' } }, { id: 'dup-1' });
    await request(h.app).post('/pagerduty').type('json').send(event).expect(200, 'ok: 1 alert sent\n');
    await request(h.app).post('/pagerduty').type('json').send(event).expect(200, 'ok: 0 alerts sent, 1 ignored\nevent: duplicate delivery of "dup-1"\n');
    const twice = { messages: [v1Message({ service: { id: 'P', name: 'nagios' }, trigger_summary_data: { HOSTNAME: 'h', SERVICEDESC: 's' } }, { id: 'm-x' })] };
    twice.messages.push(twice.messages[0]!);
    await request(h.app).post('/pagerduty').send(twice).expect(200, 'ok: 1 alert sent, 1 ignored\nmessages[1]: duplicate delivery of "m-x"\n');
    await request(h.app).post('/pagerduty').type('json').send(v3({ incident_key: 'event_source=service;host_name=marker;service_desc=x', service: { summary: 'nagios' } }, { id: 'dup-2' })).expect(200);
    await waitFor(() => h.lines().length === 3, '3 alerts');
    expect(h.lines()).toEqual(['alerts.nagios.aux1.fs_partition_8 1 1586445387', 'alerts.nagios.h.s 1 1456174975', 'alerts.nagios.marker.x 1 1586445387']);
  });

  it('answers 400 only for broken bodies, naming the problem', async () => {
    h = await startHttpGroup(createPagerdutyEndpoints, {}, () => NOW_MS);
    const bad = await request(h.app).post('/pagerduty').type('json').send('{"event": {"event_type": incident.triggered}}');
    expect(bad.status).toBe(400);
    expect(bad.text).toMatch(/^JSON is required: the body is not valid JSON \(.+\)\n$/);
    const array = await request(h.app).post('/pagerduty').type('json').send('[{"event":{}}]');
    expect(array.status).toBe(400);
    expect(array.text).toBe('expected a JSON object: {"event": {...}} (v3), {"messages": [...]} (v1/v2) or an incident\n');
    expect(array.headers['x-carbon-fanout-error']).toBe('CF_ERR_HTTP_INVALID_BODY');
    const empty = await request(h.app).post('/pagerduty').type('form').send('');
    expect(empty.status).toBe(400);
    expect(empty.text).toBe('empty body: send a PagerDuty webhook (JSON) or a form-encoded incident\n');
    const conflict = await request(h.app).post('/pagerduty').type('form').send('service=x&service[name]=nagios');
    expect(conflict.status).toBe(400);
    expect(conflict.text).toBe('form field "service[name]" conflicts with another field of the same name (a value and a nested field, or a list)\n');
    expect(conflict.headers['x-carbon-fanout-error']).toBe('CF_ERR_HTTP_MALFORMED_BODY');
    const deep = await request(h.app).post('/pagerduty').type('form').send('a[b][c][d][e][f][g][h][i]=1');
    expect(deep.status).toBe(400);
    expect(deep.text).toBe('form field "a[b][c][d][e][f][g][h][i]" is nested deeper than 8 levels\n');
    const utf8 = await request(h.app).post('/pagerduty').set('Content-Type', 'text/plain').send(Buffer.from([0x7b, 0xc3, 0x28, 0x7d]));
    expect(utf8.status).toBe(400);
    expect(utf8.text).toBe('body is not valid UTF-8\n');
    expect(h.relay.counters.httpBadRequests).toBe(6);
    await request(h.app).post('/pagerduty').type('form').send(BACKSTOP_FORM).expect(200);
    await waitFor(() => h.lines().length === 1, 'the marker alert');
    expect(h.lines()).toEqual(['alerts.nagios.aux1.fs_partition_8 1 1337901097']);
  });

  it('answers 503 with Retry-After while the relay is overloaded (PagerDuty retries 5xx)', async () => {
    h = await startHttpGroup(createPagerdutyEndpoints, {}, () => NOW_MS);
    h.ingest.pause();
    const res = await request(h.app).post('/pagerduty').type('form').send(BACKSTOP_FORM);
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(h.relay.counters.httpOverloaded).toBe(1);
    h.ingest.resume();
    await request(h.app).post('/pagerduty').type('form').send(BACKSTOP_FORM).expect(200);
    await waitFor(() => h.lines().length === 1, 'the retried alert');
    expect(h.lines()).toEqual(['alerts.nagios.aux1.fs_partition_8 1 1337901097']);
  });
});

describe('POST /pagerduty with a secret (X-PagerDuty-Signature)', () => {
  let h: HttpHarness;
  afterEach(async () => h.close());
  const NAGIOS_V3 = v3({ incident_key: NAGIOS_KEY, service: { id: 'P1', summary: 'nagios' } }, { id: 'signed-1' });

  it('accepts a body signed with any of the listed v1 signatures (secret rotation)', async () => {
    h = await startHttpGroup(createPagerdutyEndpoints, { pagerduty: { secret: SECRET } }, () => NOW_MS);
    const post = (body: string, sig: string): request.Test => request(h.app).post('/pagerduty').set('Content-Type', 'application/json').set('X-PagerDuty-Signature', sig).send(body);
    await post(NAGIOS_V3, `v1=${hmac(NAGIOS_V3)}`).expect(200, 'ok: 1 alert sent\n');
    const second = v3({ incident_key: 'event_source=service;host_name=aux2;service_desc=x', service: { summary: 'nagios' } }, { id: 'signed-2' });
    // the new secret's signature listed first, ours (the old one) last, with a future scheme in between
    await post(second, `v1=${hmac(second, 'the-new-secret')}, v2=${'ab'.repeat(32)},v1=${hmac(second)}`).expect(200, 'ok: 1 alert sent\n');
    await waitFor(() => h.lines().length === 2, '2 alerts');
    expect(h.lines()).toEqual(['alerts.nagios.aux1.fs_partition_8 1 1586445387', 'alerts.nagios.aux2.x 1 1586445387']);
    expect(h.relay.counters.httpUnauthorized).toBe(0);
  });

  it('verifies the documented HMAC test vector', async () => {
    h = await startHttpGroup(createPagerdutyEndpoints, { pagerduty: { secret: "It's a Secret to Everybody" } }, () => NOW_MS);
    const sig = 'v1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';
    // the signature passes; "Hello, World!" is then a form body that is no PagerDuty shape: 2xx, ignored
    const good = await request(h.app).post('/pagerduty').set('X-PagerDuty-Signature', sig).set('Content-Type', 'text/plain').send('Hello, World!');
    expect(good.status).toBe(200);
    expect(good.text).toMatch(/^ok: 0 alerts sent, 1 ignored\nbody: not a PagerDuty webhook/);
    const bad = await request(h.app).post('/pagerduty').set('X-PagerDuty-Signature', sig).set('Content-Type', 'text/plain').send('Hello, World?');
    expect(bad.status).toBe(401);
  });

  it('refuses missing, malformed, wrong and stale signatures with 401 on every body shape, counts them and sends nothing', async () => {
    h = await startHttpGroup(createPagerdutyEndpoints, { pagerduty: { secret: SECRET } }, () => NOW_MS);
    const post = (body: string, sig?: string, type = 'application/json'): request.Test => {
      const r = request(h.app).post('/pagerduty').set('Content-Type', type);
      return (sig === undefined ? r : r.set('X-PagerDuty-Signature', sig)).send(body);
    };
    const cases: [request.Test, string][] = [
      [post(NAGIOS_V3), 'unauthorized: X-PagerDuty-Signature is required\n'],
      [post(NAGIOS_V3, ' '), 'unauthorized: X-PagerDuty-Signature is required\n'],
      [post(NAGIOS_V3, hmac(NAGIOS_V3)), 'unauthorized: X-PagerDuty-Signature has no "v1=<hex digest>" signature\n'],
      [post(NAGIOS_V3, `v0=${hmac(NAGIOS_V3)}`), 'unauthorized: X-PagerDuty-Signature has no "v1=<hex digest>" signature\n'],
      [post(NAGIOS_V3, `v1=${hmac(NAGIOS_V3, 'wrong')},v1=${hmac(NAGIOS_V3, 'also-wrong')}`), 'unauthorized: no X-PagerDuty-Signature v1 signature matches the body\n'],
      [post(NAGIOS_V3.replace('aux1', 'aux9'), `v1=${hmac(NAGIOS_V3)}`), 'unauthorized: no X-PagerDuty-Signature v1 signature matches the body\n'],
      [post(NAGIOS_V3, `v1=${hmac(NAGIOS_V3).slice(0, 63)}`), 'unauthorized: no X-PagerDuty-Signature v1 signature matches the body\n'],
      // the legacy shapes were never signed; with a secret they are refused too
      [post(BACKSTOP_FORM, undefined, 'application/x-www-form-urlencoded'), 'unauthorized: X-PagerDuty-Signature is required\n'],
      [post(V1_DOCS), 'unauthorized: X-PagerDuty-Signature is required\n'],
    ];
    for (const [req, text] of cases) {
      const res = await req;
      expect(res.status).toBe(401);
      expect(res.text).toBe(text);
      expect(res.text).not.toContain(SECRET);
    }
    expect(h.relay.counters.httpUnauthorized).toBe(9);
    expect(h.relay.counters.httpBadRequests).toBe(0);
    // the signature is checked before the body is parsed: a broken body with a bad signature is a 401, not a 400
    await post('{not json', 'v1=00').expect(401);
    await post('{not json', `v1=${hmac('{not json')}`).expect(400);

    await post(BACKSTOP_FORM, `v1=${hmac(BACKSTOP_FORM)}`, 'application/x-www-form-urlencoded').expect(200);
    await waitFor(() => h.lines().length === 1, 'the signed alert');
    expect(h.lines()).toEqual(['alerts.nagios.aux1.fs_partition_8 1 1337901097']);
  });
});

describe('parseNestedForm', () => {
  const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

  it('builds nested objects from bracketed keys, as Rack does', () => {
    expect(plain(parseNestedForm('service[name]=nagios&service[id]=P1&trigger_summary_data[HOSTNAME]=aux1&incident_number=934&last_status_change_by='))).toEqual({
      service: { name: 'nagios', id: 'P1' },
      trigger_summary_data: { HOSTNAME: 'aux1' },
      incident_number: '934',
      last_status_change_by: '',
    });
  });

  it('collects a[] into a list, keeps the last repeated scalar, skips arrays of objects and keeps odd keys flat', () => {
    expect(plain(parseNestedForm('tags[]=a&tags[]=b&x=1&x=2&assigned_to[][object][name]=jesse&a[b=1&[c]=2&d[e]f=3'))).toEqual({
      tags: ['a', 'b'],
      x: '2',
      'a[b': '1',
      '[c]': '2',
      'd[e]f': '3',
    });
  });

  it('treats __proto__ and constructor as data', () => {
    const f = parseNestedForm('__proto__[polluted]=yes&constructor[prototype][x]=1');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(f)).toBeNull();
    expect(Object.keys(f)).toEqual(['__proto__', 'constructor']);
    expect(plain(Object.entries(f))).toEqual([
      ['__proto__', { polluted: 'yes' }],
      ['constructor', { prototype: { x: '1' } }],
    ]);
  });

  it('bounds the depth and refuses conflicting keys', () => {
    expect(plain(parseNestedForm('a[b][c]=1', 3))).toEqual({ a: { b: { c: '1' } } });
    expect(() => parseNestedForm('a[b][c][d]=1', 3)).toThrow('nested deeper than 3 levels');
    expect(() => parseNestedForm('a[b]=1&a=2')).toThrow('conflicts');
    expect(() => parseNestedForm('a[]=1&a[b]=2')).toThrow('conflicts');
    expect(() => parseNestedForm('a=1&a[]=2')).toThrow('conflicts');
  });
});

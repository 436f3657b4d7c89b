import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import request from 'supertest';
import winston from 'winston';
import { isValidMetricName } from '../../../../src/codec/metric-name';
import { httpSchema } from '../../../../src/config/schema';
import { createGithubEndpoints } from '../../../../src/ingest/http/endpoints/github';
import { hmacSha256MatchesAny, isoSeconds, lineSafe } from '../../../../src/ingest/http/endpoints/webhook';
import { buildEndpointGroups } from '../../../../src/ingest/http/groups';
import { startHttpGroup, type HttpHarness } from '../../../helpers/http';
import { waitFor } from '../../../helpers/sink';

const NOW_MS = 1_700_000_123_456;
const fixture = (name: string): string => fs.readFileSync(path.join(__dirname, '../../../fixtures/http', name), 'utf8');
const BACKSTOP_PUSH = fixture('github-push-backstop.json');
const HELLO_PUSH = fixture('github-push-hello-world.json');
const SECRET = 'webhook-secret-do-not-log';
const sign = (body: string | Buffer, secret = SECRET): string => `sha256=${crypto.createHmac('sha256', secret).update(body).digest('hex')}`;
const form = (json: string): string => new URLSearchParams({ payload: json }).toString();

const BACKSTOP_LINES = [
  'github.github.refs.heads.master.chris-ozmm-org.41a212ee83ca127e3c8cf465891ab7216a705f59 1 1203116237',
  'github.github.refs.heads.master.chris-ozmm-org.de8251ff97ee194a289832576287d6f8ad74e3d0 1 1203114994',
];
const HELLO_LINE = 'github.Hello-World.refs.heads.main.21031067+Codertocat-users-noreply-github-com.0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c 1 1557958830';

/** Everything the group logs, captured: the harness logger is silent, so it is switched on with a capturing transport. */
function captureLogs(h: HttpHarness): string[] {
  const out: string[] = [];
  const log = h.ingest.deps.log;
  log.silent = false;
  log.level = 'debug';
  log.clear();
  const stream = new Writable({
    write(chunk: Buffer, _enc, done): void {
      out.push(chunk.toString('utf8'));
      done();
    },
  });
  log.add(new winston.transports.Stream({ stream, format: winston.format.json() }));
  return out;
}

describe('POST /github (GitHub push webhooks, Backstop naming)', () => {
  let h: HttpHarness;
  afterEach(async () => h.close());

  it("names Backstop's own fixture exactly as its spec does, from the form-encoded payload Backstop took", async () => {
    h = await startHttpGroup(createGithubEndpoints, {}, () => NOW_MS);
    // no X-GitHub-Event, as Backstop's spec (and a curl test) sends it: taken as a push
    const res = await request(h.app).post('/github').type('form').send(form(BACKSTOP_PUSH));
    expect(res.status).toBe(200);
    expect(res.text).toBe('ok');
    await waitFor(() => h.lines().length === 2, '2 commits');
    expect(h.lines()).toEqual(BACKSTOP_LINES);
  });

  it("takes application/json too, and keeps '+' in the author (only . and @ are replaced)", async () => {
    h = await startHttpGroup(createGithubEndpoints, {}, () => NOW_MS);
    const res = await request(h.app).post('/github').set('Content-Type', 'application/json').set('X-GitHub-Event', 'push').send(HELLO_PUSH);
    expect(res.status).toBe(200);
    // `curl -d @push.json` sends JSON typed as a form: read as JSON
    const curl = await request(h.app).post('/github').type('form').set('X-GitHub-Event', 'push').send(BACKSTOP_PUSH);
    expect(curl.status).toBe(200);
    await waitFor(() => h.lines().length === 3, '3 commits');
    expect(h.lines()).toEqual([HELLO_LINE, ...BACKSTOP_LINES]);
  });

  it('answers ping with pong and ignores other events with a 2xx saying so; nothing is sent for either', async () => {
    h = await startHttpGroup(createGithubEndpoints, {}, () => NOW_MS);
    const ping = await request(h.app).post('/github').set('X-GitHub-Event', 'ping').type('json').send('{"zen":"Design for failure.","hook_id":1}');
    expect(ping.status).toBe(200);
    expect(ping.text).toBe('pong');
    const issues = await request(h.app).post('/github').set('X-GitHub-Event', 'issues').type('json').send(HELLO_PUSH);
    expect(issues.status).toBe(200);
    expect(issues.text).toBe('ignored: X-GitHub-Event "issues" is not a push; only push events become metrics');
    // a push sent after them is the only thing that arrives
    await request(h.app).post('/github').set('X-GitHub-Event', 'push').type('json').send(HELLO_PUSH).expect(200);
    await waitFor(() => h.lines().length >= 1, 'the push');
    await request(h.app).post('/github').set('X-GitHub-Event', 'push').type('json').send(HELLO_PUSH).expect(200);
    await waitFor(() => h.lines().length >= 2, 'the second push');
    expect(h.lines()).toEqual([HELLO_LINE, HELLO_LINE]);
  });

  it('ignores a redelivery (same X-GitHub-Delivery) of a push already counted', async () => {
    h = await startHttpGroup(createGithubEndpoints, {}, () => NOW_MS);
    const send = (delivery: string) => request(h.app).post('/github').set('Content-Type', 'application/json').set('X-GitHub-Event', 'push').set('X-GitHub-Delivery', delivery).send(HELLO_PUSH);
    expect((await send('72d3162e-cc78-11e3-81ab-4c9367dc0958')).text).toBe('ok');
    const again = await send('72d3162e-cc78-11e3-81ab-4c9367dc0958');
    expect([again.status, again.text]).toEqual([200, 'ignored: delivery "72d3162e-cc78-11e3-81ab-4c9367dc0958" was already counted\n']);
    expect((await send('another-delivery')).text).toBe('ok');
    await waitFor(() => h.lines().length === 2, 'two deliveries');
    expect(h.lines()).toEqual([HELLO_LINE, HELLO_LINE]);
  });

  it('answers a push without commits (a tag deletion) 200 and sends nothing', async () => {
    h = await startHttpGroup(createGithubEndpoints, {}, () => NOW_MS);
    const del = { ref: 'refs/tags/v1.0', after: '0000000000000000000000000000000000000000', deleted: true, repository: { name: 'Hello-World' }, commits: [] };
    const res = await request(h.app).post('/github').set('X-GitHub-Event', 'push').send(del);
    expect(res.status).toBe(200);
    expect(res.text).toBe('ok');
    await request(h.app).post('/github').set('X-GitHub-Event', 'push').type('json').send(HELLO_PUSH).expect(200);
    await waitFor(() => h.lines().length === 1, 'the marker push');
    expect(h.lines()).toEqual([HELLO_LINE]);
  });

  it('replaces whitespace and control characters in every component so no field can break the line', async () => {
    h = await startHttpGroup(createGithubEndpoints, {}, () => NOW_MS);
    const push = {
      ref: 'refs/heads/feature/odd name',
      repository: { name: 'repo with\tspace' },
      commits: [{ id: 'abc\n123', timestamp: '2019-05-15T22:20:30Z', author: { email: 'first last@example.com' } }, { id: 'def', timestamp: '2019-05-15T22:20:31.9Z', author: { email: '' } }],
    };
    const res = await request(h.app).post('/github').send(push);
    expect(res.status).toBe(200);
    await waitFor(() => h.lines().length === 2, '2 commits');
    expect(h.lines()).toEqual(['github.repo_with_space.refs.heads.feature.odd_name.first_last-example-com.abc_123 1 1557958830', 'github.repo_with_space.refs.heads.feature.odd_name._.def 1 1557958831']);
  });

  it('refuses bodies that are not push JSON with 400 naming the problem, and sends nothing', async () => {
    h = await startHttpGroup(createGithubEndpoints, {}, () => NOW_MS);
    const bad = await request(h.app).post('/github').type('json').send('{"ref": refs/heads/main}');
    expect(bad.status).toBe(400);
    expect(bad.text).toMatch(/^JSON is required: the body is not valid JSON \(.+\)\n$/);
    const noPayload = await request(h.app).post('/github').type('form').send('foo=bar');
    expect(noPayload.status).toBe(400);
    expect(noPayload.text).toBe('JSON is required: no "payload" form field (send application/json, or form-encoded with the JSON in "payload")\n');
    expect(bad.headers['x-carbon-fanout-error']).toBe('CF_ERR_HTTP_MALFORMED_BODY');
    expect(noPayload.headers['x-carbon-fanout-error']).toBe('CF_ERR_HTTP_INVALID_BODY');
    const badPayload = await request(h.app).post('/github').type('form').send('payload=not%20json');
    expect(badPayload.status).toBe(400);
    expect(badPayload.text).toMatch(/^JSON is required: the "payload" form field is not valid JSON/);
    const array = await request(h.app).post('/github').type('json').send('[1,2]');
    expect(array.status).toBe(400);
    expect(array.text).toBe('JSON is required: the push payload must be a JSON object\n');
    // Backstop's bad_github_data.json: the same push without repository
    const { repository: _r, ...noRepo } = JSON.parse(BACKSTOP_PUSH) as Record<string, unknown>;
    const missing = await request(h.app).post('/github').send(noRepo);
    expect(missing.status).toBe(400);
    expect(missing.text).toBe('missing fields: repository (is this a push event?)\n');
    expect(missing.headers['x-carbon-fanout-error']).toBe('CF_ERR_HTTP_INVALID_BODY');
    const nothing = await request(h.app).post('/github').send({ zen: 'hi' });
    expect(nothing.text).toBe('missing fields: repository, commits, ref (is this a push event?)\n');
    // (superagent JSON-serialises a Buffer sent as application/json, so the raw bytes go as text/plain)
    const utf8 = await request(h.app).post('/github').set('Content-Type', 'text/plain').send(Buffer.from([0x7b, 0xff, 0x7d]));
    expect(utf8.status).toBe(400);
    expect(utf8.text).toBe('body is not valid UTF-8\n');
    expect(h.relay.counters.httpBadRequests).toBe(7);
  });

  it('refuses the whole push, naming each bad commit, when any commit lacks its fields; nothing is sent', async () => {
    h = await startHttpGroup(createGithubEndpoints, {}, () => NOW_MS);
    const push = JSON.parse(HELLO_PUSH) as { commits: Record<string, unknown>[] };
    const good = push.commits[0]!;
    push.commits = [good, { ...good, timestamp: '2019-05-15 15:20:30' }, { ...good, id: undefined, author: {} }, 'x' as unknown as Record<string, unknown>, { ...good, timestamp: undefined }];
    const res = await request(h.app).post('/github').send(push);
    expect(res.status).toBe(400);
    expect(res.text).toBe(
      [
        '4 of 5 datapoints rejected; nothing was accepted',
        'commits[1]: timestamp "2019-05-15 15:20:30" is not an ISO 8601 date-time with a zone',
        'commits[2]: id missing; author.email missing',
        'commits[3]: not an object',
        'commits[4]: timestamp missing',
        '',
      ].join('\n'),
    );
    await request(h.app).post('/github').type('json').send(BACKSTOP_PUSH).expect(200);
    await waitFor(() => h.lines().length === 2, 'the marker push');
    expect(h.lines()).toEqual(BACKSTOP_LINES);
  });

  it('answers 503 with Retry-After while the relay is overloaded, before reading the body', async () => {
    h = await startHttpGroup(createGithubEndpoints, { github: { secret: SECRET } }, () => NOW_MS);
    h.ingest.pause();
    const res = await request(h.app).post('/github').set('X-GitHub-Event', 'push').type('json').send(HELLO_PUSH);
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(h.relay.counters.httpOverloaded).toBe(1);
    h.ingest.resume();
    await request(h.app).post('/github').set('X-Hub-Signature-256', sign(HELLO_PUSH)).type('json').send(HELLO_PUSH).expect(200);
    await waitFor(() => h.lines().length === 1, 'the push after resume');
    expect(h.lines()).toEqual([HELLO_LINE]);
  });

  it("still runs the group's Basic auth in front of the signature check", async () => {
    h = await startHttpGroup(createGithubEndpoints, { github: { auth: { users: [{ user: 'gh', password: 'pw' }] } } }, () => NOW_MS);
    const res = await request(h.app).post('/github').type('json').send(HELLO_PUSH);
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Basic/);
    expect(res.headers['x-carbon-fanout-error']).toBe('CF_ERR_HTTP_UNAUTHORIZED');
    await request(h.app).post('/github').auth('gh', 'pw').type('json').send(HELLO_PUSH).expect(200);
    await waitFor(() => h.lines().length === 1, 'the push');
  });
});

describe('POST /github with a secret (X-Hub-Signature-256)', () => {
  let h: HttpHarness;
  afterEach(async () => h.close());

  it('accepts a valid signature over the exact bytes, JSON or form-encoded', async () => {
    h = await startHttpGroup(createGithubEndpoints, { github: { secret: SECRET } }, () => NOW_MS);
    const json = await request(h.app).post('/github').set('X-GitHub-Event', 'push').set('X-Hub-Signature-256', sign(HELLO_PUSH)).type('json').send(HELLO_PUSH);
    expect(json.status).toBe(200);
    // for a form delivery the digest is over the encoded body, never the JSON inside it
    const body = form(BACKSTOP_PUSH);
    const upper = `sha256=${sign(body).slice(7).toUpperCase()}`;
    const formRes = await request(h.app).post('/github').set('X-GitHub-Event', 'push').set('X-Hub-Signature-256', upper).type('form').send(body);
    expect(formRes.status).toBe(200);
    await waitFor(() => h.lines().length === 3, '3 commits');
    expect(h.lines()).toEqual([HELLO_LINE, ...BACKSTOP_LINES]);
    expect(h.relay.counters.httpUnauthorized).toBe(0);
  });

  it("verifies GitHub's documented test vector (the signature passes; the body is then not JSON)", async () => {
    expect(hmacSha256MatchesAny("It's a Secret to Everybody", Buffer.from('Hello, World!'), ['757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17'])).toBe(true);
    h = await startHttpGroup(createGithubEndpoints, { github: { secret: "It's a Secret to Everybody" } }, () => NOW_MS);
    const good = await request(h.app)
      .post('/github')
      .set('X-GitHub-Event', 'push')
      .set('X-Hub-Signature-256', 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17')
      .type('json')
      .send('Hello, World!');
    expect(good.status).toBe(400);
    expect(good.text).toMatch(/^JSON is required: the body is not valid JSON/);
    const bad = await request(h.app)
      .post('/github')
      .set('X-GitHub-Event', 'push')
      .set('X-Hub-Signature-256', 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e18')
      .type('json')
      .send('Hello, World!');
    expect(bad.status).toBe(401);
  });

  it('refuses missing, malformed, wrong and stale signatures with 401, counts them, sends nothing and never echoes or logs secrets', async () => {
    h = await startHttpGroup(createGithubEndpoints, { github: { secret: SECRET } }, () => NOW_MS);
    const logs = captureLogs(h);
    const post = (sig?: string, body = HELLO_PUSH, header = 'X-Hub-Signature-256'): request.Test => {
      const r = request(h.app).post('/github').set('X-GitHub-Event', 'push').type('json');
      return (sig === undefined ? r : r.set(header, sig)).send(body);
    };
    const modified = HELLO_PUSH.replace('Hello-World', 'Hello-Worle');
    const cases: [request.Test, string][] = [
      [post(), 'unauthorized: X-Hub-Signature-256 is required\n'],
      [post(sign(HELLO_PUSH).replace('sha256=', 'sha1='), HELLO_PUSH), 'unauthorized: X-Hub-Signature-256 must be "sha256=<hex digest>"\n'],
      [post(sign(HELLO_PUSH, 'another-secret')), 'unauthorized: X-Hub-Signature-256 does not match the body\n'],
      [post(sign(HELLO_PUSH), modified), 'unauthorized: X-Hub-Signature-256 does not match the body\n'],
      [post(sign(HELLO_PUSH).slice(0, -2)), 'unauthorized: X-Hub-Signature-256 does not match the body\n'],
      [post(`sha1=${crypto.createHmac('sha1', SECRET).update(HELLO_PUSH).digest('hex')}`, HELLO_PUSH, 'X-Hub-Signature'), 'unauthorized: X-Hub-Signature-256 is required (the SHA-1 X-Hub-Signature is not accepted)\n'],
    ];
    for (const [req, text] of cases) {
      const res = await req;
      expect(res.status).toBe(401);
      expect(res.text).toBe(text);
      expect(res.headers['x-carbon-fanout-error']).toBe('CF_ERR_HTTP_BAD_SIGNATURE');
      expect(res.headers['www-authenticate']).toBeUndefined();
    }
    // pings are signed too: an unsigned one is refused, so a ping checks the secret is right
    const ping = await request(h.app).post('/github').set('X-GitHub-Event', 'ping').type('json').send('{}');
    expect(ping.status).toBe(401);
    expect(h.relay.counters.httpUnauthorized).toBe(7);
    expect(h.relay.counters.httpBadRequests).toBe(0);

    // rate-limited: the first rejection from this peer is logged, without secret, signature or body
    expect(logs.length).toBe(1);
    expect(logs[0]).toMatch(/webhook signature rejected/);
    expect(logs[0]).toMatch(/X-Hub-Signature-256 is required/);
    const all = logs.join('\n');
    expect(all).not.toContain(SECRET);
    expect(all).not.toContain(sign(HELLO_PUSH).slice(7));
    expect(all).not.toContain('Hello-World');

    await post(sign(HELLO_PUSH)).expect(200);
    await waitFor(() => h.lines().length === 1, 'the signed push');
    expect(h.lines()).toEqual([HELLO_LINE]);
  });
});

describe('webhook helpers', () => {
  it('parses ISO 8601 date-times with a zone to floored Unix seconds, and nothing else', () => {
    expect(isoSeconds('2008-02-15T14:57:17-08:00')).toBe(1203116237);
    expect(isoSeconds('2008-02-15T22:57:17Z')).toBe(1203116237);
    expect(isoSeconds('2008-02-16T04:27:17+0530')).toBe(1203116237);
    expect(isoSeconds('2020-10-02T18:45:22.999Z')).toBe(1601664322);
    expect(isoSeconds('2016-02-29T00:00:00Z')).toBe(1456704000);
    for (const bad of ['2019-05-15T15:20:30', '2019-02-30T00:00:00Z', '2019-05-15T24:00:00Z', '2019-05-15T10:00:00+24:00', 'yesterday', '1557958830', 1557958830, undefined, null]) {
      expect(isoSeconds(bad)).toBeUndefined();
    }
  });

  it('lineSafe always yields a valid metric name component', () => {
    expect(lineSafe('a b\t\tc\u00a0d\u2028e\x00f\x85g\ufeffh')).toBe('a_b_c_d_e_f_g_h');
    expect(lineSafe('')).toBe('_');
    expect(lineSafe('ok.as-is+@')).toBe('ok.as-is+@');
    const unsafe: number[] = [];
    for (let c = 0; c < 0x10000; c++) if (!isValidMetricName(`x${lineSafe(String.fromCharCode(c))}`)) unsafe.push(c);
    expect(unsafe).toEqual([]);
  });

  it('compares every candidate and ignores malformed ones', () => {
    const body = Buffer.from('{}');
    const good = crypto.createHmac('sha256', 's').update(body).digest('hex');
    expect(hmacSha256MatchesAny('s', body, ['zz', good.slice(1), good])).toBe(true);
    expect(hmacSha256MatchesAny('s', body, ['', `${good}00`])).toBe(false);
    expect(hmacSha256MatchesAny('s', body, [])).toBe(false);
  });

  it('registers github and pagerduty in the group registry, honouring enabled', async () => {
    const h = await startHttpGroup(createGithubEndpoints);
    try {
      const names = (http: Record<string, unknown>): string[] =>
        buildEndpointGroups({ ingest: h.ingest, http: httpSchema.parse(http) })
          .map((g) => g.name)
          .filter((n) => n === 'github' || n === 'pagerduty');
      expect(names({})).toEqual(['github', 'pagerduty']);
      expect(names({ github: { enabled: false } })).toEqual(['pagerduty']);
      expect(names({ pagerduty: { enabled: false } })).toEqual(['github']);
    } finally {
      await h.close();
    }
  });
});

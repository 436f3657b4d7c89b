import zlib from 'node:zlib';
import request from 'supertest';
import { httpSchema } from '../../../../src/config/schema';
import { createHttpApp } from '../../../../src/ingest/http/app';
import { createCollectdEndpoints } from '../../../../src/ingest/http/endpoints/collectd';
import { HttpIngest } from '../../../../src/ingest/http/http-ingest';
import { RateLimitedLog } from '../../../../src/telemetry/rate-limited-log';
import { silentLogger } from '../../../../src/telemetry/logger';
import { startHttpGroup, type HttpHarness } from '../../../helpers/http';
import { startRelay } from '../../../helpers/relay';
import { CaptureServer, waitFor } from '../../../helpers/sink';

/*
 * Fixtures are the real payloads quoted in /work/shared/reference/http-ingest.md:
 * Backstop's spec/backstop/*_collectd_data.json (§1.4), the collectd wiki's
 * write_http example and collectd issue #1328's output (§4.1), and the cases of
 * collectd's format_graphite_test.c (§4.2).
 */

/** Backstop good_collectd_data.json */
const GOOD = [{ values: [1901474177], dstypes: ['counter'], dsnames: ['value'], time: 1280959128, interval: 10, host: 'leeloo.octo.it', plugin: 'cpu', plugin_instance: '0', type: 'cpu', type_instance: 'idle' }];
/** Backstop generic_collectd_data.json */
const GENERIC = [{ values: [42], dstypes: ['derive'], dsnames: ['value'], time: 1423949215.334, interval: 10.0, host: 'leeloo.octo.it', plugin: 'irq', plugin_instance: '', type: 'irq', type_instance: 'IWI' }];
/** Backstop generic_collectd_data_without_type_instance.json */
const GENERIC_NO_TI = [{ values: [42], dstypes: ['gauge'], dsnames: ['value'], time: 1423950659.88, interval: 10.0, host: 'leeloo.octo.it', plugin: 'users', plugin_instance: '', type: 'users', type_instance: '' }];
/** Backstop bad_collectd_data.json (no "time") */
const BAD = [{ values: [1901474177], dstypes: ['counter'], dsnames: ['value'], interval: 10, host: 'leeloo.octo.it', plugin: 'cpu', plugin_instance: '0', type: 'cpu', type_instance: 'idle' }];
/** collectd wiki Plugin:Write_HTTP */
const WIKI_DISK = [{ values: [197141504, 175136768], dstypes: ['counter', 'counter'], dsnames: ['read', 'write'], time: 1251533299, interval: 10, host: 'leeloo.lan.home.verplant.org', plugin: 'disk', plugin_instance: 'sda', type: 'disk_octets', type_instance: '' }];
/** collectd 5 output quoted in collectd issue #1328 */
const ISSUE_1328 = '{"values":[99.1983967935872],"dstypes":["gauge"],"dsnames":["value"],"time":1446218162.353,"interval":5,"host":"yyy","plugin":"cpu","plugin_instance":"3","type":"percent","type_instance":"idle"}';

type Vl = { values: (number | null)[]; dstypes: string[]; dsnames: string[]; time: number; interval: number; host: string; plugin: string; plugin_instance: string; type: string; type_instance: string };

/** A value list with collectd's field order; `over` replaces fields. */
function vl(over: Partial<Vl>): Vl {
  const values = over.values ?? [42];
  return {
    values,
    dstypes: values.map(() => 'gauge'),
    dsnames: values.length === 1 ? ['value'] : values.map((_, i) => `ds${i}`),
    time: 1480063672,
    interval: 10,
    host: 'example.com',
    plugin: 'test',
    plugin_instance: '',
    type: 'single',
    type_instance: '',
    ...over,
  };
}

const basic = (s: string): string => `Basic ${Buffer.from(s).toString('base64')}`;

describe('POST /collectd (collectd write_http)', () => {
  let h: HttpHarness;
  afterEach(async () => h.close());

  const post = (body: unknown): request.Test => request(h.app).post('/collectd').send(body as object);
  const putval = (text: string): request.Test => request(h.app).post('/collectd').set('Content-Type', 'text/plain').send(text);
  const expectLines = async (expected: string[]): Promise<void> => {
    await waitFor(() => h.lines().length >= expected.length, `${expected.length} lines`);
    expect(h.lines()).toEqual(expected);
  };

  describe('naming: backstop', () => {
    it('names Backstop spec fixtures as Backstop does (mitt.<cloud>.<slot>.<id>.<metric>), answering "ok"', async () => {
      h = await startHttpGroup(createCollectdEndpoints, { collectd: { naming: 'backstop' } });
      for (const body of [GOOD, GENERIC, GENERIC_NO_TI]) {
        const res = await post(body);
        expect([res.status, res.text]).toEqual([200, 'ok']);
      }
      // timestamps are floats all the way; the line protocol prints them with %d (see the pickle test below)
      await expectLines(['mitt.leeloo.octo.it.cpu.0.idle 1901474177 1280959128', 'mitt.leeloo.octo.it.irq.IWI 42 1423949215', 'mitt.leeloo.octo.it.users 42 1423950659']);
    });

    it('answers bad_collectd_data.json (no time) with 400 naming the item and the missing field', async () => {
      h = await startHttpGroup(createCollectdEndpoints, { collectd: { naming: 'backstop' } });
      const res = await post(BAD);
      expect([res.status, res.text]).toEqual([400, '1 of 1 datapoints rejected; the other 0 were accepted\nitem 0: missing fields: time\n']);
      expect(res.headers['x-carbon-fanout-error']).toBe('CF_ERR_HTTP_INVALID_ITEMS');
      expect(h.relay.counters.httpInvalidItems).toBe(1);
    });

    it("applies Backstop's plugin-specific rules, host DOT/DASH decoding and cloud dashes", async () => {
      h = await startHttpGroup(createCollectdEndpoints, { collectd: { naming: 'backstop' } });
      const host = 'dc1.eu.web.rack3.n7'; // cloud dc1-eu-web, slot rack3, id n7
      const res = await post([
        vl({ host, plugin: 'load', type: 'load', values: [0.5, 0.25, 0.125], dsnames: ['shortterm', 'midterm', 'longterm'] }),
        vl({ host, plugin: 'disk', plugin_instance: 'sda', type: 'disk_octets', values: [100, 200], dsnames: ['read', 'write'] }),
        vl({ host, plugin: 'interface', type: 'if_octets', type_instance: 'eth0', values: [1, 2], dsnames: ['rx', 'tx'] }),
        vl({ host, plugin: 'df', type: 'df', type_instance: 'root', values: [10, 90], dsnames: ['used', 'free'] }),
        vl({ host, plugin: 'memory', type: 'memory', type_instance: 'used', values: [1024] }),
        vl({ host, plugin: 'swap', type: 'swap', type_instance: 'free', values: [7] }),
        vl({ host, plugin: 'conntrack', type: 'conntrack', values: [12] }),
        vl({ host, plugin: 'nfsiostat', plugin_instance: 'mnt', type: 'x', type_instance: 'ops', values: [3] }),
        vl({ host, plugin: 'processes', plugin_instance: 'nginx', type: 'ps_count', values: [4, 9], dsnames: ['processes', 'threads'] }),
        vl({ host, plugin: 'processes', plugin_instance: 'nginx', type: 'ps_rss', values: [5000] }),
        vl({ host, plugin: 'processes', type: 'fork_rate', values: [2] }),
        vl({ host, plugin: 'processes', type: 'ps_state', type_instance: 'running', values: [1] }),
        vl({ host, plugin: 'tcpconns', plugin_instance: '80-local', type: 'tcp_connections', type_instance: 'LISTEN', values: [6] }),
        vl({ host: 'webDOTexampleDASH1DOTcom', plugin: 'cpu', plugin_instance: '1', type: 'cpu', type_instance: 'user', values: [8] }),
        vl({ host: 'slot.id', plugin: 'users', type: 'users', values: [1] }),
      ]);
      expect([res.status, res.text]).toEqual([200, 'ok']);
      await expectLines([
        'mitt.dc1-eu-web.rack3.n7.load.1m 0.5 1480063672',
        'mitt.dc1-eu-web.rack3.n7.load.5m 0.25 1480063672',
        'mitt.dc1-eu-web.rack3.n7.load.15m 0.125 1480063672',
        // Backstop calls collectd's first (read) value "write"
        'mitt.dc1-eu-web.rack3.n7.disk.sda.disk_octets.write 100 1480063672',
        'mitt.dc1-eu-web.rack3.n7.disk.sda.disk_octets.read 200 1480063672',
        'mitt.dc1-eu-web.rack3.n7.net.eth0.if_octets.in 1 1480063672',
        'mitt.dc1-eu-web.rack3.n7.net.eth0.if_octets.out 2 1480063672',
        'mitt.dc1-eu-web.rack3.n7.df.root.used 10 1480063672',
        'mitt.dc1-eu-web.rack3.n7.df.root.free 90 1480063672',
        'mitt.dc1-eu-web.rack3.n7.memory.used 1024 1480063672',
        'mitt.dc1-eu-web.rack3.n7.swap.free 7 1480063672',
        'mitt.dc1-eu-web.rack3.n7.conntrack.connections 12 1480063672',
        'mitt.dc1-eu-web.rack3.n7.nfsiostat.mnt.ops 3 1480063672',
        'mitt.dc1-eu-web.rack3.n7.processes.nginx.ps_count.num_proc 4 1480063672',
        'mitt.dc1-eu-web.rack3.n7.processes.nginx.ps_count.num_thread 9 1480063672',
        'mitt.dc1-eu-web.rack3.n7.processes.nginx.ps_rss 5000 1480063672',
        'mitt.dc1-eu-web.rack3.n7.processes.fork_rate 2 1480063672',
        'mitt.dc1-eu-web.rack3.n7.processes.running 1 1480063672',
        // generic rule: no plugin name
        'mitt.dc1-eu-web.rack3.n7.tcp_connections.LISTEN 6 1480063672',
        'mitt.web.example-1.com.cpu.1.user 8 1480063672',
        // a two-label host leaves the cloud empty, as in Backstop
        'mitt..slot.id.users 1 1480063672',
      ]);
    });

    it("rejects what Backstop's rules cannot name (one-label host, collectd 5's one-value df), sending the rest", async () => {
      h = await startHttpGroup(createCollectdEndpoints, { collectd: { naming: 'backstop' } });
      const res = await post([
        vl({ host: 'localhost', plugin: 'users', type: 'users' }),
        vl({ host: 'a.b.c', plugin: 'df', plugin_instance: 'root', type: 'df_complex', type_instance: 'free', values: [5] }),
        vl({ host: 'a.b.c', plugin: 'cpu', plugin_instance: '0', type: 'cpu', type_instance: 'with space' }),
      ]);
      expect(res.status).toBe(400);
      expect(res.text).toBe(
        [
          '3 of 4 datapoints rejected; the other 1 were accepted',
          'item 0: host "localhost" needs at least two dot-separated labels for backstop naming (mitt.<cloud>.<slot>.<id>)',
          'item 1: mitt.a.b.c.df.free.free: values[1] is missing (1 values)',
          'item 2: metric name "mitt.a.b.c.cpu.0.with space" contains whitespace or control characters',
          '',
        ].join('\n'),
      );
      await expectLines(['mitt.a.b.c.df.free.used 5 1480063672']);
    });
  });

  describe('naming: graphite (write_graphite)', () => {
    it('names with the defaults: host dots escaped, plugin-instance, type-instance, DS names for multi-value types', async () => {
      h = await startHttpGroup(createCollectdEndpoints, {});
      expect((await post(GOOD)).status).toBe(200);
      expect((await post(WIKI_DISK)).status).toBe(200);
      expect((await request(h.app).post('/collectd').set('Content-Type', 'application/json').send(`[${ISSUE_1328}]`)).status).toBe(200);
      await expectLines([
        'leeloo_octo_it.cpu-0.cpu-idle 1901474177 1280959128',
        'leeloo_lan_home_verplant_org.disk-sda.disk_octets.read 197141504 1251533299',
        'leeloo_lan_home_verplant_org.disk-sda.disk_octets.write 175136768 1251533299',
        // carbon's line format: 10 decimals
        'yyy.cpu-3.percent-idle 99.1983967936 1446218162',
      ]);
    });

    // format_graphite_test.c: host example.com, plugin test, type single (one DS "value"), value 42
    const cases: { options: Record<string, unknown>; lists: Partial<Vl>[]; names: string[] }[] = [
      {
        options: { escapeCharacter: '@' },
        lists: [{}, { plugin_instance: 'foo', type_instance: 'bar' }, { type_instance: 'bar' }, { plugin_instance: 'foo (test)', type_instance: 'test: "hello"' }, { plugin_instance: 'foo (test)', type_instance: 'test,123,' }, { plugin_instance: 'f.o.o', type_instance: 'b.a.r' }],
        names: ['example@com.test.single', 'example@com.test-foo.single-bar', 'example@com.test.single-bar', 'example@com.test-foo@@test@.single-test@@@hello@', 'example@com.test-foo@@test@.single-test@123@', 'example@com.test-f@o@o.single-b@a@r'],
      },
      { options: { escapeCharacter: '@', separateInstances: true }, lists: [{ plugin_instance: 'foo', type_instance: 'bar' }], names: ['example@com.test.foo.single.bar'] },
      { options: { escapeCharacter: '@', alwaysAppendDs: true }, lists: [{ plugin_instance: 'foo', type_instance: 'bar' }], names: ['example@com.test-foo.single-bar.value'] },
      { options: { escapeCharacter: '@', preserveSeparator: true }, lists: [{ plugin_instance: 'f.o.o', type_instance: 'b.a.r' }], names: ['example.com.test-f.o.o.single-b.a.r'] },
      { options: { escapeCharacter: '@', prefix: 'foo.', postfix: '.bar' }, lists: [{}], names: ['foo.example@com.bar.test.single'] },
      // Prefix/Postfix are inserted verbatim but still pass the final forbidden-character escape
      { options: { prefix: 'a b:', postfix: '(x)' }, lists: [{}], names: ['a_b_example_com_x_.test.single'] },
      {
        options: { dropDuplicateFields: true },
        lists: [
          { host: 'h', plugin: 'load', type: 'load', values: [1, 2, 3], dsnames: ['shortterm', 'midterm', 'longterm'] },
          { host: 'h', plugin: 'memory', type: 'memory', type_instance: 'used' },
          { host: 'h', plugin: 'interface', plugin_instance: 'eth0', type: 'if_octets', values: [4, 5], dsnames: ['rx', 'tx'] },
        ],
        names: ['h.load.shortterm', 'h.load.midterm', 'h.load.longterm', 'h.memory.used', 'h.interface-eth0.if_octets.rx', 'h.interface-eth0.if_octets.tx'],
      },
      // collectd.conf(5) ReverseHost example
      { options: { reverseHost: true, escapeCharacter: '.' }, lists: [{ host: 'node3.cluster1.example.com', plugin: 'cpu', plugin_instance: '0', type: 'cpu', type_instance: 'idle' }], names: ['com.example.cluster1.node3.cpu-0.cpu-idle'] },
    ];
    it.each(cases)('write_graphite options $options', async ({ options, lists, names }) => {
      h = await startHttpGroup(createCollectdEndpoints, { collectd: options });
      const res = await post(lists.map((l) => vl(l)));
      expect([res.status, res.text]).toEqual([200, 'ok']);
      const values = lists.flatMap((l) => l.values ?? [42]);
      await expectLines(names.map((n, i) => `${n} ${values[i]} 1480063672`));
    });

    it('escape character "_" and value 1337 (format_graphite_test.c)', async () => {
      h = await startHttpGroup(createCollectdEndpoints, {});
      expect((await post([vl({ values: [1337] })])).status).toBe(200);
      await expectLines(['example_com.test.single 1337 1480063672']);
    });

    it('rejects an escape character collectd forbids, and control characters in prefix/postfix', () => {
      expect(httpSchema.safeParse({ collectd: { escapeCharacter: '/' } }).success).toBe(false);
      expect(httpSchema.safeParse({ collectd: { escapeCharacter: ' ' } }).success).toBe(false);
      expect(httpSchema.safeParse({ collectd: { escapeCharacter: '__' } }).success).toBe(false);
      expect(httpSchema.safeParse({ collectd: { prefix: 'a\tb' } }).success).toBe(false);
      expect(httpSchema.safeParse({ collectd: { escapeCharacter: '.' } }).success).toBe(true);
      expect(httpSchema.safeParse({ collectd: { naming: 'carbon' } }).success).toBe(false);
    });
  });

  describe('values, timestamps, notifications', () => {
    it('skips and counts null values (NaN gauges, first rates) and notifications; the rest of the list is sent', async () => {
      h = await startHttpGroup(createCollectdEndpoints, {});
      const notification = {
        labels: { alertname: 'collectd_cpu_percent', instance: 'web1', cpu: '0', type: 'idle', severity: 'WARNING', service: 'collectd' },
        annotations: { summary: 'Host web1, plugin cpu (instance 0) type percent (instance idle): Data source "value" is currently 2.0.' },
        startsAt: '2024-01-02T03:04:05.123456789Z',
      };
      const res = await post([
        vl({ host: 'h', plugin: 'load', type: 'load', values: [null, 2, null], dsnames: ['shortterm', 'midterm', 'longterm'] }),
        notification,
        vl({ host: 'h', values: [null] }),
      ]);
      expect([res.status, res.text]).toEqual([200, 'ok']);
      await expectLines(['h.load.load.midterm 2 1480063672']);
      expect(h.relay.counters.httpSkippedItems).toBe(4);
      expect(h.relay.counters.httpInvalidItems).toBe(0);
    });

    it('keeps 64-bit counters and negative derives as the nearest double (what whisper stores)', async () => {
      h = await startHttpGroup(createCollectdEndpoints, {});
      const body = '[{"values":[18446744073709551615,-9223372036854775808],"dstypes":["counter","derive"],"dsnames":["rx","tx"],"time":1700000000.000,"interval":10.000,"host":"h","plugin":"p","plugin_instance":"","type":"t","type_instance":""}]';
      expect((await request(h.app).post('/collectd').set('Content-Type', 'application/json').send(body)).status).toBe(200);
      await waitFor(() => h.capture.datapoints.length === 2, '2 datapoints');
      expect(h.capture.datapoints).toEqual([
        { name: 'h.p.t.rx', value: 2 ** 64, timestamp: 1700000000 },
        { name: 'h.p.t.tx', value: -(2 ** 63), timestamp: 1700000000 },
      ]);
    });

    it('keeps fractional collectd timestamps (a pickle destination receives 1423949215.334)', async () => {
      const capture = new CaptureServer('pickle');
      const port = await capture.listen();
      const relay = await startRelay({ destinations: [{ name: 'p', host: '127.0.0.1', port, protocol: 'pickle' }], rules: [{ default: true, destinations: ['p'] }] });
      try {
        const config = httpSchema.parse({ collectd: { naming: 'backstop' } });
        const log = silentLogger();
        const ingest = new HttpIngest({ pipeline: relay.pipeline, counters: relay.topology.counters.listener('http', 'http'), responses: relay.topology.counters.httpResponses, log, limited: new RateLimitedLog(log), now: Date.now }, config.maxItems);
        const app = createHttpApp(config, ingest, [createCollectdEndpoints({ ingest, http: config })]);
        expect((await request(app).post('/collectd').send(GENERIC.concat(GENERIC_NO_TI))).status).toBe(200);
        await waitFor(() => capture.datapoints.length === 2, '2 pickled datapoints');
        expect(capture.datapoints).toEqual([
          { name: 'mitt.leeloo.octo.it.irq.IWI', value: 42, timestamp: 1423949215.334 },
          { name: 'mitt.leeloo.octo.it.users', value: 42, timestamp: 1423950659.88 },
        ]);
      } finally {
        await relay.stop(Date.now() + 2000);
        await capture.close();
      }
    });
  });

  describe('Format "Command" (PUTVAL lines)', () => {
    it('parses the reference examples: CRLF, integer and %.3f times, multi-value types named from types.db', async () => {
      h = await startHttpGroup(createCollectdEndpoints, {});
      const text = [
        'PUTVAL leeloo.lan.home.verplant.org/disk-sda/disk_octets interval=10 1251533299:197141504:175136768',
        'PUTVAL leeloo.lan.home.verplant.org/disk-sda/disk_ops interval=10 1251533299:10765:12858',
        'PUTVAL leeloo.octo.it/cpu-0/cpu-idle interval=10.000 1280959128.000:1901474177',
        'PUTVAL testhost/interface/if_octets-test0 interval=10 1179574444:123:456',
        '',
      ].join('\r\n');
      expect([(await putval(text)).status]).toEqual([200]);
      await expectLines([
        'leeloo_lan_home_verplant_org.disk-sda.disk_octets.read 197141504 1251533299',
        'leeloo_lan_home_verplant_org.disk-sda.disk_octets.write 175136768 1251533299',
        'leeloo_lan_home_verplant_org.disk-sda.disk_ops.read 10765 1251533299',
        'leeloo_lan_home_verplant_org.disk-sda.disk_ops.write 12858 1251533299',
        'leeloo_octo_it.cpu-0.cpu-idle 1901474177 1280959128',
        'testhost.interface.if_octets-test0.rx 123 1179574444',
        'testhost.interface.if_octets-test0.tx 456 1179574444',
      ]);
    });

    it('handles quoted identifiers, N (now), U and nan (skipped, counted), meta options and several value lists per line', async () => {
      const nowMs = 1_700_000_123_000;
      h = await startHttpGroup(createCollectdEndpoints, {}, () => nowMs);
      const text = [
        'PUTVAL "my host/cpu-0/cpu-idle" interval=10 N:42',
        'putval "quo\\"te/exec-x/gauge-a\\\\b" meta:source="x" 1700000000:U 1700000010:7',
        'PUTVAL h/load/load 1700000000:1:U:nan',
      ].join('\n');
      const res = await putval(text);
      expect([res.status, res.text]).toEqual([200, 'ok']);
      await expectLines(['my_host.cpu-0.cpu-idle 42 1700000123', 'quo_te.exec-x.gauge-a_b 7 1700000010', 'h.load.load.shortterm 1 1700000000']);
      expect(h.relay.counters.httpSkippedItems).toBe(3);
    });

    it('names PUTVAL lists under backstop naming too', async () => {
      h = await startHttpGroup(createCollectdEndpoints, { collectd: { naming: 'backstop' } });
      expect((await putval('PUTVAL leeloo.octo.it/cpu-0/cpu-idle interval=10.000 1280959128.000:1901474177\r\n')).status).toBe(200);
      await expectLines(['mitt.leeloo.octo.it.cpu.0.idle 1901474177 1280959128']);
    });

    it('rejects bad lines by number and sends the good ones', async () => {
      h = await startHttpGroup(createCollectdEndpoints, {});
      const text = [
        'PUTVAL h/cpu-0/cpu-idle 1700000000:1',
        'PUTVAL h/cpu-0 1700000000:1',
        'PUTVAL h/load/load 1700000000:1:2',
        'PUTVAL h/p/mytype 1700000000:1:2',
        'PUTVAL h/cpu-0/cpu-idle color=red 1700000000:1',
        'PUTVAL h/cpu-0/cpu-idle 1700000000:x',
        'PUTVAL "h/cpu-0/cpu-idle 1700000000:1',
        'LISTVAL',
        'PUTVAL h/cpu-1/cpu-idle 1700000000:2',
      ].join('\r\n');
      const res = await putval(text);
      expect(res.status).toBe(400);
      expect(res.text).toBe(
        [
          '7 of 9 datapoints rejected; the other 2 were accepted',
          'line 2: identifier "h/cpu-0" is not host/plugin[-instance]/type[-instance]',
          'line 3: type "load" has 3 data sources in types.db, got 2 values',
          'line 4: type "mytype" has 2 values but is not in collectd\'s types.db, so its data-source names are unknown (send Format "JSON", which carries dsnames)',
          'line 5: unknown option "color"',
          'line 6: value "x" is not a number or U',
          'line 7: unterminated quoted string',
          'line 8: unknown command "LISTVAL" (only PUTVAL is accepted)',
          '',
        ].join('\n'),
      );
      await expectLines(['h.cpu-0.cpu-idle 1 1700000000', 'h.cpu-1.cpu-idle 2 1700000000']);
    });
  });

  describe('errors and the front door', () => {
    it('answers a body that is not JSON with 400 "JSON is required", and a non-array with 400; nothing is sent', async () => {
      h = await startHttpGroup(createCollectdEndpoints, {});
      const notJson = await request(h.app).post('/collectd').set('Content-Type', 'application/json').send('foo');
      expect(notJson.status).toBe(400);
      expect(notJson.text).toMatch(/^JSON is required \(collectd write_http Format "JSON", or PUTVAL lines\): /);
      expect(notJson.headers['x-carbon-fanout-error']).toBe('CF_ERR_HTTP_MALFORMED_BODY');
      const object = await post(GOOD[0]);
      expect([object.status, object.text]).toEqual([400, 'expected a JSON array of collectd value lists (write_http Format "JSON")\n']);
      expect(object.headers['x-carbon-fanout-error']).toBe('CF_ERR_HTTP_INVALID_BODY');
      const empty = await request(h.app).post('/collectd').set('Content-Type', 'application/json').send('');
      expect(empty.status).toBe(400);
      expect(h.relay.counters.httpBadRequests).toBe(3);
    });

    it('partial policy: the structurally wrong item is named (item 3), the three before it are sent', async () => {
      h = await startHttpGroup(createCollectdEndpoints, {});
      const res = await post([vl({ host: 'a' }), vl({ host: 'b' }), vl({ host: 'c' }), { ...vl({ host: 'd', values: [1, 2] }), dsnames: ['rx'] }]);
      expect([res.status, res.text]).toEqual([400, '1 of 4 datapoints rejected; the other 3 were accepted\nitem 3: values and dsnames differ in length\n']);
      await expectLines(['a.test.single 42 1480063672', 'b.test.single 42 1480063672', 'c.test.single 42 1480063672']);
    });

    it('names every other kind of structural problem', async () => {
      h = await startHttpGroup(createCollectdEndpoints, {});
      const res = await post([
        7,
        { ...vl({}), dstypes: ['gauge', 'gauge'] },
        { ...vl({}), values: ['42'] },
        { ...vl({}), dstypes: ['rate'] },
        { ...vl({}), time: '1480063672' },
        { ...vl({}), host: '' },
        { ...vl({}), values: [] },
        { ...vl({}), plugin_instance: 3 },
        { dsnames: ['value'] },
      ]);
      expect(res.status).toBe(400);
      expect(res.text.split('\n').slice(1, -1)).toEqual([
        'item 0: not an object (a collectd value list)',
        'item 1: values and dstypes differ in length',
        'item 2: values[0] is not a number or null',
        'item 3: dstypes[0] is not one of gauge, counter, derive, absolute',
        'item 4: time must be a number (epoch seconds)',
        'item 5: host must be a non-empty string',
        'item 6: values must be a non-empty array',
        'item 7: plugin_instance must be a string',
        'item 8: missing fields: values, dstypes, time, host, plugin, type',
      ]);
    });

    it('accepts a gzip body; refuses one over maxBodySize with 413; over maxItems with 413', async () => {
      h = await startHttpGroup(createCollectdEndpoints, { maxBodySize: 400, maxItems: 3 });
      // superagent would JSON-encode a Buffer labelled application/json; send its bytes as they are
      const asIs = (bytes: unknown): string => bytes as string;
      const gz = await request(h.app).post('/collectd').set('Content-Type', 'application/json').set('Content-Encoding', 'gzip').serialize(asIs).send(zlib.gzipSync(JSON.stringify(GOOD)));
      expect([gz.status, gz.text]).toEqual([200, 'ok']);
      const big = await post([vl({}), vl({}), vl({})]);
      expect(big.status).toBe(413);
      expect(big.text).toMatch(/exceeds the limit of 400/);
      const many = await post([vl({ host: 'a', values: [1, 2, 3, 4], dsnames: ['a', 'b', 'c', 'd'] })]);
      expect(many.status).toBe(413);
      await expectLines(['leeloo_octo_it.cpu-0.cpu-idle 1901474177 1280959128']);
    });

    it('with http.collectd.auth.users: 401 with a Basic WWW-Authenticate challenge (what makes libcurl send credentials), then 200', async () => {
      h = await startHttpGroup(createCollectdEndpoints, { collectd: { auth: { users: [{ user: 'collectd', password: 'pw' }] } } });
      const none = await post(GOOD);
      expect(none.status).toBe(401);
      expect(none.headers['www-authenticate']).toMatch(/^Basic realm="[^"]+"/);
      expect((await post(GOOD).set('Authorization', basic('collectd:wrong'))).status).toBe(401);
      const ok = await post(GOOD).set('Authorization', basic('collectd:pw'));
      expect([ok.status, ok.text]).toEqual([200, 'ok']);
      await expectLines(['leeloo_octo_it.cpu-0.cpu-idle 1901474177 1280959128']);
      expect(h.relay.counters.httpUnauthorized).toBe(2);
    });

    it('answers 503 with Retry-After while the relay is overloaded, and accepts again after', async () => {
      h = await startHttpGroup(createCollectdEndpoints, {});
      h.ingest.pause();
      const res = await post(GOOD);
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('1');
      expect(res.headers['x-carbon-fanout-error']).toBe('CF_ERR_HTTP_OVERLOADED');
      h.ingest.resume();
      expect((await post(GOOD)).status).toBe(200);
      await expectLines(['leeloo_octo_it.cpu-0.cpu-idle 1901474177 1280959128']);
      expect(h.relay.counters.httpOverloaded).toBe(1);
    });

    it('is off when http.collectd.enabled is false (404 through the registry)', async () => {
      const { buildEndpointGroups } = await import('../../../../src/ingest/http/groups');
      h = await startHttpGroup(createCollectdEndpoints, {});
      const on = buildEndpointGroups({ ingest: h.ingest, http: httpSchema.parse({}) }).map((g) => g.name);
      const off = buildEndpointGroups({ ingest: h.ingest, http: httpSchema.parse({ collectd: { enabled: false } }) }).map((g) => g.name);
      expect(on).toContain('collectd');
      expect(off).not.toContain('collectd');
    });
  });
});

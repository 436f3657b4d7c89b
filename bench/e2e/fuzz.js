// @ts-check
'use strict';
/**
 * Scenario "fuzz": hostile input alongside valid traffic, for a fixed time
 * (FUZZ_SECONDS, default 20), over loopback:
 *
 *   2 valid line conns   ──┐
 *   2 valid pickle conns ──┤
 *   2 hostile line conns ──┼──▶ relay (dist/cli.js) ──pickle──▶ counting sink
 *   2 hostile pickle conns─┘
 *
 * Valid senders write `fuzz.valid.<conn>.<seq> <seq> <ts>` lines and protocol-2
 * pickle frames of `fuzz.validp.<conn>.<seq>` datapoints, as fast as the relay
 * takes them (they wait for 'drain' when write() returns false, so flow
 * control slows them, never loses their data). Hostile senders write random
 * bytes and mutated input (flipped bytes, NUL/CR/control/C1 characters, 20,000-
 * byte names, missing fields, non-finite numbers; random pickle payloads with a
 * valid length, flipped and truncated frames, deep '(' and ']'/'a' nesting,
 * BINPUT/BINGET amplification of a 100 KB name, GLOBAL/REDUCE) and reconnect
 * whenever the relay closes them. Every hostile name starts with `fz.bad.`, so
 * no mutation can produce a datapoint the sink counts (it counts `fuzz.valid*`).
 *
 * Reported: valid datapoints sent / delivered / lost (must be 0), hostile bytes,
 * input rejected per second (the relay's carbon_fanout_invalid_input_total from
 * the admin listener's /metrics, summed over reasons), peak RSS (VmHWM) and CPU
 * time of the relay. `node bench/e2e/fuzz.js` runs it alone (exit 1 on loss).
 */
const crypto = require('node:crypto');
const http = require('node:http');
const net = require('node:net');
const { CountingSink } = require('../lib/sink');
const { sinkRelayYaml } = require('../lib/relay-yaml');
const { RelayProcess, freePort } = require('../lib/relay-process');
const { cpuMicros, peakRssMiB } = require('../lib/proc-stats');
const { envNumber } = require('../lib/env');

const name = 'fuzz';
/**
 * Zero loss only: every valid datapoint has a name of its own (fuzz.valid.<conn>.<seq>), which
 * costs the relay more memory than the other scenarios' 10,000 recurring names, so their RSS bar does not apply.
 * @type {import('../lib/types').Bar}
 */
const bar = { loss: 0 };

const VALID_PREFIX = 'fuzz.valid'; // covers fuzz.valid.* (line) and fuzz.validp.* (pickle)
const BAD = 'fz.bad.';
const LINES_PER_WRITE = 1000;
const PICKLE_PER_FRAME = 500;
const DELIVERY_TIMEOUT_MS = 30_000;

// ---------------------------------------------------------------- pickle frames

const PROTO = 0x80, EMPTY_LIST = 0x5d, MARK = 0x28, APPENDS = 0x65, STOP = 0x2e, APPEND = 0x61;
const BINUNICODE = 0x58, BINFLOAT = 0x47, TUPLE2 = 0x86, TUPLE1 = 0x85, BINPUT = 0x71, BINGET = 0x68, REDUCE = 0x52;

/**
 * A carbon pickle frame (4-byte big-endian length + payload) in src/codec/pickle-encoder.ts's layout.
 * @param {Array<[string, number, number]>} items name, timestamp, value
 * @returns {Buffer}
 */
function pickleFrame(items) {
  const names = items.map(([n]) => Buffer.from(n, 'utf8'));
  const size = 4 + 4 + names.reduce((s, n) => s + 5 + n.length + 20, 0) + 2;
  const b = Buffer.allocUnsafe(size);
  let p = 4;
  b[p++] = PROTO;
  b[p++] = 2;
  b[p++] = EMPTY_LIST;
  b[p++] = MARK;
  for (let i = 0; i < items.length; i++) {
    b[p] = BINUNICODE;
    b.writeUInt32LE(names[i].length, p + 1);
    p += 5;
    p += names[i].copy(b, p);
    b[p] = BINFLOAT;
    b.writeDoubleBE(items[i][1], p + 1);
    b[p + 9] = BINFLOAT;
    b.writeDoubleBE(items[i][2], p + 10);
    b[p + 18] = TUPLE2;
    b[p + 19] = TUPLE2;
    p += 20;
  }
  b[p++] = APPENDS;
  b[p++] = STOP;
  b.writeUInt32BE(p - 4, 0);
  return b;
}

/** @param {Buffer} payload @returns {Buffer} length header + payload */
function framed(payload) {
  const h = Buffer.allocUnsafe(4);
  h.writeUInt32BE(payload.length, 0);
  return Buffer.concat([h, payload]);
}

/** @param {string} s @returns {Buffer} BINUNICODE s */
function binunicode(s) {
  const n = Buffer.from(s, 'utf8');
  const h = Buffer.from([BINUNICODE, 0, 0, 0, 0]);
  h.writeUInt32LE(n.length, 1);
  return Buffer.concat([h, n]);
}

/** @param {number} x @returns {Buffer} BINFLOAT x */
function binfloat(x) {
  const b = Buffer.allocUnsafe(9);
  b[0] = BINFLOAT;
  b.writeDoubleBE(x, 1);
  return b;
}

// ---------------------------------------------------------------- hostile input

/** @param {number} n */
const rnd = (n) => Math.floor(Math.random() * n);
/** @template T @param {T[]} a @returns {T} */
const pick = (a) => a[rnd(a.length)];
const now = () => Math.floor(Date.now() / 1000);
const badName = () => `${BAD}${rnd(1000)}.m${rnd(100)}`;

/** Bytes inserted into names: NUL, CR, other C0 controls, DEL, C1 (U+0080..U+009F as UTF-8), a lone continuation byte. */
const NASTY = [[0x00], [0x0d], [0x01], [0x1b], [0x09], [0x7f], [0xc2, 0x80], [0xc2, 0x9f], [0xc2, 0x85], [0x80], [0xff], [0xe2, 0x80, 0xa8]];

/** @param {Buffer} b flips 1-4 bytes in place @returns {Buffer} */
function flip(b) {
  for (let k = 1 + rnd(4); k > 0 && b.length > 0; k--) b[rnd(b.length)] ^= 1 << rnd(8);
  return b;
}

/** One hostile chunk for a line connection. @returns {Buffer} */
function hostileLine() {
  const ts = now();
  switch (rnd(9)) {
    case 0:
      return crypto.randomBytes(1 + rnd(4096)); // raw random bytes, newlines wherever they fall
    case 1: {
      // valid-looking fz.bad lines with flipped bytes
      const lines = [];
      for (let i = 0; i < 100; i++) lines.push(`${badName()} ${rnd(1e6)} ${ts}\n`);
      return flip(flip(Buffer.from(lines.join(''), 'latin1')));
    }
    case 2: {
      // control / C1 characters inserted into names
      const out = [];
      for (let i = 0; i < 100; i++) {
        const n = Buffer.from(badName(), 'latin1');
        const at = rnd(n.length + 1);
        out.push(n.subarray(0, at), Buffer.from(pick(NASTY)), n.subarray(at), Buffer.from(` ${rnd(100)} ${ts}\n`));
      }
      return Buffer.concat(out);
    }
    case 3:
      return Buffer.from(`${BAD}${'x'.repeat(20_000)} 1 ${ts}\n`); // beyond maxLineLength
    case 4:
      return Buffer.from(`${BAD}${'y'.repeat(5000 + rnd(5000))} 1 ${ts}\n`); // fits a line, beyond maxNameLength
    case 5:
      // missing / extra / empty fields
      return Buffer.from(
        [`${badName()}\n`, `${badName()} 1\n`, ` 1 ${ts}\n`, `\n`, `   \n`, `${badName()}  ${ts}\n`, `${badName()} 1 ${ts} extra\n`, `${badName()} 1 ${ts}`, `\r\n`, `${badName()} ${ts} \n`].join(''),
      );
    case 6: {
      // non-finite or unparsable numbers
      const vals = ['nan', 'NaN', '-nan', 'inf', '-inf', 'Infinity', '-Infinity', '1e999', '-1e999', '0x1p3', '1,5', '--1', '1e', '.', '+', 'one', '١٢'];
      return Buffer.from(vals.map((v) => `${badName()} ${v} ${ts}\n${badName()} 1 ${v}\n`).join(''));
    }
    case 7:
      // bad timestamps
      return Buffer.from(['-1', '0', '99999999999999', '1e300', 'NaN', 'inf', '-'].map((t) => `${badName()} 1 ${t}\n`).join(''));
    default: {
      // a long run without a newline, then one
      return Buffer.concat([Buffer.from(BAD), crypto.randomBytes(8192).map((c) => (c === 0x0a ? 0x20 : c)), Buffer.from('\n')]);
    }
  }
}

/** A valid frame of fz.bad datapoints (the base of the mutations). */
function badFrame() {
  const ts = now();
  /** @type {Array<[string, number, number]>} */
  const items = [];
  for (let i = 0, n = 1 + rnd(50); i < n; i++) items.push([badName(), ts, rnd(1e6)]);
  return pickleFrame(items);
}

/** One hostile chunk for a pickle connection. @returns {Buffer} */
function hostilePickle() {
  const ts = now();
  switch (rnd(13)) {
    case 0:
      return framed(crypto.randomBytes(1 + rnd(8192))); // random payload, valid length
    case 1:
      return framed(Buffer.concat([Buffer.from([PROTO, 2]), crypto.randomBytes(1 + rnd(2048))])); // random after PROTO 2
    case 2: {
      const f = badFrame(); // flipped payload bytes, header intact
      flip(f.subarray(4));
      return f;
    }
    case 3: {
      const f = badFrame(); // truncated payload, header fixed up to match
      const cut = 4 + rnd(f.length - 4);
      const t = f.subarray(0, cut);
      t.writeUInt32BE(cut - 4, 0);
      return t;
    }
    case 4:
      return framed(Buffer.concat([Buffer.from([PROTO, 2]), Buffer.alloc(50_000 + rnd(100_000), MARK), Buffer.from([STOP])])); // deep MARK nesting
    case 5: {
      const depth = 50_000 + rnd(50_000); // ] ] ] ... a a a . : lists nested depth deep
      return framed(Buffer.concat([Buffer.from([PROTO, 2]), Buffer.alloc(depth, EMPTY_LIST), Buffer.alloc(depth - 1, APPEND), Buffer.from([STOP])]));
    }
    case 6: {
      // memo amplification: a 100 KB name stored once (BINPUT), referenced 500 times (BINGET)
      const parts = [Buffer.from([PROTO, 2, EMPTY_LIST, MARK]), binunicode(BAD + 'm'.repeat(100_000)), Buffer.from([BINPUT, 1]), binfloat(ts), binfloat(1), Buffer.from([TUPLE2, TUPLE2])];
      for (let i = 0; i < 499; i++) parts.push(Buffer.from([BINGET, 1]), binfloat(ts), binfloat(i), Buffer.from([TUPLE2, TUPLE2]));
      parts.push(Buffer.from([APPENDS, STOP]));
      return framed(Buffer.concat(parts));
    }
    case 7: {
      // GLOBAL + REDUCE: os.system('true'), builtins.eval, inside the datapoint list too
      const g = (/** @type {string} */ mod, /** @type {string} */ fn, /** @type {string} */ arg) => Buffer.concat([Buffer.from(`c${mod}\n${fn}\n`, 'latin1'), binunicode(arg), Buffer.from([TUPLE1, REDUCE])]);
      return Buffer.concat([
        framed(Buffer.concat([Buffer.from([PROTO, 2]), g('os', 'system', 'true'), Buffer.from([STOP])])),
        framed(Buffer.concat([Buffer.from([PROTO, 2]), g('builtins', 'eval', '1+1'), Buffer.from([STOP])])),
        framed(Buffer.concat([Buffer.from([PROTO, 2, EMPTY_LIST]), g('__builtin__', 'getattr', BAD + 'x'), Buffer.from([APPEND, STOP])])),
        framed(Buffer.concat([Buffer.from([PROTO, 4]), binunicode('builtins'), binunicode('eval'), Buffer.from([0x93]), binunicode('1'), Buffer.from([TUPLE1, REDUCE, STOP])])),
      ]);
    }
    case 8: {
      // well-formed frames of bad items: non-finite values and timestamps, non-string names, wrong shapes
      const items = /** @type {Array<[string, number, number]>} */ ([
        [badName(), ts, NaN],
        [badName(), ts, Infinity],
        [badName(), ts, -Infinity],
        [badName(), NaN, 1],
        [badName(), -1, 1],
        [`${BAD}\u0000nul`, ts, 1],
        [`${BAD}\u0085c1`, ts, 1],
        [`${BAD}${'z'.repeat(20_000)}`, ts, 1],
      ]);
      const shapes = framed(Buffer.from([PROTO, 2, EMPTY_LIST, MARK, 0x4a, 1, 0, 0, 0, 0x4a, 2, 0, 0, 0, TUPLE2, APPENDS, STOP])); // (1, 2)
      return Buffer.concat([pickleFrame(items), shapes]);
    }
    case 9:
      return Buffer.from([0, 0, 0, 0]); // empty frame
    case 10: {
      // oversized (beyond maxFrameLength, below the garbage limit): the relay skips it byte for byte
      const len = 1_100_000 + rnd(100_000);
      return framed(crypto.randomBytes(len));
    }
    case 11: {
      // a length no pickle stream has (beyond 64 x maxFrameLength): the relay closes the connection, we reconnect
      const h = Buffer.allocUnsafe(4);
      h.writeUInt32BE(0x80000000 + rnd(0x7fffffff), 0);
      return Buffer.concat([h, crypto.randomBytes(64)]);
    }
    default: {
      // flipped anywhere, length header included: may desync the stream (the relay then closes, we reconnect)
      return flip(Buffer.concat([badFrame(), badFrame()]));
    }
  }
}

// ---------------------------------------------------------------- senders

/** @param {number} port @returns {Promise<net.Socket | null>} null if the connection failed */
function connect(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.setNoDelay(true);
    s.on('error', () => resolve(null)); // also swallows later errors (EPIPE/ECONNRESET after the relay closes)
  });
}

/**
 * Resolves on 'drain', on close, or at `until` (ms epoch; Infinity: never by time).
 * @param {net.Socket} s @param {number} until
 */
function drained(s, until) {
  if (s.destroyed || s.closed) return Promise.resolve();
  return new Promise((resolve) => {
    /** @type {NodeJS.Timeout | undefined} */
    let t;
    const done = () => {
      clearTimeout(t);
      s.off('drain', done);
      s.off('close', done);
      resolve(undefined);
    };
    s.once('drain', done);
    s.once('close', done);
    if (until !== Infinity) t = setTimeout(done, Math.max(0, until - Date.now()));
  });
}

/**
 * A valid sender: chunks from `next(seq)` until `until`, then FIN; resolves with datapoints sent.
 * @param {number} port @param {number} until
 * @param {(seq: number) => { buf: Buffer, n: number }} next
 */
async function validSender(port, until, next) {
  const s = await connect(port);
  if (s === null) throw new Error(`valid sender could not connect to ${port}`);
  let closedEarly = false;
  s.once('close', () => (closedEarly = true));
  let sent = 0;
  while (Date.now() < until) {
    const { buf, n } = next(sent);
    const ok = s.write(buf);
    sent += n;
    if (!ok) await drained(s, Infinity); // flow control: write slower, never drop
    // destroyed, not only closed: 'close' comes on a later tick, and awaiting settled promises never reaches it
    if (closedEarly || s.destroyed) throw new Error(`the relay closed a valid connection after ${sent} datapoints`);
    else if (ok) await new Promise(setImmediate); // let the other senders run
  }
  await new Promise((resolve) => {
    s.once('close', resolve);
    s.end();
  });
  return sent;
}

/**
 * A hostile sender: chunks from `gen()` until `until`, reconnecting whenever the relay closes it.
 * @param {number} port @param {number} until @param {() => Buffer} gen
 * @param {{ bytes: number, chunks: number, connections: number, closedByRelay: number }} st
 */
async function hostileSender(port, until, gen, st) {
  while (Date.now() < until) {
    const s = await connect(port);
    if (s === null) {
      await new Promise((r) => setTimeout(r, 20));
      continue;
    }
    st.connections++;
    let closed = false;
    s.once('close', () => (closed = true));
    // s.destroyed too: after an error (EPIPE once the relay closed it) 'close' comes on a later tick, and this loop,
    // awaiting promises drained() settles at once, would spin generating input without ever letting it come
    while (!closed && !s.destroyed && Date.now() < until) {
      const buf = gen();
      st.bytes += buf.length;
      st.chunks++;
      if (!s.write(buf)) await drained(s, until);
      else await new Promise(setImmediate);
    }
    if (closed || s.destroyed) st.closedByRelay++;
    s.destroy();
  }
}

// ---------------------------------------------------------------- relay counters

/** @param {number} port @returns {Promise<Record<string, number>>} invalid_input_total by reason */
function invalidInput(port) {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(new Error(`/metrics answered ${res.statusCode}`));
          /** @type {Record<string, number>} */
          const out = {};
          // one series per listener, protocol and reason: summed by reason
          for (const m of body.matchAll(/^carbon_fanout_invalid_input_total\{[^}]*\breason="([^"]+)"[^}]*\} (\S+)$/gm)) out[m[1]] = (out[m[1]] ?? 0) + Number(m[2]);
          resolve(out);
        });
      })
      .on('error', reject);
  });
}

// ---------------------------------------------------------------- scenario

/**
 * @param {import('../lib/types').ScenarioOptions} opts
 * @returns {Promise<import('../lib/types').ScenarioResult>}
 */
async function run(opts) {
  const seconds = envNumber('FUZZ_SECONDS', 20);
  /** @type {CountingSink | null} */
  let sink = null;
  /** @type {RelayProcess | null} */
  let relay = null;
  try {
    sink = await new CountingSink(VALID_PREFIX).start();
    const [linePort, picklePort, adminPort] = [await freePort(), await freePort(), await freePort()];
    const yaml = sinkRelayYaml({
      writtenBy: 'bench/e2e/fuzz.js',
      admin: `{ host: 127.0.0.1, port: ${adminPort} }`,
      listen: `  line:\n    tcp: { host: 127.0.0.1, port: ${linePort} }\n  pickle:\n    tcp: { host: 127.0.0.1, port: ${picklePort} }`,
      sinkPort: sink.port,
    });
    relay = new RelayProcess(yaml, linePort, opts.relayNodeArgs);
    await relay.ready();
    await sink.waitConnected();
    opts.log(`relay pid ${relay.pid}: line :${linePort}, pickle :${picklePort}, admin :${adminPort}; sink pid ${sink.pid} on :${sink.port}`);

    const before = await invalidInput(adminPort);
    const cpuBefore = cpuMicros(relay.pid);
    const t0 = Date.now();
    const until = t0 + seconds * 1000;
    opts.log(`fuzzing for ${seconds} s: 2 valid line + 2 valid pickle connections, 2 hostile line + 2 hostile pickle connections...`);

    const lineSt = { bytes: 0, chunks: 0, connections: 0, closedByRelay: 0 };
    const pickleSt = { bytes: 0, chunks: 0, connections: 0, closedByRelay: 0 };
    const valid = [0, 1].flatMap((c) => [
      validSender(linePort, until, (seq) => {
        const ts = now();
        let s = '';
        for (let i = seq; i < seq + LINES_PER_WRITE; i++) s += `${VALID_PREFIX}.${c}.${i} ${i} ${ts}\n`;
        return { buf: Buffer.from(s, 'latin1'), n: LINES_PER_WRITE };
      }),
      validSender(picklePort, until, (seq) => {
        const ts = now();
        /** @type {Array<[string, number, number]>} */
        const items = [];
        for (let i = seq; i < seq + PICKLE_PER_FRAME; i++) items.push([`${VALID_PREFIX}p.${c}.${i}`, ts, i]);
        return { buf: pickleFrame(items), n: PICKLE_PER_FRAME };
      }),
    ]);
    const hostile = [0, 1].flatMap(() => [hostileSender(linePort, until, hostileLine, lineSt), hostileSender(picklePort, until, hostilePickle, pickleSt)]);
    const [validSent] = await Promise.all([Promise.all(valid).then((a) => a.reduce((x, y) => x + y, 0)), Promise.all(hostile)]);
    const sendSeconds = (Date.now() - t0) / 1000;
    const after = await invalidInput(adminPort);
    // what the relay says of itself when the senders stop: a stall shows as paused receivers or a full queue
    const state = await fetch(`http://127.0.0.1:${adminPort}/status`)
      .then((r) => r.json())
      .then(
        (/** @type {{ received: { total: number }, destinations: { name: string, pressure: string, state: string, queue: { length: number } }[] }} */ st) =>
          `received ${st.received.total}; ${st.destinations.map((d) => `${d.name} ${d.state}/${d.pressure}, queue ${d.queue.length}`).join('; ')}`,
        (/** @type {Error} */ err) => `unavailable: ${err.message}`,
      );

    opts.log(`sent ${validSent.toLocaleString('en-US')} valid datapoints; waiting for the sink to count them (up to ${DELIVERY_TIMEOUT_MS / 1000} s)...`);
    sink.expect(validSent);
    const final = (await sink.reached(DELIVERY_TIMEOUT_MS).catch(() => null)) ?? (await sink.stats());
    const cpu = cpuMicros(relay.pid) - cpuBefore;
    const peak = peakRssMiB(relay.pid);
    const relayAlive = relay.proc.exitCode === null && relay.proc.signalCode === null;

    /** @type {Record<string, number>} */
    const rejected = {};
    for (const r of new Set([...Object.keys(before), ...Object.keys(after)])) {
      const d = (after[r] ?? 0) - (before[r] ?? 0);
      if (d > 0) rejected[r] = d;
    }
    const rejectedTotal = Object.values(rejected).reduce((x, y) => x + y, 0);
    const delivered = final.datapoints;

    /** @type {Record<string, string | number>} */
    const details = {
      'fuzz seconds (hostile and valid traffic)': sendSeconds.toFixed(1),
      'valid datapoints sent / delivered / lost': `${validSent} / ${delivered} / ${validSent - delivered}`,
      'hostile bytes sent (line / pickle)': `${lineSt.bytes} / ${pickleSt.bytes}`,
      'hostile connections opened (line / pickle)': `${lineSt.connections} / ${pickleSt.connections}`,
      'hostile connections closed by the relay (line / pickle)': `${lineSt.closedByRelay} / ${pickleSt.closedByRelay}`,
      'rejected frames/lines (invalid_input_total)': rejectedTotal,
      'rejected frames/lines per second': Math.round(rejectedTotal / sendSeconds),
      'rejected by reason': Object.entries(rejected)
        .map(([r, n]) => `${r}=${n}`)
        .join(', '),
      'sink other datapoints (fz.bad.*, self-metrics)': final.otherDatapoints,
      'sink frame errors': final.frameErrors + final.truncatedFrames,
      'relay CPU s': (cpu / 1e6).toFixed(2),
      'relay peak RSS MiB': peak.toFixed(1),
      'relay still running': relayAlive ? 'yes' : `no (exit ${relay.proc.exitCode ?? relay.proc.signalCode})`,
      'relay /status when the senders stopped': state,
    };
    if (relay.stderr.trim() !== '') details['relay stderr (tail)'] = relay.stderr.trim().split('\n').slice(-3).join(' | ').slice(0, 600);
    return {
      name,
      metrics: validSent,
      seconds: sendSeconds,
      metricsPerSec: delivered / sendSeconds,
      cpuMicrosPerMetric: delivered > 0 ? cpu / delivered : NaN,
      peakRssMiB: peak,
      loss: validSent - delivered,
      details,
    };
  } finally {
    if (relay !== null) await relay.stop();
    await sink?.stop();
  }
}

module.exports = { name, run, bar, rounds: 1 };

if (require.main === module) {
  const { killAll } = require('../lib/children');
  run({ metrics: 0, timeoutMs: DELIVERY_TIMEOUT_MS, relayNodeArgs: [], log: (m) => process.stderr.write(`[fuzz] ${m}\n`) })
    .then((r) => {
      console.log(`fuzz: ${r.details?.['fuzz seconds (hostile and valid traffic)']} s, valid ${int(r.metricsPerSec)} datapoints/s delivered, relay CPU ${r.cpuMicrosPerMetric.toFixed(2)} us per valid datapoint`);
      for (const [k, v] of Object.entries(r.details ?? {})) console.log(`  ${k}: ${v}`);
      const ok = r.loss === 0 && r.details?.['relay still running'] === 'yes';
      console.log(ok ? 'PASS: zero valid datapoints lost' : `FAIL: ${r.loss} valid datapoints lost${r.details?.['relay still running'] === 'yes' ? '' : ', relay died'}`);
      process.exitCode = ok ? 0 : 1;
    })
    .catch((err) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      killAll();
      process.exitCode = 1;
    });
}

/** @param {number} n */
function int(n) {
  return Math.round(n).toLocaleString('en-US');
}

/**
 * GET /: the live status page, one self-contained HTML document (no CDN, no
 * framework: it ships in the package and works offline). It polls /status
 * every second, keeps the last five minutes in the browser, and draws them as
 * SVG lines. Destinations are red when down, amber when stalled or full.
 * Every row keeps the states it has shown in data-history, and script errors
 * are written into #errors: both are what the headless-browser test reads.
 */
export const STATUS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>carbon-fanout</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
  h1 { font-size: 1.3em; margin: 0 0 .2em; } h2 { font-size: 1.05em; margin: 1.4em 0 .4em; }
  .meta { color: #666; } .meta b { color: #222; }
  table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .25em .6em; border-bottom: 1px solid #ddd; }
  th { font-weight: 600; background: #f5f5f5; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
  tr.up td:first-child { border-left: 6px solid #2e7d32; } tr.down td:first-child { border-left: 6px solid #c62828; }
  tr.stalled td:first-child, tr.full td:first-child { border-left: 6px solid #f9a825; }
  tr.down { background: #fdecea; } tr.stalled, tr.full { background: #fff8e1; }
  .charts { display: flex; flex-wrap: wrap; gap: 1em; } .chart { flex: 1 1 28em; }
  svg { width: 100%; height: 120px; background: #fafafa; border: 1px solid #e5e5e5; }
  .legend span { margin-right: 1em; white-space: nowrap; } .legend i { display: inline-block; width: .8em; height: .8em; margin-right: .3em; }
  #errors:empty { display: none; } #errors { color: #c62828; white-space: pre-wrap; }
  code { font-size: .95em; }
</style>
</head>
<body>
<h1>carbon-fanout <span id="version"></span></h1>
<div class="meta">state <b id="state">loading</b> · up <b id="uptime">-</b> · config <b id="hash">-</b> · received <b id="received">0</b> (<b id="receivedRate">0</b>/s) · connections <b id="connections">0</b> · polls <b id="polls">0</b></div>
<pre id="errors"></pre>
<div class="charts">
  <div class="chart"><h2>Datapoints per second: in, and sent per destination</h2><svg id="chart-rate" viewBox="0 0 600 120" preserveAspectRatio="none"></svg><div class="legend" id="legend-rate"></div></div>
  <div class="chart"><h2>Queue depth and spool backlog (datapoints)</h2><svg id="chart-queue" viewBox="0 0 600 120" preserveAspectRatio="none"></svg><div class="legend" id="legend-queue"></div></div>
</div>
<h2>Destinations</h2>
<table><thead><tr><th>name</th><th>peer</th><th>state</th><th>queue</th><th>sent/s</th><th>dropped/s</th><th>sent</th><th>dropped</th><th>spool</th><th>last error</th></tr></thead><tbody id="destinations"></tbody></table>
<h2>Groups</h2><div id="groups">none</div>
<h2>Listeners</h2><div id="listeners"></div>
<h2>Sources</h2><div id="sources">none</div>
<script>
"use strict";
const KEEP = 300;
const COLORS = ['#1565c0', '#2e7d32', '#6a1b9a', '#ef6c00', '#00838f', '#ad1457', '#4e342e', '#9e9d24'];
const history = [];
const shown = new Map();
let polls = 0;
const $ = (id) => document.getElementById(id);
window.addEventListener('error', (e) => { $('errors').textContent += 'error: ' + e.message + '\\n'; });
window.addEventListener('unhandledrejection', (e) => { $('errors').textContent += 'rejection: ' + String(e.reason) + '\\n'; });
function text(s) { const d = document.createElement('div'); d.textContent = String(s); return d.innerHTML; }
function fmt(n) { return n >= 1e6 ? (n / 1e6).toFixed(2) + 'M' : n >= 1e4 ? (n / 1e3).toFixed(1) + 'k' : String(Math.round(n * 10) / 10); }
function duration(s) { const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60); return (h ? h + 'h ' : '') + (h || m ? m + 'm ' : '') + (s % 60) + 's'; }
function stateOf(d) { return !d.healthy ? (d.pressure === 'stalled' ? 'stalled' : 'down') : d.pressure === 'full' ? 'full' : 'up'; }
function draw(svgId, legendId, series) {
  const svg = $(svgId);
  let max = 1;
  for (const s of series) for (const v of s.values) if (v > max) max = v;
  const w = 600, h = 120, n = Math.max(2, KEEP);
  svg.innerHTML = series.map((s, i) => {
    const pts = s.values.map((v, k) => ((n - s.values.length + k) * w / (n - 1)).toFixed(1) + ',' + (h - 4 - (v / max) * (h - 8)).toFixed(1)).join(' ');
    return '<polyline fill="none" stroke-width="1.5" stroke="' + COLORS[i % COLORS.length] + '" data-series="' + text(s.name) + '" points="' + pts + '"></polyline>';
  }).join('');
  $(legendId).innerHTML = series.map((s, i) => '<span><i style="background:' + COLORS[i % COLORS.length] + '"></i>' + text(s.name) + ' ' + fmt(s.values.at(-1) || 0) + '</span>').join('') + '<span>max ' + fmt(max) + '</span>';
}
function render(s) {
  $('version').textContent = s.version;
  $('state').textContent = s.state;
  $('uptime').textContent = duration(s.uptimeSeconds);
  $('hash').textContent = s.config.hash;
  $('received').textContent = s.received.total;
  $('receivedRate').textContent = fmt(s.received.perSecond);
  $('connections').textContent = s.received.activeConnections;
  $('polls').textContent = polls;
  history.push(s);
  if (history.length > KEEP) history.shift();
  const names = s.destinations.map((d) => d.name);
  const rate = [{ name: 'in', values: history.map((h) => h.received.perSecond) }].concat(names.map((n) => ({ name: n + ' sent', values: history.map((h) => (h.destinations.find((d) => d.name === n) || { sent: { perSecond: 0 } }).sent.perSecond) })));
  draw('chart-rate', 'legend-rate', rate);
  const depth = names.map((n) => ({ name: n, values: history.map((h) => { const d = h.destinations.find((x) => x.name === n); return d ? d.queue.length + ((d.spool && d.spool.pending) || 0) : 0; }) }));
  draw('chart-queue', 'legend-queue', depth);
  $('destinations').innerHTML = s.destinations.map((d) => {
    const st = stateOf(d);
    const seen = (shown.get(d.name) || []).concat(st);
    shown.set(d.name, seen);
    const spool = d.spool ? fmt(d.spool.pending || 0) + ' (' + fmt(d.spool.bytes || 0) + ' B)' : '-';
    const err = d.lastError ? text(d.lastError.reason) + ' <span class="meta">' + text(d.lastError.at) + '</span>' : '';
    return '<tr id="dest-' + text(d.name) + '" class="' + st + '" data-history="' + seen.join(',') + '"><td>' + text(d.name) + '</td><td><code>' + text(d.peer) + '</code></td><td>' + st + ' (' + text(d.state) + ')</td>' +
      '<td class="num">' + fmt(d.queue.length) + ' / ' + fmt(d.queue.capacity) + '</td><td class="num">' + fmt(d.sent.perSecond) + '</td><td class="num">' + fmt(d.dropped.perSecond) + '</td>' +
      '<td class="num">' + d.sent.total + '</td><td class="num">' + d.dropped.total + '</td><td class="num">' + spool + '</td><td>' + err + '</td></tr>';
  }).join('');
  $('groups').innerHTML = s.groups.length === 0 ? 'none' : s.groups.map((g) => '<div><b>' + text(g.name) + '</b>: ' + g.members.map((m) => '<span class="' + (m.healthy ? 'up' : 'down') + '">' + text(m.name) + (m.healthy ? '' : ' (down)') + '</span>').join(', ') + '</div>').join('');
  $('listeners').innerHTML = s.listeners.map((l) => '<code>' + text(l.name) + ' :' + l.port + '</code>').join(' · ');
  $('sources').innerHTML = s.sources.length === 0 ? 'none' : s.sources.map((x) => '<div><b>' + text(x.name) + '</b> (' + text(x.type) + '): ' + Object.entries(x.counters).map(([k, v]) => text(k) + ' ' + v).join(', ') + '</div>').join('');
}
async function poll() {
  try {
    const res = await fetch('status', { cache: 'no-store' });
    if (!res.ok) throw new Error('/status answered ' + res.status);
    polls++;
    render(await res.json());
  } catch (e) {
    $('state').textContent = 'unreachable: ' + e.message;
  } finally {
    setTimeout(poll, 1000);
  }
}
poll();
</script>
</body>
</html>
`;

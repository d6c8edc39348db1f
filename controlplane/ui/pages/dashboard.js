// Dashboard: active transfers, bytes/s per protocol (deltas of /metrics), boot events of the
// last hour as a chart, the server's listeners, and what needs attention.
import * as api from '../api.js';
import { h, fill, bytes, rate } from '../dom.js';

const POLL_MS = 2000;
const BUCKET = 300; // seconds per bar
const PROTOS = ['dhcp', 'tftp', 'http'];

/** Prometheus text → Map("name{labels}" → number). */
export function parseMetrics(text) {
  const m = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    const v = Number(line.slice(at + 1));
    if (!Number.isNaN(v)) m.set(line.slice(0, at), v);
  }
  return m;
}

/** The sum of every series of `name` whose labels contain `label` (e.g. protocol="tftp"). */
function sum(m, name, label = '') {
  let n = 0;
  for (const [k, v] of m) {
    const base = k.split('{')[0];
    if ((base === name || base === `${name}_total`) && k.includes(label)) n += v;
  }
  return n;
}

function stat(label, value, sub) {
  return h('div', { class: 'stat' }, h('div', { class: 'stat-label' }, label), h('div', { class: 'stat-value' }, value), sub ? h('div', { class: 'muted small' }, sub) : null);
}

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs, ...kids) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  el.append(...kids);
  return el;
}

/** Stacked bars of boot events per 5 minutes over the last hour. */
function chart(boots, now) {
  const n = 3600 / BUCKET;
  const buckets = Array.from({ length: n }, () => ({ dhcp: 0, tftp: 0, http: 0 }));
  for (const b of boots) {
    const i = n - 1 - Math.floor((now - b.time) / BUCKET);
    if (i >= 0 && i < n && buckets[i][b.protocol] !== undefined) buckets[i][b.protocol]++;
  }
  const max = Math.max(1, ...buckets.map((b) => b.dhcp + b.tftp + b.http));
  const W = 600, H = 140, gap = 6, bw = W / n - gap;
  const total = buckets.reduce((s, b) => s + b.dhcp + b.tftp + b.http, 0);
  const g = svg('svg', { viewBox: `0 0 ${W} ${H + 18}`, class: 'chart', role: 'img', 'aria-label': `${total} boot events in the last hour, per 5 minutes` });
  buckets.forEach((b, i) => {
    let y = H;
    const x = i * (W / n) + gap / 2;
    for (const p of PROTOS) {
      const hgt = (b[p] / max) * (H - 4);
      if (!hgt) continue;
      y -= hgt;
      g.append(svg('rect', { x, y, width: bw, height: hgt, class: `bar-${p}` }, svg('title', {}, `${b[p]} ${p.toUpperCase()}`)));
    }
  });
  g.append(svg('line', { x1: 0, x2: W, y1: H, y2: H, class: 'axis' }));
  g.append(svg('text', { x: 0, y: H + 14, class: 'tick' }, '−60 min'));
  g.append(svg('text', { x: W, y: H + 14, class: 'tick', 'text-anchor': 'end' }, 'now'));
  g.append(svg('text', { x: 0, y: 10, class: 'tick' }, `max ${max}`));
  return { el: g, total };
}

export async function render(main, { events }) {
  const cards = h('div', { class: 'stats' });
  const chartBox = h('div', { class: 'chart-box' });
  const warnings = h('ul', { class: 'warnings' });
  const server = h('div');
  const legend = h('p', { class: 'legend small' }, PROTOS.map((p) => [h('span', { class: `key bar-${p}` }), ` ${p.toUpperCase()} `]));
  main.append(
    h('div', { class: 'page-head' }, h('h1', {}, 'Dashboard')),
    cards,
    h('div', { class: 'cols' },
      h('section', { class: 'card' }, h('h2', {}, 'Boot events, last hour'), chartBox, legend),
      h('section', { class: 'card' }, h('h2', {}, 'Warnings'), warnings)),
    h('section', { class: 'card' }, h('h2', {}, 'Server'), server));

  const info = await api.get('/server');
  let images = await api.get('/images');
  let boots = await api.get('/boots?limit=1000');
  let clients = 0;
  let prev = null;
  let status = null;
  let speeds = { tftp: 0, http: 0 };

  const L = info.listeners;
  fill(server, h('dl', { class: 'facts' },
    [['Version', `fleetboot ${info.version}`], ['Driver', `${info.driver}, ${info.cores} core${info.cores === 1 ? '' : 's'}`],
      ['TFTP', L.tftp || 'off'], ['HTTP', L.http || 'off'], ['Admin', L.admin || 'off'],
      ['proxyDHCP', L.dhcp || 'off'], ['PXE (4011)', L.pxe || 'off'], ['Metrics', L.metrics || 'behind login, on the admin port'],
      ['Boot URLs carry', info.server_addr || 'the address each request arrived at'], ['Data dir', info.data_dir],
      ['Bootloaders', info.bootloaders.map((b) => `${b.name} (${bytes(b.size)}${b.origin === 'embedded' ? '' : `, ${b.origin}`})`).join(', ') || 'none']]
      .map(([k, v]) => [h('dt', {}, k), h('dd', { class: /^\d|:/.test(v) ? 'mono' : '' }, v)])));

  function drawWarnings() {
    const w = [];
    for (const b of info.missing_bootloaders) w.push(['err', `Bootloader ${b.name} is missing: ${b.firmware} clients cannot boot.`]);
    for (const i of images.filter((x) => x.status === 'error')) w.push(['err', [h('a', { href: '#/images' }, i.path), ` could not be indexed: ${i.error || 'error'}`]]);
    const nn = images.filter((x) => x.status === 'needs_netboot').length;
    if (nn) w.push(['warn', [`${nn} image${nn > 1 ? 's need' : ' needs'} netboot files: `, h('a', { href: '#/images' }, 'fetch them')]]);
    if (status) {
      const s = status;
      if (s.dhcp_malformed) w.push(['warn', `${s.dhcp_malformed} malformed DHCP requests.`]);
      if (L.dhcp == null) w.push(['info', 'proxyDHCP is off: machines need their DHCP server to point at this server.']);
      if (s.events_dropped) w.push(['warn', `${s.events_dropped} boot events were dropped (the control plane lagged).`]);
      if (s.tftp_busy || s.http_busy) w.push(['warn', `Refused at capacity: ${s.tftp_busy} TFTP, ${s.http_busy} HTTP.`]);
      if (s.tftp_per_ip_refused || s.http_per_ip_refused) w.push(['warn', `Refused over a per-source limit: ${s.tftp_per_ip_refused} TFTP, ${s.http_per_ip_refused} HTTP.`]);
      if (s.tftp_unanswered || s.tftp_unreachable) w.push(['warn', `TFTP transfers abandoned: ${s.tftp_unanswered} unanswered, ${s.tftp_unreachable} unreachable.`]);
      if (s.clients_refused_source || s.clients_refused_full) w.push(['warn', `New clients refused: ${s.clients_refused_source} over a source's budget, ${s.clients_refused_full} with the table full.`]);
      if (s.admin_refused) w.push(['warn', `${s.admin_refused} admin connections refused at the cap.`]);
    }
    const failing = boots.filter((b) => b.time > Date.now() / 1000 - 3600 && b.outcome !== 'complete');
    const dhcpFail = failing.filter((b) => b.protocol === 'dhcp').length;
    if (dhcpFail) w.push(['err', `${dhcpFail} DHCP answers failed in the last hour.`]);
    const other = failing.length - dhcpFail;
    if (other) w.push(['warn', [`${other} transfers failed or were refused in the last hour (`, h('a', { href: '#/live' }, 'live log'), ').']]);
    fill(warnings, w.length ? w.map(([k, t]) => h('li', { class: k }, h('span', { class: `badge ${k}` }, k === 'err' ? 'error' : k === 'warn' ? 'warning' : 'note'), ' ', t))
      : h('li', { class: 'ok' }, h('span', { class: 'badge ok' }, 'ok'), ' Nothing needs attention.'));
  }

  function drawChart() {
    const now = Date.now() / 1000;
    boots = boots.filter((b) => b.time > now - 3600);
    const c = chart(boots, now);
    fill(chartBox, c.el);
    return c.total;
  }

  function drawCards() {
    const s = status || {};
    const ready = images.filter((i) => i.status === 'ready').length;
    const scripts = boots.filter((b) => b.protocol === 'http' && /\.ipxe/.test(b.object)).length;
    fill(cards,
      stat('Active TFTP transfers', s.tftp_active ?? '–'),
      stat('HTTP connections', s.http_connections ?? '–'),
      stat('TFTP', rate(speeds.tftp), 'sent, last 2 s'),
      stat('HTTP', rate(speeds.http), 'sent, last 2 s'),
      stat('Boot events, 1 h', boots.length, `${scripts} boot scripts served`),
      stat('Clients', clients.toLocaleString(), h('a', { href: '#/clients' }, 'all clients')),
      stat('Images', `${ready} / ${images.length}`, 'ready'));
  }

  async function poll() {
    const [st, text, cl] = await Promise.all([
      api.get('/status'), api.metrics().catch(() => ''), api.request('GET', '/clients?limit=0')]);
    status = st;
    clients = Number(cl.headers.get('x-total-count') || 0);
    const m = parseMetrics(text);
    const now = performance.now();
    const cur = { t: now, tftp: sum(m, 'fleetboot_bytes', 'protocol="tftp"'), http: sum(m, 'fleetboot_bytes', 'protocol="http"') };
    if (prev && now > prev.t) {
      for (const p of ['tftp', 'http']) speeds[p] = Math.max(0, ((cur[p] - prev[p]) * 1000) / (now - prev.t));
    }
    prev = cur;
    drawCards();
    drawWarnings();
  }

  drawChart();
  await poll();
  const timer = setInterval(() => poll().catch(() => {}), POLL_MS);
  const chartTimer = setInterval(drawChart, 30000);
  const offs = [
    events.on('boot', (b) => { boots.push(b); drawChart(); drawCards(); }),
    events.on('images', async () => { images = await api.get('/images').catch(() => images); drawCards(); drawWarnings(); }),
  ];
  return () => { clearInterval(timer); clearInterval(chartTimer); offs.forEach((off) => off()); };
}

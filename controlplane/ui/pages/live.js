// Live log: boot events as they happen (SSE), filtered by MAC and protocol, pausable; and one
// client's boots as timelines: DHCP → TFTP → script → kernel → initrd.
import * as api from '../api.js';
import { h, fill, field, badge, bytes, when, toast } from '../dom.js';

const KEEP = 500;

export async function render(main, ctx) {
  return ctx.args[0] ? timeline(main, ctx, ctx.args[0]) : log(main, ctx);
}

function macLink(mac) {
  return mac ? h('a', { class: 'mono', href: `#/live/${encodeURIComponent(mac)}`, title: 'Boot timeline of this client' }, mac)
    : h('span', { class: 'muted' }, '—');
}

async function log(main, { events, params }) {
  const mac = h('input', { type: 'search', value: params.get('mac') || '', placeholder: 'aa:bb:…', 'aria-label': 'Filter by MAC', autocomplete: 'off' });
  const proto = h('select', { 'aria-label': 'Protocol' }, h('option', { value: '' }, 'All protocols'),
    ['dhcp', 'tftp', 'http'].map((p) => h('option', { value: p }, p.toUpperCase())));
  const pause = h('button', { type: 'button', 'aria-pressed': 'false' }, 'Pause');
  const clear = h('button', { type: 'button', class: 'ghost' }, 'Clear');
  const waiting = h('span', { class: 'muted', 'aria-live': 'polite' });
  const tbody = h('tbody');
  main.append(
    h('div', { class: 'page-head' }, h('h1', {}, 'Live log')),
    h('div', { class: 'toolbar' }, mac, proto, pause, clear, waiting),
    h('div', { class: 'table-wrap' }, h('table', { class: 'data live' },
      h('caption', { class: 'sr-only' }, 'Boot events, newest first'),
      h('thead', {}, h('tr', {}, ['Time', 'Protocol', 'MAC', 'From', 'Object', 'Bytes', 'Duration', 'Outcome', 'Detail'].map((t) => h('th', { scope: 'col' }, t)))),
      tbody)));

  const row = (b) => {
    const tr = h('tr', { class: b.outcome === 'complete' ? '' : 'failed' },
      h('td', { class: 'small nowrap' }, when(b.time)),
      h('td', {}, badge(b.protocol.toUpperCase(), `proto-${b.protocol}`)),
      h('td', {}, macLink(b.mac)),
      h('td', { class: 'mono small' }, b.client),
      h('td', { class: 'mono small clip', title: b.object }, b.object),
      h('td', { class: 'num' }, b.bytes ? bytes(b.bytes) : ''),
      h('td', { class: 'num' }, b.protocol === 'dhcp' ? '' : `${b.duration_ms} ms`),
      h('td', {}, badge(b.outcome.replace('_', ' '), b.outcome === 'complete' ? 'ok' : 'err')),
      h('td', { class: 'small clip', title: `${b.detail || ''}${b.image ? ` → ${b.image}` : ''}` }, b.detail || '', b.image ? ` → ${b.image}` : ''));
    tr.dataset.mac = (b.mac || '').toLowerCase();
    tr.dataset.proto = b.protocol;
    return tr;
  };
  const visible = (tr) => {
    const m = mac.value.trim().toLowerCase();
    return (!m || tr.dataset.mac.includes(m)) && (!proto.value || tr.dataset.proto === proto.value);
  };
  const filter = () => { for (const tr of tbody.rows) if (tr.dataset.proto) tr.hidden = !visible(tr); };
  mac.addEventListener('input', filter);
  proto.addEventListener('change', filter);

  let paused = false;
  let held = [];
  const add = (list) => {
    const rows = list.map(row);
    rows.forEach((tr) => { tr.hidden = !visible(tr); });
    tbody.querySelector('td.empty')?.parentElement.remove();
    tbody.prepend(...rows.reverse());
    while (tbody.rows.length > KEEP) tbody.lastElementChild.remove();
  };
  pause.addEventListener('click', () => {
    paused = !paused;
    pause.setAttribute('aria-pressed', String(paused));
    pause.textContent = paused ? 'Resume' : 'Pause';
    if (!paused) { add(held); held = []; waiting.textContent = ''; }
  });
  clear.addEventListener('click', () => { tbody.replaceChildren(); held = []; waiting.textContent = ''; });

  const history = await api.get('/boots?limit=200');
  add(history.reverse());
  if (!tbody.rows.length) tbody.append(h('tr', {}, h('td', { colspan: 9, class: 'empty' }, 'Waiting for boot events…')));
  const offs = [
    events.on('boot', (b) => {
      if (paused) {
        held.push(b);
        if (held.length > KEEP) held.shift();
        waiting.textContent = `${held.length} new event${held.length === 1 ? '' : 's'} while paused`;
      } else add([b]);
    }),
    events.on('lagged', (l) => toast(`The live log fell behind: ${l.missed} events were skipped.`, 'error')),
  ];
  return () => offs.forEach((off) => off());
}

// ---- timeline --------------------------------------------------------------------------
const STAGES = ['DHCP', 'TFTP', 'Script', 'Kernel', 'Initrd'];

/** Which step of a boot a record is. */
export function stage(b) {
  if (b.protocol === 'dhcp') return 'DHCP';
  if (b.protocol === 'tftp') return 'TFTP';
  const o = b.object.toLowerCase();
  const file = o.split('?')[0].split('/').pop();
  if (file.endsWith('.ipxe') || o.includes('boot.ipxe')) return 'Script';
  if (/vmlinu|linux|kernel|bzimage|wimboot|\.efi$|\.kpxe$/.test(file)) return 'Kernel';
  if (/initrd|initramfs|\.img$|\.gz$|\.xz$|\.zst$|\.cpio|\.wim$|bcd$|\.sdi$/.test(file)) return 'Initrd';
  return 'Files';
}

/** Oldest-first records → boots: a new one after a 2-minute gap, or DHCP after a kernel. */
export function sessions(records) {
  const out = [];
  let cur = null;
  for (const b of records) {
    const s = stage(b);
    if (!cur || b.time - cur.last > 120 || (s === 'DHCP' && (cur.seen.has('Kernel') || cur.seen.has('Initrd')))) {
      cur = { start: b.time, last: b.time, records: [], seen: new Set() };
      out.push(cur);
    }
    cur.records.push(b);
    cur.seen.add(s);
    cur.last = b.time;
  }
  return out;
}

function drawSession(s) {
  const steps = STAGES.map((name) => {
    const recs = s.records.filter((b) => stage(b) === name);
    const failed = recs.length && recs.every((b) => b.outcome !== 'complete');
    const state = !recs.length ? 'pending' : failed ? 'failed' : 'done';
    const first = recs[0];
    return h('li', { class: `step ${state}`, dataset: { stage: name } },
      h('span', { class: 'dot', 'aria-hidden': 'true' }, state === 'done' ? '✓' : state === 'failed' ? '✗' : '·'),
      h('span', { class: 'step-name' }, name),
      h('span', { class: 'sr-only' }, state === 'pending' ? 'not reached' : state),
      first ? h('span', { class: 'step-detail small muted' },
        `+${first.time - s.start} s`, recs.length > 1 ? ` · ${recs.length}×` : '',
        h('br'), h('span', { class: 'mono clip', title: first.object }, first.object.split('/').pop() || first.object),
        recs.some((b) => b.bytes) ? ` · ${bytes(recs.reduce((n, b) => n + b.bytes, 0))}` : '') : null);
  });
  const other = s.records.filter((b) => stage(b) === 'Files').length;
  const image = s.records.find((b) => b.image)?.image;
  return h('section', { class: 'card boot' },
    h('h3', {}, when(s.start), image ? ` · ${image}` : '', other ? h('span', { class: 'muted small' }, ` · ${other} other file${other > 1 ? 's' : ''}`) : ''),
    h('ol', { class: 'timeline', 'aria-label': `Boot at ${when(s.start)}` }, steps),
    h('details', {}, h('summary', {}, `${s.records.length} events`),
      h('ul', { class: 'events small' }, s.records.map((b) => h('li', {},
        `${when(b.time)} `, badge(b.protocol.toUpperCase(), `proto-${b.protocol}`), ` ${b.object} `,
        badge(b.outcome.replace('_', ' '), b.outcome === 'complete' ? 'ok' : 'err'), b.detail ? ` ${b.detail}` : '')))));
}

async function timeline(main, { events, go }, mac) {
  const input = h('input', { name: 'mac', value: mac, autocomplete: 'off', class: 'mono' });
  const form = h('form', { class: 'toolbar' }, field('MAC address', input), h('button', { type: 'submit' }, 'Show'));
  form.addEventListener('submit', (e) => { e.preventDefault(); go(`#/live/${encodeURIComponent(input.value.trim())}`); });
  const list = h('div', { class: 'boots', 'aria-live': 'polite' });
  main.append(
    h('p', {}, h('a', { href: '#/live' }, '← Live log'), ' · ', h('a', { href: `#/clients/${encodeURIComponent(mac)}` }, 'Client details')),
    h('div', { class: 'page-head' }, h('h1', {}, 'Boot timeline ', h('span', { class: 'mono' }, mac))),
    form, list);
  let records = (await api.get(`/clients/${encodeURIComponent(mac)}/boots?limit=300`)).reverse();
  const draw = () => {
    const all = sessions(records).reverse().slice(0, 20);
    if (!all.length) fill(list, h('p', { class: 'muted' }, 'No boot recorded for this machine yet; this page updates as it boots.'));
    else fill(list, all.map(drawSession));
  };
  draw();
  const off = events.on('boot', (b) => {
    if ((b.mac || '').toLowerCase() !== mac.toLowerCase()) return;
    records.push(b);
    if (records.length > 1000) records = records.slice(-500);
    draw();
  });
  return off;
}

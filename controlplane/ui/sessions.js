// Multicast sessions: one file sent to a group for any number of receivers at once. The table
// (from `multicast` events, which come on a start, a change of state or another receiver
// done; the byte and chunk counts move without events, so it is polled lightly while a
// session is active), each session's receivers on expand, cancel, and the “Send a file…”
// dialog, which ends with the command a receiver runs.
import * as api from './api.js';
import { h, fill, field, badge, bytes, dialog, toast } from './dom.js';

const POLL_MS = 2000;
const ACTIVE = new Set(['preparing', 'waiting', 'sending']);
const STATES = { preparing: 'info', waiting: 'warn', sending: 'info', finished: 'ok', failed: 'err' };
const VERDICTS = { receiving: 'info', fetching: 'warn', done: 'ok', failed: 'err' };
const enc = encodeURIComponent;

export const isActive = (s) => ACTIVE.has(s.state);
export const stateBadge = (s) => badge(s.state, STATES[s.state]);

/** `group:port`, an IPv6 group in brackets. */
export function groupPort(s) {
  return s.group.includes(':') ? `[${s.group}]:${s.port}` : `${s.group}:${s.port}`;
}

export function mbit(n) {
  return `${n.toFixed(n < 10 ? 1 : 0)} Mbit/s`;
}

/** A word for a POSIX shell: quoted when it holds anything but safe characters. */
function shellWord(s) {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** What a machine runs to receive `s` into a file named like the one sent. */
export function receiveCommand(s) {
  return `fleetboot-receive ${shellWord(s.url)} --output ${shellWord(s.path.split('/').pop() || 'received')}`;
}

let copies = 0;
/**
 * A labelled read-only text with a Copy button. The clipboard API needs a secure context (an
 * https or localhost origin): elsewhere the text is selected for Ctrl+C.
 */
export function copyable(label, text) {
  const input = h('input', { id: `copy${++copies}`, readonly: true, value: text, class: 'mono', spellcheck: 'false' });
  const button = h('button', { type: 'button', class: 'small', 'aria-label': `Copy the ${label.toLowerCase()}` }, 'Copy');
  button.addEventListener('click', async () => {
    input.select();
    try {
      await navigator.clipboard.writeText(text);
      toast(`${label} copied.`);
    } catch {
      toast('Selected: press Ctrl+C to copy.');
    }
  });
  return h('div', { class: 'field copy' }, h('label', { for: input.id }, label), h('div', { class: 'copy-row' }, input, button));
}

/** Receivers done / all, and a bar of every receiver's chunks together. */
export function progressOf(s) {
  const done = s.receivers.filter((r) => r.verdict === 'done').length;
  const chunks = s.receivers.reduce((n, r) => n + r.chunks_done, 0);
  const all = s.chunks * s.receivers.length;
  return h('div', { class: 'progress-cell' },
    h('span', { class: 'small' }, `${done} of ${s.receivers.length} done`, s.min_receivers && (s.state === 'waiting' || s.state === 'preparing') ? h('span', { class: 'muted' }, ` · waits for ${s.min_receivers}`) : null),
    all ? h('progress', { max: all, value: chunks, 'aria-label': `Chunks received by all receivers of ${s.path}` }) : null);
}

function receiverRows(s) {
  if (!s.receivers.length) return h('tr', {}, h('td', { colspan: 7, class: 'empty' }, 'No receiver has reported yet.'));
  return s.receivers.map((r) => h('tr', { dataset: { name: r.name } },
    h('td', { class: 'mono' }, r.name),
    h('td', { class: 'mono small' }, r.address),
    h('td', { class: 'chunks' }, h('progress', { max: s.chunks || 1, value: r.chunks_done, 'aria-label': `Chunks of ${r.name}` }),
      h('span', { class: 'small num' }, ` ${r.chunks_done} / ${s.chunks}`)),
    h('td', { class: 'num' }, `${(r.loss * 100).toFixed(1)} %`),
    h('td', {}, badge(r.verdict, VERDICTS[r.verdict]), r.message ? h('div', { class: 'muted small' }, r.message) : null),
    h('td', {}, r.unicast ? badge('HTTP', 'warn') : h('span', { class: 'muted' }, 'no')),
    h('td', { class: 'small nowrap' }, `${Math.round(r.last_report_secs)} s ago`)));
}

const COLUMNS = ['File', 'Group', 'State', 'Rate', 'Sent', 'Receivers', 'Actions'];

/** One session: its row and, below, its receivers (hidden until expanded). */
function sessionRow(first, admin, cancel) {
  const id = `session-${first.id}`;
  const cells = { state: h('td'), rate: h('td', { class: 'num' }), sent: h('td', { class: 'num' }), receivers: h('td') };
  const toggle = h('button', { type: 'button', class: 'small', 'aria-expanded': 'false', 'aria-controls': id,
    'aria-label': `Receivers of ${first.path}` }, 'Receivers');
  const stop = admin ? h('button', { type: 'button', class: 'small danger', 'aria-label': `Cancel the session of ${first.path}` }, 'Cancel') : null;
  const rx = h('tbody');
  const detail = h('tr', { class: 'detail', id, hidden: true }, h('td', { colspan: COLUMNS.length },
    h('div', { class: 'detail-box' },
      copyable('Receiver command', receiveCommand(first)),
      h('div', { class: 'table-wrap' }, h('table', { class: 'data receivers' },
        h('caption', { class: 'sr-only' }, `Receivers of ${first.path}`),
        h('thead', {}, h('tr', {}, ['Name', 'Address', 'Chunks', 'Loss', 'Verdict', 'Unicast', 'Last report'].map((t) => h('th', { scope: 'col' }, t)))),
        rx)))));
  const row = h('tr', { dataset: { id: first.id } },
    h('td', {}, h('div', { class: 'name' }, first.path.split('/').pop()),
      h('div', { class: 'muted small' }, first.path, ' · ', h('span', { class: 'mono' }, first.id))),
    h('td', { class: 'mono small nowrap' }, groupPort(first), h('div', { class: 'muted' }, first.interface)),
    cells.state, cells.rate, cells.sent, cells.receivers,
    h('td', { class: 'actions' }, toggle, stop));
  toggle.addEventListener('click', () => {
    const open = detail.hidden;
    detail.hidden = !open;
    toggle.setAttribute('aria-expanded', String(open));
  });
  let current = first;
  stop?.addEventListener('click', () => cancel(current));
  return {
    nodes: [row, detail],
    update(s) {
      current = s;
      fill(cells.state, stateBadge(s), s.error ? h('div', { class: 'error small' }, s.error) : null);
      fill(cells.rate, isActive(s) ? mbit(s.rate_mbit) : h('span', { class: 'muted' }, '–'));
      fill(cells.sent, bytes(s.bytes_sent), h('div', { class: 'muted small' }, `of ${bytes(s.size)}`,
        s.repair_rounds ? ` · ${s.repair_rounds} repair round${s.repair_rounds === 1 ? '' : 's'}` : ''));
      fill(cells.receivers, progressOf(s));
      fill(rx, receiverRows(s));
      if (stop) stop.hidden = !isActive(s);
    },
  };
}

/**
 * The sessions card of the Deploys page: {el, stop}. Updates in place (rows keep focus and
 * their expanded state).
 */
export async function sessionsSection({ session, events }) {
  const admin = session.admin;
  const tbody = h('tbody');
  const rows = new Map();
  let order = null;
  const el = h('section', { class: 'card', 'aria-labelledby': 'sessions-title' },
    h('div', { class: 'section-head' }, h('h2', { id: 'sessions-title' }, 'Multicast sessions'),
      admin ? h('button', { type: 'button', onclick: () => sendDialog(upsertAll) }, 'Send a file…') : null),
    h('p', { class: 'muted small' }, 'A file of the data dir sent once to a group; receivers run ',
      h('code', {}, 'fleetboot-receive URL --output PATH'), '. Deploys start their own.'),
    h('div', { class: 'table-wrap' }, h('table', { class: 'data sessions' },
      h('caption', { class: 'sr-only' }, 'Multicast sessions, newest first'),
      h('thead', {}, h('tr', {}, COLUMNS.map((t) => h('th', { scope: 'col' }, t)))),
      tbody)));
  let sessions = new Map();

  function draw() {
    const list = [...sessions.values()].sort((a, b) => a.age_secs - b.age_secs);
    for (const [id] of rows) if (!sessions.has(id)) rows.delete(id);
    for (const s of list) {
      if (!rows.has(s.id)) rows.set(s.id, sessionRow(s, admin, cancel));
      rows.get(s.id).update(s);
    }
    const keys = list.map((s) => s.id).join();
    if (keys === order) return;
    order = keys;
    // Moving a row would take the focus from its buttons: only when sessions come or go.
    tbody.replaceChildren(...list.flatMap((s) => rows.get(s.id).nodes));
    if (!list.length) tbody.append(h('tr', {}, h('td', { colspan: COLUMNS.length, class: 'empty' }, 'No multicast session since the server started.')));
  }
  function upsertAll(...list) {
    for (const s of list) sessions.set(s.id, s);
    draw();
  }
  async function load() {
    sessions = new Map((await api.get('/multicast')).map((s) => [s.id, s]));
    draw();
  }
  async function cancel(s) {
    await dialog(`Cancel the session of ${s.path}?`,
      h('p', {}, 'The group hears the end; receivers not done fetch the rest over HTTP.'), {
        ok: 'Cancel session', danger: true, dismiss: 'Keep sending',
        submit: async () => { upsertAll(await api.del(`/multicast/${enc(s.id)}`)); toast(`Cancelled the session of ${s.path}.`); },
      });
  }

  await load();
  const off = events.on('multicast', (s) => upsertAll(s));
  // Counters move without events: poll while something is moving, not in a hidden tab.
  const timer = setInterval(() => {
    if (document.hidden || ![...sessions.values()].some(isActive)) return;
    load().catch(() => { /* the next tick retries; the live dot says when we are offline */ });
  }, POLL_MS);
  return { el, stop: () => { off(); clearInterval(timer); } };
}

/** The “Send a file…” dialog; `started(view)` gets the new session. */
export async function sendDialog(started) {
  const number = (name, attrs) => h('input', { name, type: 'number', inputmode: 'numeric', ...attrs });
  const body = h('div', {},
    field('File', h('input', { name: 'path', required: true, placeholder: 'disks/base.img', autocomplete: 'off', class: 'mono' }),
      'A path inside the data dir.'),
    h('p', { class: 'muted small' }, 'Empty fields take the server’s [multicast] settings.'),
    h('div', { class: 'form-grid two' },
      field('Group', h('input', { name: 'group', placeholder: 'default', autocomplete: 'off', class: 'mono' }), 'IPv4 or IPv6 multicast address.'),
      field('Port', number('port', { min: 1, max: 65535, placeholder: 'default' })),
      field('Interface', h('input', { name: 'interface', placeholder: 'the boot network’s', autocomplete: 'off' })),
      field('Rate, Mbit/s', number('rate_mbit', { min: 1, placeholder: 'default' }), 'A ceiling: slower receivers slow it down.'),
      field('Minimum receivers', number('min_receivers', { min: 0, placeholder: '1' }), 'Waits for them before sending.'),
      field('Longest wait, seconds', number('max_wait_secs', { min: 0, max: 86400, placeholder: '60' })),
      field('Slow receivers', h('select', { name: 'slow' },
        h('option', { value: '' }, 'default'),
        h('option', { value: 'wait' }, 'wait for them'),
        h('option', { value: 'unicast' }, 'send them to HTTP')))));
  let view = null;
  await dialog('Send a file to a multicast group', body, {
    ok: 'Start session',
    submit: async (d) => {
      const spec = { path: d.get('path').trim() };
      for (const k of ['group', 'interface', 'slow']) if (d.get(k).trim()) spec[k] = d.get(k).trim();
      for (const k of ['port', 'rate_mbit', 'min_receivers', 'max_wait_secs']) if (d.get(k) !== '') spec[k] = Number(d.get(k));
      view = await api.post('/multicast', spec);
    },
  });
  if (!view) return;
  started(view);
  await dialog(`Session ${view.id} started`, h('div', {},
    h('p', {}, 'Each receiver runs this (a file or a block device as the output):'),
    copyable('Receiver command', receiveCommand(view)),
    copyable('Manifest URL', view.url)), { ok: 'Close', dismiss: null });
}

// Deploys: a disk image written to many machines at once. Its machines boot fleetboot's deploy
// agent on their next network boot, receive the image from one multicast session straight to
// disk, and boot that disk from then on. The deploys table, the multicast sessions (deploys'
// and bare ones, from sessions.js); `#/deploys/<id>`: one deploy's machines. `deploy` events
// say when a deploy or one of its machines changes state; the session's counters are polled
// while it runs. Viewers see the same without the write buttons.
import * as api from '../api.js';
import { h, fill, field, badge, bytes, when, time, dialog, toast, throttle, debounce } from '../dom.js';
import { sessionsSection, stateBadge, groupPort, mbit } from '../sessions.js';

const POLL_MS = 2000;
const STATES = { running: 'info', done: 'ok', failed: 'err' };
const MACHINE_STATES = ['pending', 'receiving', 'done', 'failed'];
const MACHINE = { receiving: 'info', done: 'ok', failed: 'err' };
const DEFAULT_DISK = '/dev/sda';
const enc = encodeURIComponent;

export async function render(main, ctx) {
  return ctx.args[0] ? detail(main, ctx, ctx.args[0]) : list(main, ctx);
}

const running = (d) => d.state === 'running';

/** Machines by state, the states with none left out. */
function counts(d) {
  return h('span', { class: 'counts' }, `${d.clients.length} machine${d.clients.length === 1 ? '' : 's'}`,
    MACHINE_STATES.filter((s) => d.counts[s]).map((s) => [' ', badge(`${d.counts[s]} ${s}`, MACHINE[s])]));
}

/** The session's progress: state, bytes sent of the image, receivers done. */
function sessionProgress(d) {
  const s = d.multicast;
  if (!s) return h('span', { class: 'muted' }, running(d) ? 'starting' : 'over');
  const done = s.receivers.filter((r) => r.verdict === 'done').length;
  return h('div', { class: 'progress-cell' },
    h('span', { class: 'small' }, stateBadge(s), ` ${bytes(s.bytes_sent)} sent · ${done} of ${d.clients.length} received`),
    h('progress', { max: s.chunks * d.clients.length || 1, value: s.receivers.reduce((n, r) => n + r.chunks_done, 0),
      'aria-label': `Chunks received in deploy ${d.id}` }));
}

/** Cancels deploy `d` after asking; `done(view)` gets it cancelled. */
async function cancelDeploy(d, done) {
  await dialog(`Cancel deploy ${d.id}?`,
    h('p', {}, 'Its session stops. Machines not done boot what they booted before; those done keep their disk.'), {
      ok: 'Cancel deploy', danger: true, dismiss: 'Keep it',
      submit: async () => { done(await api.del(`/deploys/${d.id}`)); toast(`Deploy ${d.id} cancelled.`); },
    });
}

/** Calls `load` every POLL_MS while `busy()` and the tab is shown; returns the stop function. */
function poll(busy, load) {
  const timer = setInterval(() => {
    if (!document.hidden && busy()) load().catch(() => { /* the next tick retries */ });
  }, POLL_MS);
  return () => clearInterval(timer);
}

// ---- the list --------------------------------------------------------------------------
const COLUMNS = ['Deploy', 'Image', 'Machines', 'Disk', 'State', 'Session', 'Created'];

function deployRow(first, admin, cancel) {
  const cells = { counts: h('td'), state: h('td'), session: h('td') };
  const stop = admin ? h('button', { type: 'button', class: 'small danger', 'aria-label': `Cancel deploy ${first.id}` }, 'Cancel') : null;
  let current = first;
  stop?.addEventListener('click', () => cancel(current));
  const tr = h('tr', { dataset: { id: first.id } },
    h('td', { class: 'nowrap' }, h('a', { href: `#/deploys/${first.id}` }, `Deploy ${first.id}`)),
    h('td', { class: 'mono small' }, first.image),
    cells.counts,
    h('td', { class: 'mono small' }, first.disk),
    cells.state, cells.session,
    h('td', { class: 'small nowrap' }, time(first.created)),
    admin ? h('td', { class: 'actions' }, stop) : null);
  return {
    tr,
    update(d) {
      current = d;
      fill(cells.counts, counts(d), d.group ? h('div', { class: 'muted small' }, `group ${d.group}`) : null);
      fill(cells.state, badge(d.state, STATES[d.state]));
      fill(cells.session, sessionProgress(d));
      if (stop) stop.hidden = !running(d);
    },
  };
}

async function list(main, ctx) {
  const admin = ctx.session.admin;
  const cols = admin ? [...COLUMNS, 'Actions'] : COLUMNS;
  const tbody = h('tbody');
  const rows = new Map();
  let deploys = [];
  let order = null;
  const sessions = await sessionsSection(ctx);
  main.append(
    h('div', { class: 'page-head' }, h('h1', {}, 'Deploys')),
    h('p', { class: 'muted' }, 'The machines of a deploy boot fleetboot’s deploy agent on their next network boot, ',
      'write the image to their disk from one multicast session, then boot that disk.'),
    h('section', { class: 'card', 'aria-labelledby': 'deploys-title' },
      h('div', { class: 'section-head' }, h('h2', { id: 'deploys-title' }, 'Deploys'),
        admin ? h('button', { type: 'button', class: 'primary', onclick: () => newDeploy(load) }, 'New deploy…') : null),
      h('div', { class: 'table-wrap' }, h('table', { class: 'data deploys' },
        h('caption', { class: 'sr-only' }, 'Deploys, newest first'),
        h('thead', {}, h('tr', {}, cols.map((t) => h('th', { scope: 'col' }, t)))), tbody))),
    sessions.el);

  function draw() {
    const shown = [...deploys].reverse();
    for (const [id] of rows) if (!deploys.some((d) => d.id === id)) rows.delete(id);
    for (const d of shown) {
      if (!rows.has(d.id)) rows.set(d.id, deployRow(d, admin, (x) => cancelDeploy(x, load)));
      rows.get(d.id).update(d);
    }
    const keys = shown.map((d) => d.id).join();
    if (keys === order) return;
    order = keys;
    tbody.replaceChildren(...shown.map((d) => rows.get(d.id).tr));
    if (!shown.length) tbody.append(h('tr', {}, h('td', { colspan: cols.length, class: 'empty' }, 'No deploy yet.')));
  }
  async function load() {
    deploys = await api.get('/deploys');
    draw();
  }
  await load();
  const reload = throttle(() => load().catch((e) => toast(e.message, 'error')), 1000);
  const off = ctx.events.on('deploy', reload);
  const unpoll = poll(() => deploys.some(running), load);
  return () => { off(); unpoll(); sessions.stop(); };
}

// ---- one deploy ------------------------------------------------------------------------
async function detail(main, { session, events }, idText) {
  const id = Number(idText);
  const head = h('div', { class: 'page-head' });
  const facts = h('dl', { class: 'facts' });
  const tbody = h('tbody');
  main.append(
    h('p', {}, h('a', { href: '#/deploys' }, '← Deploys')),
    head, facts,
    h('h2', {}, 'Machines'),
    h('div', { class: 'table-wrap' }, h('table', { class: 'data machines' },
      h('caption', { class: 'sr-only' }, `Machines of deploy ${id}`),
      h('thead', {}, h('tr', {}, ['MAC', 'Name', 'State', 'Chunks', 'Started', 'Finished', 'Last report'].map((t) => h('th', { scope: 'col' }, t)))),
      tbody)));
  const names = new Map((await api.get('/clients')).map((c) => [c.mac.toLowerCase(), c.name]));
  let d = null;
  let cancelButton = null;

  function draw() {
    if (!cancelButton && session.admin) {
      cancelButton = h('button', { type: 'button', class: 'danger', 'aria-label': `Cancel deploy ${id}` }, 'Cancel deploy');
      cancelButton.addEventListener('click', () => cancelDeploy(d, (v) => { d = v; draw(); }));
      fill(head, h('h1', {}, `Deploy ${id} `, h('span', { id: 'deploy-state' })), h('div', { class: 'actions' }, cancelButton));
    } else if (!head.childElementCount) {
      fill(head, h('h1', {}, `Deploy ${id} `, h('span', { id: 'deploy-state' })));
    }
    fill(head.querySelector('#deploy-state'), badge(d.state, STATES[d.state]));
    if (cancelButton) cancelButton.hidden = !running(d);
    const s = d.multicast;
    fill(facts, [
      ['Image', h('span', { class: 'mono' }, d.image)],
      ['Disk', h('span', { class: 'mono' }, d.disk)],
      ['Machines', counts(d)],
      ['Group', d.group],
      ['Created', when(d.created)],
      ['Cancelled', d.cancelled && when(d.cancelled)],
      ['Session', s ? [sessionProgress(d), h('div', { class: 'muted small' },
        `${s.id} · ${groupPort(s)} · ${mbit(s.rate_mbit)} · ${bytes(s.size)}`)] : h('span', { class: 'muted' }, running(d) ? 'starting' : 'over')],
      ['Waits for', `${d.min_receivers ?? d.clients.length} receiver${(d.min_receivers ?? d.clients.length) === 1 ? '' : 's'}, `
        + (d.max_wait_secs != null ? `at most ${d.max_wait_secs} s` : 'at most the server’s default wait')],
      ['Times out', `${Math.round(d.timeout_secs / 60)} min after creation`],
    ].filter(([, v]) => v != null && v !== '').map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
    const received = new Map((s?.receivers || []).map((r) => [r.name.toLowerCase(), r]));
    fill(tbody, d.clients.map((c) => {
      const r = received.get(c.mac.toLowerCase());
      return h('tr', { dataset: { mac: c.mac } },
        h('td', { class: 'mono' }, h('a', { href: `#/clients/${enc(c.mac)}` }, c.mac)),
        h('td', {}, names.get(c.mac.toLowerCase()) || ''),
        h('td', {}, badge(c.state, MACHINE[c.state])),
        h('td', { class: 'chunks' }, r && s ? [h('progress', { max: s.chunks || 1, value: r.chunks_done, 'aria-label': `Chunks of ${c.mac}` }),
          h('span', { class: 'small num' }, ` ${r.chunks_done} / ${s.chunks}`)] : h('span', { class: 'muted' }, '–')),
        h('td', { class: 'small nowrap' }, c.started ? when(c.started) : ''),
        h('td', { class: 'small nowrap' }, c.finished ? when(c.finished) : ''),
        h('td', { class: 'small' }, c.message || ''));
    }));
  }
  async function load() {
    d = await api.get(`/deploys/${enc(idText)}`);
    draw();
  }
  await load();
  const reload = throttle(() => load().catch((e) => toast(e.message, 'error')), 1000);
  const off = events.on('deploy', (e) => { if (e.id === id) reload(); });
  const unpoll = poll(() => running(d), load);
  return () => { off(); unpoll(); };
}

// ---- new deploy --------------------------------------------------------------------------
/** A picker of known clients: a search asking the server, checkboxes, the chosen as chips. */
function machinePicker() {
  const chosen = new Map();
  const search = h('input', { type: 'search', placeholder: 'MAC, name, IP, vendor…', 'aria-label': 'Search clients', autocomplete: 'off' });
  const results = h('ul', { class: 'pick-list', 'aria-label': 'Clients found' });
  const picked = h('div', { class: 'chips', 'aria-live': 'polite' });
  const count = h('span', { class: 'muted small' });
  const label = (c) => (c.name ? `${c.name} · ${c.mac}` : c.mac);
  function drawChosen() {
    count.textContent = `${chosen.size} chosen`;
    fill(picked, [...chosen.values()].map((c) => h('button', { type: 'button', class: 'chip small', 'aria-label': `Remove ${label(c)}`,
      onclick: () => { chosen.delete(c.mac); drawChosen(); syncBoxes(); } }, label(c), h('span', { 'aria-hidden': 'true' }, ' ×'))));
  }
  function syncBoxes() {
    for (const box of results.querySelectorAll('input')) box.checked = chosen.has(box.value);
  }
  async function find() {
    const q = new URLSearchParams({ limit: 50 });
    if (search.value.trim()) q.set('q', search.value.trim());
    const found = await api.get(`/clients?${q}`);
    fill(results, found.length ? found.map((c) => {
      const box = h('input', { type: 'checkbox', value: c.mac, checked: chosen.has(c.mac) });
      box.addEventListener('change', () => { if (box.checked) chosen.set(c.mac, c); else chosen.delete(c.mac); drawChosen(); });
      return h('li', {}, h('label', { class: 'check' }, box, h('span', { class: 'mono' }, c.mac),
        c.name ? ` ${c.name}` : '', h('span', { class: 'muted small' }, ` ${[c.ip, c.arch].filter(Boolean).join(' · ')}`)));
    }) : h('li', { class: 'muted' }, 'No client matches: machines appear once they have network-booted.'));
  }
  // Enter in the search box would submit the whole dialog.
  search.addEventListener('keydown', (e) => { if (e.key === 'Enter') e.preventDefault(); });
  search.addEventListener('input', debounce(() => find().catch((e) => toast(e.message, 'error')), 250));
  drawChosen();
  return {
    el: h('div', { class: 'picker' }, h('div', { class: 'toolbar' }, search, count), results, picked),
    find,
    macs: () => [...chosen.keys()],
  };
}

async function newDeploy(created) {
  const [groups, disks] = await Promise.all([api.get('/groups'), api.get('/deploys/images').catch(() => [])]);
  const picker = machinePicker();
  const byGroup = h('select', { name: 'group', 'aria-label': 'Client group', disabled: true },
    groups.length ? groups.map((g) => h('option', { value: g.name }, g.name)) : h('option', { value: '' }, 'no group yet'));
  const how = (value, text, checked) => h('label', { class: 'check' },
    h('input', { type: 'radio', name: 'how', value, checked, onchange: () => { byGroup.disabled = value !== 'group'; picker.el.hidden = value === 'group'; } }), text);
  const number = (name, attrs) => h('input', { name, type: 'number', inputmode: 'numeric', ...attrs });
  const body = h('div', {},
    field('Image', h('input', { name: 'image', required: true, list: 'deploy-images', placeholder: 'disks/base.img', autocomplete: 'off', class: 'mono' }),
      'A raw or zstd disk image, relative to the data dir.'),
    h('datalist', { id: 'deploy-images' }, disks.map((f) => h('option', { value: f.path }, bytes(f.size)))),
    h('fieldset', {}, h('legend', {}, 'Machines'),
      h('div', { class: 'toolbar' }, how('clients', ' Chosen machines', true), how('group', ' Every member of a group', false), byGroup),
      picker.el),
    h('div', { class: 'form-grid two' },
      field('Disk', h('input', { name: 'disk', value: DEFAULT_DISK, required: true, class: 'mono', autocomplete: 'off' }), 'Written whole on every machine.'),
      field('Rate, Mbit/s', number('rate_mbit', { min: 1, placeholder: 'default' })),
      field('Minimum receivers', number('min_receivers', { min: 0, placeholder: 'every machine' }), 'The session waits for them before sending.'),
      field('Longest wait, seconds', number('max_wait_secs', { min: 0, max: 86400, placeholder: 'default' }))));
  await picker.find();
  await dialog('New deploy', body, {
    ok: 'Deploy', wide: true,
    submit: async (d) => {
      const req = { image: d.get('image').trim(), disk: d.get('disk').trim() };
      if (d.get('how') === 'group') {
        if (!d.get('group')) throw new Error('Choose a group (groups are made on the Installs page).');
        req.group = d.get('group');
      } else {
        req.clients = picker.macs();
        if (!req.clients.length) throw new Error('Choose at least one machine.');
      }
      for (const k of ['rate_mbit', 'min_receivers', 'max_wait_secs']) if (d.get(k) !== '') req[k] = Number(d.get(k));
      const v = await api.post('/deploys', req);
      toast(`Deploy ${v.id} started: ${v.clients.length} machine${v.clients.length === 1 ? '' : 's'} boot the agent next time.`);
      await created();
    },
  });
}

// Clients: a server-side paged and searched table (thousands of machines), filters by firmware
// and assignment, assign / next boot once / unassign / Wake-on-LAN / edit; one client's page
// with its boot history. `client` events refresh the rows shown.
import * as api from '../api.js';
import { h, fill, field, badge, bytes, when, time, duration, dialog, toast, throttle, debounce } from '../dom.js';
import { templateSelect, metadataText, metadataArea, parseMetadata, sourceText } from '../install.js';

const PAGE = 100;
const ARCHES = ['bios', 'efi-x64', 'efi-ia32', 'efi-arm64', 'efi-x64-http', 'efi-arm64-http', 'unknown'];
const state = { q: '', arch: '', assigned: '', offset: 0 };
/** Templates and groups, for the edit dialog. */
const install = { templates: [], groups: [] };

export async function render(main, ctx) {
  const [images, templates, groups] = await Promise.all(['/images', '/templates', '/groups'].map((p) => api.get(p).catch(() => [])));
  Object.assign(install, { templates, groups });
  const names = new Map(images.map((i) => [i.id, i.path]));
  return ctx.args[0] ? detail(main, ctx, ctx.args[0], images, names) : list(main, ctx, images, names);
}

function imageName(names, id) {
  return id === 'menu' ? 'menu' : (names.get(id) || id).split('/').pop();
}

function assignment(c, names) {
  return [
    c.assigned ? h('span', { title: names.get(c.assigned) || c.assigned }, imageName(names, c.assigned)) : null,
    c.next_boot ? h('span', { class: 'badge warn', title: `Next boot only: ${names.get(c.next_boot) || c.next_boot}` }, `once: ${imageName(names, c.next_boot)}`) : null,
    !c.assigned && !c.next_boot ? h('span', { class: 'muted' }, 'menu') : null,
    c.local_boot ? [' ', h('span', { class: 'badge ok', title: 'Installed: boots its local disk until reinstalled' }, 'local disk')] : null,
  ];
}

function inventory(c) {
  return [c.product, c.serial && `S/N ${c.serial}`, c.memsize && `${c.memsize} MiB`, c.asset && `asset ${c.asset}`]
    .filter(Boolean).join(' · ');
}

/** The write actions on one client (admins only); `done` runs after a change. */
function actions(c, names, images, done) {
  const mac = c.mac;
  const label = c.name || mac;
  const path = `/clients/${encodeURIComponent(mac)}`;
  const run = (fn, ok) => async (e) => {
    const b = e?.currentTarget;
    if (b) b.disabled = true;
    try { await fn(); if (ok) toast(ok); await done(); } catch (err) { toast(err.message, 'error'); }
    if (b) b.disabled = false;
  };
  const assign = async () => {
    const select = h('select', { name: 'image', required: true },
      h('option', { value: '' }, 'Choose an image…'),
      images.map((i) => h('option', { value: i.id, selected: i.id === (c.next_boot || c.assigned) }, i.path)));
    const body = h('div', { class: 'form-grid' }, field('Image', select),
      h('fieldset', {}, h('legend', {}, 'When'),
        h('label', { class: 'check' }, h('input', { type: 'radio', name: 'how', value: 'assigned', checked: true }), ' Every boot (assign)'),
        h('label', { class: 'check' }, h('input', { type: 'radio', name: 'how', value: 'next_boot' }), ' Next boot only, then as before')));
    await dialog(`Assign an image to ${label}`, body, {
      ok: 'Assign',
      submit: async (d) => {
        await api.patch(path, { [d.get('how')]: d.get('image') });
        toast(`${label}: ${d.get('how') === 'next_boot' ? 'next boot' : 'assigned'} ${imageName(names, d.get('image'))}.`);
        await done();
      },
    });
  };
  const edit = async () => {
    const body = h('div', { class: 'form-grid' },
      field('Name', h('input', { name: 'name', value: c.name || '', autocomplete: 'off' })),
      field('Notes', h('textarea', { name: 'notes', rows: 3 }, c.notes || '')),
      field('Extra kernel arguments', h('input', { name: 'extra_args', value: c.extra_args || '' })),
      field('Install template', templateSelect(install.templates, c.template), 'Over its group’s and its image’s.'),
      field('Group', h('input', { name: 'group', value: c.group || '', list: 'client-groups', autocomplete: 'off' })),
      h('datalist', { id: 'client-groups' }, install.groups.map((g) => h('option', { value: g.name }))),
      field('Metadata', metadataArea(c.metadata), 'key=value, one a line; over its group’s.'));
    await dialog(`Edit ${mac}`, body, {
      submit: async (d) => {
        const text = (k) => (d.get(k) || '').trim() || null;
        await api.patch(path, {
          name: text('name'), notes: text('notes'), extra_args: text('extra_args'),
          template: text('template'), group: text('group'), metadata: parseMetadata(d.get('metadata')),
        });
        toast(`Saved ${label}.`);
        await done();
      },
    });
  };
  return [
    h('button', { type: 'button', class: 'small', 'aria-label': `Assign an image to ${label}`, onclick: assign }, 'Assign'),
    c.assigned || c.next_boot
      ? h('button', { type: 'button', class: 'small', 'aria-label': `Unassign ${label}`, onclick: run(() => api.patch(path, { assigned: null, next_boot: null }), `${label} boots the menu again.`) }, 'Unassign') : null,
    h('button', { type: 'button', class: 'small', 'aria-label': `Wake ${label}`, onclick: run(async () => {
      const r = await api.post(`${path}/wake`);
      toast(`Magic packet for ${label} sent${r?.sent?.length ? ` (${r.sent.length})` : ''}.`);
    }) }, 'Wake'),
    h('button', { type: 'button', class: 'small', 'aria-label': `Edit ${label}`, onclick: edit }, 'Edit'),
    c.local_boot
      ? h('button', { type: 'button', class: 'small', 'aria-label': `Reinstall ${label}`, title: 'Boot its image and install again', onclick: run(() => api.patch(path, { local_boot: false }), `${label} installs again on its next boot.`) }, 'Reinstall') : null,
  ];
}

async function list(main, { session, events }, images, names) {
  const admin = session.admin;
  const search = h('input', { type: 'search', value: state.q, placeholder: 'MAC, name, IP, vendor, serial, image…', 'aria-label': 'Search clients' });
  const arch = h('select', { 'aria-label': 'Firmware' }, h('option', { value: '' }, 'Any firmware'),
    ARCHES.map((a) => h('option', { value: a, selected: state.arch === a }, a)));
  const assigned = h('select', { 'aria-label': 'Assignment' },
    h('option', { value: '' }, 'Any assignment'),
    h('option', { value: 'true', selected: state.assigned === 'true' }, 'Assigned or next boot'),
    h('option', { value: 'false', selected: state.assigned === 'false' }, 'Boots the menu'));
  const range = h('span', { class: 'muted', 'aria-live': 'polite' });
  const prev = h('button', { type: 'button', class: 'small' }, '‹ Previous');
  const next = h('button', { type: 'button', class: 'small' }, 'Next ›');
  const tbody = h('tbody');
  const cols = ['MAC', 'Name', 'IP', 'Firmware', 'Vendor', 'Inventory', 'First seen', 'Last seen', 'Last boot', 'Assignment'];
  if (admin) cols.push('Actions');
  main.append(
    h('div', { class: 'page-head' }, h('h1', {}, 'Clients')),
    h('div', { class: 'toolbar' }, search, arch, assigned, h('span', { class: 'spacer' }), range, prev, next),
    h('div', { class: 'table-wrap' }, h('table', { class: 'data clients' },
      h('caption', { class: 'sr-only' }, 'Clients'),
      h('thead', {}, h('tr', {}, cols.map((t) => h('th', { scope: 'col' }, t)))), tbody)));

  let shown = new Map();
  function row(c) {
    const tr = h('tr', { dataset: { mac: c.mac } },
      h('td', { class: 'mono' }, h('a', { href: `#/clients/${encodeURIComponent(c.mac)}`, title: 'Details and boot history' }, c.mac)),
      h('td', {}, c.name || '', c.notes ? h('div', { class: 'muted small clip', title: c.notes }, c.notes) : null),
      h('td', { class: 'mono' }, c.ip || ''),
      h('td', {}, c.arch || h('span', { class: 'muted' }, '?')),
      h('td', { title: c.vendor_class || '' }, c.manufacturer || (c.vendor_class || '').split(':')[0]),
      h('td', { class: 'small' }, inventory(c)),
      h('td', { class: 'small' }, when(c.first_seen)),
      h('td', { class: 'small' }, time(c.last_seen)),
      h('td', {}, c.last_boot ? imageName(names, c.last_boot) : ''),
      h('td', {}, assignment(c, names)),
      admin ? h('td', { class: 'actions' }, actions(c, names, images, refresh)) : null);
    tr.dataset.json = JSON.stringify(c);
    return tr;
  }

  async function refresh() {
    const p = new URLSearchParams({ offset: state.offset, limit: PAGE });
    if (state.q) p.set('q', state.q);
    if (state.arch) p.set('arch', state.arch);
    if (state.assigned) p.set('assigned', state.assigned);
    const { data, headers } = await api.request('GET', `/clients?${p}`);
    const total = Number(headers.get('x-total-count') || data.length);
    if (state.offset && state.offset >= total) { state.offset = Math.max(0, total - PAGE); return refresh(); }
    const keys = data.map((c) => c.mac).join();
    if (keys && keys === [...shown.keys()].join()) {
      // Same rows: replace only those that changed (keeps focus where it is).
      for (const c of data) {
        const old = shown.get(c.mac);
        if (old.dataset.json !== JSON.stringify(c)) { const tr = row(c); old.replaceWith(tr); shown.set(c.mac, tr); }
      }
    } else {
      shown = new Map(data.map((c) => [c.mac, row(c)]));
      tbody.replaceChildren(...shown.values());
      if (!data.length) tbody.append(h('tr', {}, h('td', { colspan: cols.length, class: 'empty' },
        state.q || state.arch || state.assigned ? 'No client matches.' : 'No client seen yet: machines appear here when they PXE-boot.')));
    }
    range.textContent = total ? `${state.offset + 1}–${state.offset + data.length} of ${total.toLocaleString()}` : '0 clients';
    prev.disabled = state.offset === 0;
    next.disabled = state.offset + data.length >= total;
  }
  const reload = () => refresh().catch((e) => toast(e.message, 'error'));
  const requery = () => { state.offset = 0; reload(); };
  search.addEventListener('input', debounce(() => { state.q = search.value.trim(); requery(); }, 250));
  arch.addEventListener('change', () => { state.arch = arch.value; requery(); });
  assigned.addEventListener('change', () => { state.assigned = assigned.value; requery(); });
  prev.addEventListener('click', () => { state.offset = Math.max(0, state.offset - PAGE); reload(); });
  next.addEventListener('click', () => { state.offset += PAGE; reload(); });
  const off = events.on('client', throttle(reload, 2000));
  await refresh();
  return off;
}

const STATES = { running: 'warn', done: 'ok', failed: 'err' };

/** The facts of a machine's install: template and its source, arguments, last run. */
function installFacts(i, c, names) {
  const last = i.last;
  return [
    ['Template', i.template ? [h('span', { class: 'mono' }, i.template), ` · ${sourceText(i.source)}`] : h('span', { class: 'muted' }, 'none')],
    ['Image', i.image && imageName(names, i.image)],
    ['Family', i.family],
    ['Kernel arguments', i.kernel_args && h('code', {}, i.kernel_args)],
    ['Problem', i.problem && h('span', { class: 'error' }, i.problem)],
    ['Boots', c.local_boot ? h('span', { class: 'badge ok' }, 'local disk') : null],
    ['Last install', last ? [badge(last.state, STATES[last.state]), ` ${last.template} · started ${when(last.started)}`,
      last.finished ? ` · finished ${when(last.finished)} (${duration(last.finished - last.started)})` : '',
      last.progress ? h('div', { class: 'muted small' }, last.progress) : null] : 'never'],
  ];
}

async function detail(main, { session, events }, mac, images, names) {
  const path = `/clients/${encodeURIComponent(mac)}`;
  const head = h('div', { class: 'page-head' });
  const info = h('dl', { class: 'facts' });
  const installInfo = h('dl', { class: 'facts install' });
  const tbody = h('tbody');
  const more = h('button', { type: 'button', class: 'small', hidden: true }, 'Older boots');
  main.append(
    h('p', {}, h('a', { href: '#/clients' }, '← All clients')),
    head, info,
    h('h2', {}, 'Unattended install'), installInfo,
    h('h2', {}, 'Boot history'),
    h('p', {}, h('a', { href: `#/live/${encodeURIComponent(mac)}` }, 'Boot timeline'), ' · newest first, live'),
    h('div', { class: 'table-wrap' }, h('table', { class: 'data' },
      h('thead', {}, h('tr', {}, ['Time', 'Protocol', 'Object', 'Bytes', 'Duration', 'Outcome', 'Detail'].map((t) => h('th', { scope: 'col' }, t)))),
      tbody)),
    more);

  async function show() {
    const c = await api.get(path);
    fill(head, h('h1', {}, c.name ? `${c.name} ` : '', h('span', { class: 'mono' }, c.mac)),
      session.admin ? h('div', { class: 'actions' }, actions(c, names, images, show)) : null);
    const facts = [
      ['IP', c.ip], ['Firmware', c.arch], ['Platform', c.platform], ['Vendor class', c.vendor_class],
      ['Manufacturer', c.manufacturer], ['Product', c.product], ['Serial', c.serial], ['Asset', c.asset],
      ['Memory', c.memsize && `${c.memsize} MiB`], ['UUID', c.uuid], ['First seen', when(c.first_seen)],
      ['Last seen', when(c.last_seen)], ['Last boot', c.last_boot && imageName(names, c.last_boot)],
      ['Assignment', assignment(c, names)], ['Allowed images', c.allowed_images.map((i) => imageName(names, i)).join(', ') || 'any'],
      ['Extra kernel arguments', c.extra_args], ['Group', c.group],
      ['Metadata', Object.keys(c.metadata || {}).length ? h('span', { class: 'mono pre' }, metadataText(c.metadata)) : null], ['Notes', c.notes],
    ];
    fill(info, facts.filter(([, v]) => v && v.length !== 0).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
    const i = await api.get(`${path}/install`).catch((e) => ({ problem: e.message }));
    fill(installInfo, installFacts(i, c, names).filter(([, v]) => v && v.length !== 0).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
  }

  let last = null;
  const bootRow = (b) => h('tr', {},
    h('td', { class: 'small' }, when(b.time)), h('td', {}, badge(b.protocol, `proto-${b.protocol}`)),
    h('td', { class: 'mono small' }, b.object), h('td', { class: 'num' }, bytes(b.bytes)),
    h('td', { class: 'num' }, `${b.duration_ms} ms`), h('td', {}, badge(b.outcome, b.outcome === 'complete' ? 'ok' : 'err')),
    h('td', { class: 'small' }, b.detail || ''));
  async function page() {
    const q = new URLSearchParams({ limit: 100 });
    if (last != null) q.set('before', last);
    const boots = await api.get(`${path}/boots?${q}`);
    tbody.append(...boots.map(bootRow));
    if (boots.length) last = boots[boots.length - 1].seq;
    more.hidden = boots.length < 100;
    if (!tbody.rows.length) tbody.append(h('tr', {}, h('td', { colspan: 7, class: 'empty' }, 'No boot recorded.')));
  }
  const reshow = throttle(() => show().catch(() => {}), 1000);
  more.addEventListener('click', () => page().catch((e) => toast(e.message, 'error')));
  const offs = [
    events.on('boot', (b) => {
      if (b.mac !== mac) return;
      tbody.querySelector('td.empty')?.parentElement.remove();
      tbody.prepend(bootRow(b));
    }),
    events.on('client', (c) => { if (c.mac === mac) reshow(); }),
  ];
  await show();
  await page();
  return () => offs.forEach((off) => off());
}

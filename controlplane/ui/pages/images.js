// Images: the table (folders, distro and method badges, size, public, status), a search that
// filters in the page, uploads with progress (drag and drop or a file picker), downloads from
// a URL as jobs (progress from `job` events), edit, delete, rescan, netboot fetch.
import * as api from '../api.js';
import { h, append, fill, field, badge, bytes, rate, duration, dialog, toast, throttle } from '../dom.js';
import { templateSelect } from '../install.js';

export async function render(main, { session, events }) {
  const admin = session.admin;
  let images = [];
  const search = h('input', { type: 'search', placeholder: 'Search by name, distro, folder…', 'aria-label': 'Search images' });
  const count = h('span', { class: 'muted', 'aria-live': 'polite' });
  const tbody = h('tbody');
  const table = h('table', { class: 'data images' },
    h('caption', { class: 'sr-only' }, 'Images, grouped by folder'),
    h('thead', {}, h('tr', {},
      ['Name', 'Distro', 'Method', 'Size', 'Public', 'Status', admin ? 'Actions' : null]
        .filter(Boolean).map((t) => h('th', { scope: 'col' }, t)))),
    tbody);
  const transfers = h('section', { class: 'transfers', 'aria-label': 'Uploads and downloads' });
  const jobs = new Map();

  const tools = h('div', { class: 'toolbar' }, search, count);
  if (admin) {
    const picker = h('input', { type: 'file', accept: '.iso', multiple: true, class: 'sr-only', id: 'iso-file', tabindex: -1 });
    picker.addEventListener('change', () => { queue([...picker.files]); picker.value = ''; });
    tools.append(
      h('span', { class: 'spacer' }),
      picker,
      h('button', { type: 'button', class: 'primary', onclick: () => picker.click() }, 'Upload ISO…'),
      h('button', { type: 'button', onclick: download }, 'Download from URL…'),
      h('button', { type: 'button', onclick: rescan }, 'Rescan'));
  }
  const folder = h('input', { name: 'folder', placeholder: 'e.g. linux/servers', autocomplete: 'off' });
  append(main,
    h('div', { class: 'page-head' }, h('h1', {}, 'Images')),
    tools,
    admin ? h('div', { class: 'dropzone', id: 'dropzone' },
      h('p', {}, h('strong', {}, 'Drop .iso files here'), ' to upload them, or use “Upload ISO…”.'),
      field('Upload into folder (optional)', folder)) : null,
    transfers,
    h('div', { class: 'table-wrap' }, table));

  // Drag and drop anywhere on the page.
  const zone = main.querySelector('#dropzone');
  const over = (e) => { if (admin && e.dataTransfer?.types.includes('Files')) { e.preventDefault(); zone.classList.add('over'); } };
  const leave = (e) => { if (!e.relatedTarget || !main.contains(e.relatedTarget)) zone?.classList.remove('over'); };
  const drop = (e) => {
    if (!admin || !e.dataTransfer?.files.length) return;
    e.preventDefault();
    zone.classList.remove('over');
    queue([...e.dataTransfer.files]);
  };
  main.addEventListener('dragover', over);
  main.addEventListener('dragleave', leave);
  main.addEventListener('drop', drop);

  // ---- the table -----------------------------------------------------------------------
  function row(img) {
    const name = img.path.split('/').pop();
    const status = img.status === 'ready' ? badge('ready', 'ok')
      : img.status === 'needs_netboot' ? badge('needs netboot', 'warn')
      : badge('error', 'err');
    const cells = [
      h('td', {}, h('div', { class: 'name' }, name),
        img.description ? h('div', { class: 'muted small' }, img.description) : null,
        img.error ? h('div', { class: 'error small' }, img.error) : null),
      h('td', {}, img.distro ? badge(img.distro, 'distro') : h('span', { class: 'muted' }, 'unknown')),
      h('td', {}, img.method ? badge(img.method, `method-${img.method}`) : ''),
      h('td', { class: 'num' }, bytes(img.size)),
      h('td', {}, img.public ? 'yes' : h('span', { class: 'muted' }, 'hidden')),
      h('td', {}, status),
    ];
    if (admin) {
      cells.push(h('td', { class: 'actions' },
        h('button', { type: 'button', class: 'small', 'aria-label': `Edit ${name}`, onclick: () => edit(img) }, 'Edit'),
        img.status === 'needs_netboot'
          ? h('button', { type: 'button', class: 'small', 'aria-label': `Fetch netboot files for ${name}`, onclick: () => netboot(img) }, 'Netboot') : null,
        h('button', { type: 'button', class: 'small danger', 'aria-label': `Delete ${name}`, onclick: () => remove(img) }, 'Delete')));
    }
    const tr = h('tr', { dataset: { id: img.id } }, cells);
    tr.dataset.text = [img.path, img.distro, img.method, img.description, img.status, img.group.join('/')].join(' ').toLowerCase();
    return tr;
  }

  function draw() {
    const sorted = [...images].sort((a, b) => a.group.join('/').localeCompare(b.group.join('/')) || a.path.localeCompare(b.path));
    const rows = [];
    let group = null;
    const cols = admin ? 7 : 6;
    for (const img of sorted) {
      const g = img.group.join(' / ');
      if (g !== group) {
        group = g;
        rows.push(h('tr', { class: 'group' }, h('th', { colspan: cols, scope: 'colgroup' }, h('span', { class: 'folder', 'aria-hidden': 'true' }), g || 'Top level')));
      }
      rows.push(row(img));
    }
    if (!images.length) rows.push(h('tr', {}, h('td', { colspan: cols, class: 'empty' }, 'No images yet. Put ISOs in data/isos/ or upload one.')));
    tbody.replaceChildren(...rows);
    filter();
  }

  function filter() {
    const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    let header = null, headerShown = false;
    for (const tr of tbody.rows) {
      if (tr.classList.contains('group')) {
        if (header) header.hidden = !headerShown;
        header = tr; headerShown = false;
        continue;
      }
      if (!tr.dataset.text) continue;
      const hit = words.every((w) => tr.dataset.text.includes(w));
      tr.hidden = !hit;
      if (hit) { shown++; headerShown = true; }
    }
    if (header) header.hidden = !headerShown;
    const n = images.length;
    count.textContent = words.length ? `${shown} of ${n} images` : `${n} image${n === 1 ? '' : 's'}`;
  }
  search.addEventListener('input', filter);

  async function load() {
    images = await api.get('/images');
    draw();
  }

  // ---- actions -------------------------------------------------------------------------
  async function edit(img) {
    const e = img.edits || {};
    const templates = await api.get('/templates').catch(() => []);
    const method = h('select', { name: 'method' },
      h('option', { value: '' }, `as detected${img.method && !e.method ? ` (${img.method})` : ''}`),
      ['kernel', 'sanboot', 'wimboot'].map((m) => h('option', { value: m, selected: e.method === m }, m)));
    const body = h('div', { class: 'form-grid' },
      field('Description', h('input', { name: 'description', value: e.description || '' })),
      field('Boot method', method),
      field('Kernel command line', h('textarea', { name: 'cmdline', rows: 2, placeholder: img.cmdline || '' }, e.cmdline || ''), 'Empty: as detected.'),
      field('Extra kernel arguments', h('input', { name: 'extra_args', value: e.extra_args || '' })),
      field('Install template', templateSelect(templates, e.template), 'For machines booting it without their own or their group’s.'),
      field('Menu folder', h('input', { name: 'group', value: (e.group || img.group).join('/') }), 'Folders separated by /; empty: top level.'),
      h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'public', checked: img.public }), ' Listed in the boot menu'));
    await dialog(`Edit ${img.path}`, body, {
      submit: async (d) => {
        const text = (k) => (d.get(k) || '').trim() || null;
        const group = (d.get('group') || '').split('/').map((s) => s.trim()).filter(Boolean);
        const same = group.join('/') === img.group.join('/') && !e.group;
        await api.patch(`/images/${encodeURIComponent(img.id)}`, {
          description: text('description'), cmdline: text('cmdline'), extra_args: text('extra_args'),
          method: text('method'), template: text('template'), public: d.get('public') === 'on', ...(same ? {} : { group }),
        });
        toast(`Saved ${img.path}.`);
        await load();
      },
    });
  }

  async function remove(img) {
    const body = h('fieldset', {}, h('legend', {}, 'What to do with the ISO file?'),
      h('label', { class: 'check' }, h('input', { type: 'radio', name: 'how', value: 'file', checked: true }), ` Delete ${img.path} from disk`),
      h('label', { class: 'check' }, h('input', { type: 'radio', name: 'how', value: 'hide' }), ' Keep the file, hide it from the boot menu'));
    await dialog(`Delete ${img.path.split('/').pop()}?`, body, {
      ok: 'Delete', danger: true,
      submit: async (d) => {
        if (d.get('how') === 'file') {
          await api.del(`/images/${encodeURIComponent(img.id)}?file=true`);
          toast(`Deleted ${img.path}.`);
        } else {
          await api.patch(`/images/${encodeURIComponent(img.id)}`, { public: false });
          toast(`${img.path} is hidden from the menu; the file stays.`);
        }
        await load();
      },
    });
  }

  async function netboot(img) {
    const body = h('div', { class: 'form-grid' },
      h('p', {}, 'This ISO cannot boot from its own files: fetch the distribution\'s netboot kernel and initrd.'),
      field('Tarball URL', h('input', { name: 'url', type: 'url', placeholder: 'the layout\'s default URL' })),
      field('SHA-256 (optional)', h('input', { name: 'sha256', pattern: '[0-9a-fA-F]{64}', autocomplete: 'off' })));
    await dialog(`Netboot files for ${img.path}`, body, {
      ok: 'Fetch',
      submit: async (d) => {
        toast(`Fetching netboot files for ${img.path}…`);
        await api.post(`/images/${encodeURIComponent(img.id)}/netboot`, {
          url: (d.get('url') || '').trim() || null, sha256: (d.get('sha256') || '').trim() || null,
        });
        toast(`${img.path} now boots from its netboot files.`);
        await load();
      },
    });
  }

  async function rescan(e) {
    const b = e.currentTarget;
    b.disabled = true;
    try {
      images = await api.post('/images/rescan');
      draw();
      toast('Rescanned.');
    } catch (err) { toast(err.message, 'error'); }
    b.disabled = false;
  }

  async function download() {
    const body = h('div', { class: 'form-grid' },
      field('URL', h('input', { name: 'url', type: 'url', required: true, placeholder: 'https://…/image.iso' })),
      field('SHA-256 (optional)', h('input', { name: 'sha256', pattern: '[0-9a-fA-F]{64}', autocomplete: 'off' }), 'The download is refused if it does not match.'),
      field('Save as (optional)', h('input', { name: 'path', placeholder: 'folder/name.iso' }), 'Under data/isos/; default: the URL\'s file name.'));
    await dialog('Download an ISO', body, {
      ok: 'Download',
      submit: async (d) => {
        const job = await api.post('/images/download', {
          url: d.get('url').trim(), sha256: (d.get('sha256') || '').trim() || null, path: (d.get('path') || '').trim() || null,
        });
        showJob(job);
      },
    });
  }

  // ---- uploads -------------------------------------------------------------------------
  let uploading = Promise.resolve();
  function queue(files) {
    for (const file of files) {
      const view = transferView(file.name, file.size);
      view.note('waiting');
      uploading = uploading.then(() => send(file, view));
    }
  }

  async function send(file, view) {
    if (view.cancelled) return;
    const started = performance.now();
    const samples = [[started, 0]];
    const job = api.upload(file, folder.value.trim(), (loaded, total) => {
      const now = performance.now();
      samples.push([now, loaded]);
      while (samples.length > 2 && now - samples[0][0] > 3000) samples.shift();
      const [t0, b0] = samples[0];
      const bps = now > t0 ? ((loaded - b0) * 1000) / (now - t0) : 0;
      view.progress(loaded, total,
        loaded >= total ? 'scanning…' : `${rate(bps)} · ${duration((total - loaded) / bps)} left`);
    });
    view.onCancel(() => job.abort());
    try {
      const res = await job.promise;
      view.progress(file.size, file.size, '');
      const d = res.image?.distro;
      view.finish(d ? `uploaded · detected ${d}` : 'uploaded · no distribution detected', 'ok');
      await load();
    } catch (err) {
      view.finish(err.message, err.code === 'aborted' ? 'muted' : 'err');
    }
  }

  /** A progress row: name, bar, percent, bytes/rate/ETA, cancel. */
  function transferView(name, total) {
    const bar = h('progress', { max: total || 1, value: 0, 'aria-label': `Progress of ${name}` });
    const pct = h('span', { class: 'pct' }, '0 %');
    const stats = h('span', { class: 'stats muted' });
    const state = h('span', { class: 'state' });
    const button = h('button', { type: 'button', class: 'small' }, 'Cancel');
    const el = h('div', { class: 'transfer', dataset: { name } },
      h('div', { class: 'transfer-head' }, h('strong', { class: 'name' }, name), state, h('span', { class: 'spacer' }), pct, button),
      bar, stats);
    transfers.append(el);
    const view = {
      el, cancelled: false, cancel: () => { view.cancelled = true; view.finish('cancelled', 'muted'); },
      onCancel(fn) { view.cancel = fn; },
      note(text) { state.textContent = text; },
      progress(done, all, extra) {
        if (all) bar.max = all;
        bar.value = done;
        const p = all ? Math.floor((done * 100) / all) : 0;
        pct.textContent = `${p} %`;
        state.textContent = '';
        stats.textContent = `${bytes(done)}${all ? ` of ${bytes(all)}` : ''}${extra ? ` · ${extra}` : ''}`;
      },
      finish(text, kind) {
        fill(state, badge(text, kind));
        button.textContent = 'Dismiss';
        button.onclick = () => el.remove();
      },
    };
    button.onclick = () => view.cancel();
    return view;
  }

  // ---- download jobs -------------------------------------------------------------------
  function showJob(job) {
    let v = jobs.get(job.id);
    if (!v) {
      v = transferView(job.path || job.url, job.bytes_total);
      v.samples = [];
      v.onCancel(async () => {
        try { await api.del(`/jobs/${job.id}`); } catch (err) { toast(err.message, 'error'); }
      });
      jobs.set(job.id, v);
    }
    if (v.finished) return;
    const now = performance.now();
    v.samples.push([now, job.bytes_done]);
    while (v.samples.length > 2 && now - v.samples[0][0] > 3000) v.samples.shift();
    const [t0, b0] = v.samples[0];
    const bps = now > t0 ? ((job.bytes_done - b0) * 1000) / (now - t0) : 0;
    const left = job.bytes_total && bps ? ` · ${duration((job.bytes_total - job.bytes_done) / bps)} left` : '';
    if (job.state === 'queued') v.note('queued');
    else v.progress(job.bytes_done, job.bytes_total, job.state === 'running' ? `${rate(bps)}${left}` : '');
    if (job.state === 'done') { v.finished = true; v.finish('downloaded', 'ok'); }
    if (job.state === 'failed') { v.finished = true; v.finish(job.error || 'failed', 'err'); }
    if (job.state === 'cancelled') { v.finished = true; v.finish('cancelled', 'muted'); }
  }

  const reload = throttle(() => load().catch((e) => toast(e.message, 'error')), 1000);
  const offs = [events.on('images', reload), events.on('job', showJob)];
  await load();
  if (admin) {
    for (const job of await api.get('/jobs')) if (job.state === 'running' || job.state === 'queued') showJob(job);
  }
  return () => {
    offs.forEach((off) => off());
    main.removeEventListener('dragover', over);
    main.removeEventListener('dragleave', leave);
    main.removeEventListener('drop', drop);
  };
}

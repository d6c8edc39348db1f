// Unattended installs: templates (built-in starters are read-only: copy them), groups of
// machines sharing a template and metadata, secrets templates read by name (admins only; a
// value is written, never shown). Viewers see the tables without write actions.
import * as api from '../api.js';
import { h, fill, field, badge, dialog, toast } from '../dom.js';
import { templateSelect, metadataText, metadataArea, parseMetadata } from '../install.js';

const NAME = '[A-Za-z0-9._\\-]{1,64}';
/** Secret names are identifiers: templates read secret("name"). */
const SECRET = '[A-Za-z0-9_]{1,64}';
const enc = encodeURIComponent;

export async function render(main, { session }) {
  const admin = session.admin;
  const [families, ...rest] = await Promise.all([
    api.get('/install/families'), api.get('/templates'), api.get('/groups'),
    admin ? api.get('/secrets') : Promise.resolve([]),
  ]);
  let [templates, groups, secrets] = rest;
  const familyOf = (id) => families.find((f) => f.id === id);

  const tplBody = h('tbody');
  const groupBody = h('tbody');
  const secretBody = h('tbody');
  const table = (cls, caption, cols, body) => h('div', { class: 'table-wrap' }, h('table', { class: `data ${cls}` },
    h('caption', { class: 'sr-only' }, caption),
    h('thead', {}, h('tr', {}, cols.map((t) => h('th', { scope: 'col' }, t)))), body));
  const button = (label, onclick, cls = 'small', aria = null) =>
    h('button', { type: 'button', class: cls, 'aria-label': aria, onclick }, label);

  main.append(
    h('div', { class: 'page-head' }, h('h1', {}, 'Installs')),
    h('p', { class: 'muted' }, 'A machine gets the template set on it, else its group’s, else its image’s. ',
      'Templates read ', h('code', {}, '{{ hostname }}'), ', ', h('code', {}, '{{ mac }}'), ', ',
      h('code', {}, '{{ metadata.key }}'), ' and ', h('code', {}, 'secret("name")'), '.'),
    h('section', { class: 'card' },
      h('div', { class: 'section-head' }, h('h2', {}, 'Templates'),
        admin ? button('New template…', () => editTemplate(null, 'create'), 'primary') : null),
      table('templates', 'Templates', ['Name', 'Family', 'Description', 'Actions'], tplBody)),
    h('section', { class: 'card' },
      h('div', { class: 'section-head' }, h('h2', {}, 'Groups'),
        admin ? button('New group…', () => editGroup(null)) : null),
      h('p', { class: 'muted small' }, 'Machines join a group from the Clients page; a member’s own metadata wins over its group’s.'),
      table('groups', 'Groups', ['Name', 'Template', 'Metadata', ...(admin ? ['Actions'] : [])], groupBody)),
    admin ? h('section', { class: 'card' },
      h('div', { class: 'section-head' }, h('h2', {}, 'Secrets'), button('New secret…', () => setSecret(null))),
      h('p', { class: 'muted small' }, 'Values are stored server-side and never shown again, nor in menus or logs.'),
      table('secrets', 'Secrets', ['Name', 'Actions'], secretBody)) : null);

  function draw() {
    fill(tplBody, templates.map((t) => h('tr', { dataset: { name: t.name } },
      h('td', { class: 'nowrap' }, h('span', { class: 'mono' }, t.name), t.builtin ? [' ', badge('built-in', 'info')] : null),
      h('td', {}, familyOf(t.family)?.name || t.family),
      h('td', { class: 'small' }, t.description || ''),
      h('td', { class: 'actions' },
        admin && !t.builtin
          ? button('Edit', () => editTemplate(t, 'edit'), 'small', `Edit template ${t.name}`)
          : button('View', () => editTemplate(t, 'view'), 'small', `View template ${t.name}`),
        admin ? button('Copy', () => editTemplate(t, 'copy'), 'small', `Copy template ${t.name}`) : null,
        admin && !t.builtin ? button('Delete', () => removeTemplate(t), 'small danger', `Delete template ${t.name}`) : null))));
    fill(groupBody, groups.length ? groups.map((g) => h('tr', { dataset: { name: g.name } },
      h('td', {}, g.name),
      h('td', {}, g.template ? h('span', { class: 'mono' }, g.template) : h('span', { class: 'muted' }, 'none')),
      h('td', { class: 'mono small pre' }, metadataText(g.metadata)),
      admin ? h('td', { class: 'actions' },
        button('Edit', () => editGroup(g), 'small', `Edit group ${g.name}`),
        button('Delete', () => removeGroup(g), 'small danger', `Delete group ${g.name}`)) : null))
      : h('tr', {}, h('td', { colspan: admin ? 4 : 3, class: 'empty' }, 'No group yet.')));
    fill(secretBody, secrets.length ? secrets.map((name) => h('tr', {},
      h('td', { class: 'mono' }, name),
      h('td', { class: 'actions' },
        button('Set value…', () => setSecret(name), 'small', `Set secret ${name}`),
        button('Delete', () => removeSecret(name), 'small danger', `Delete secret ${name}`))))
      : h('tr', {}, h('td', { colspan: 2, class: 'empty' }, 'No secret yet.')));
  }
  async function load() {
    [templates, groups, secrets] = await Promise.all([
      api.get('/templates'), api.get('/groups'), admin ? api.get('/secrets') : Promise.resolve([])]);
    draw();
  }

  // ---- templates ------------------------------------------------------------------------
  /** One dialog for view, edit, copy and create: a textarea per file of the family. */
  async function editTemplate(t, mode) {
    const readonly = mode === 'view';
    const starter = (family) => templates.find((x) => x.builtin && x.family === family);
    const suggested = mode === 'copy' ? (t.builtin ? t.name.replace(/^starter-/, 'my-') : `${t.name}-copy`) : t?.name || '';
    const name = h('input', { name: 'name', value: suggested, required: true, pattern: NAME, autocomplete: 'off',
      readonly: mode === 'edit' || readonly });
    const family = h('select', { name: 'family', disabled: mode !== 'create' },
      families.map((f) => h('option', { value: f.id, selected: f.id === (t?.family || 'kickstart') }, `${f.name} (${f.id})`)));
    const description = h('input', { name: 'description', value: t?.description || '', readonly });
    const files = h('div', { class: 'files' });
    const drawFiles = () => {
      const fam = familyOf(family.value);
      const from = t || starter(family.value);
      fill(files,
        fam ? h('p', { class: 'muted small' }, 'Kernel parameters: ', h('code', {}, fam.args || '–')) : null,
        (fam?.files || Object.keys(from?.files || {})).map((f) => field(f,
          h('textarea', { name: `file:${f}`, rows: 12, class: 'mono', spellcheck: 'false', readonly }, from?.files?.[f] || ''))));
    };
    family.addEventListener('change', drawFiles);
    drawFiles();
    const body = h('div', { class: 'form-grid' }, field('Name', name), field('Family', family,
      mode === 'create' ? 'The files start from the family’s starter.' : null), field('Description', description), files);
    const titles = { view: `Template ${t?.name}`, edit: `Edit template ${t?.name}`, copy: `Copy ${t?.name}`, create: 'New template' };
    await dialog(titles[mode], body, {
      ok: readonly ? 'Close' : 'Save', wide: true,
      submit: readonly ? null : async (d) => {
        const n = d.get('name').trim();
        if (mode !== 'edit' && templates.some((x) => x.name === n)) throw new Error(`A template ${n} exists already.`);
        const out = {};
        for (const [k, v] of d.entries()) if (k.startsWith('file:')) out[k.slice(5)] = v;
        await api.put(`/templates/${enc(n)}`, { family: family.value, description: d.get('description').trim(), files: out });
        toast(`Saved template ${n}.`);
        await load();
      },
    });
  }
  async function removeTemplate(t) {
    await dialog(`Delete template ${t.name}?`, h('p', {}, 'Machines, groups and images using it get no template.'), {
      ok: 'Delete', danger: true,
      submit: async () => { await api.del(`/templates/${enc(t.name)}`); toast(`Deleted ${t.name}.`); await load(); },
    });
  }

  // ---- groups ---------------------------------------------------------------------------
  async function editGroup(g) {
    const body = h('div', { class: 'form-grid' },
      field('Name', h('input', { name: 'name', value: g?.name || '', required: true, pattern: NAME, autocomplete: 'off', readonly: !!g })),
      field('Template', templateSelect(templates, g?.template)),
      field('Metadata', metadataArea(g?.metadata), 'key=value, one a line; templates read metadata.key.'));
    await dialog(g ? `Edit group ${g.name}` : 'New group', body, {
      submit: async (d) => {
        const n = d.get('name').trim();
        if (!g && groups.some((x) => x.name === n)) throw new Error(`A group ${n} exists already.`);
        await api.put(`/groups/${enc(n)}`, { template: d.get('template') || null, metadata: parseMetadata(d.get('metadata')) });
        toast(`Saved group ${n}.`);
        await load();
      },
    });
  }
  async function removeGroup(g) {
    await dialog(`Delete group ${g.name}?`, h('p', {}, 'Its members keep their own settings.'), {
      ok: 'Delete', danger: true,
      submit: async () => { await api.del(`/groups/${enc(g.name)}`); toast(`Deleted group ${g.name}.`); await load(); },
    });
  }

  // ---- secrets --------------------------------------------------------------------------
  async function setSecret(current) {
    const body = h('div', { class: 'form-grid' },
      field('Name', h('input', { name: 'name', value: current || '', required: true, pattern: SECRET, autocomplete: 'off', readonly: !!current }),
        current ? null : 'Letters, digits and _; templates read secret("name").'),
      field('Value', h('input', { name: 'value', type: 'password', required: true, autocomplete: 'new-password' }),
        current ? 'Replaces the stored value.' : null));
    await dialog(current ? `Set secret ${current}` : 'New secret', body, {
      submit: async (d) => {
        const n = d.get('name').trim();
        await api.put(`/secrets/${enc(n)}`, { value: d.get('value') });
        toast(`Stored secret ${n}.`);
        await load();
      },
    });
  }
  async function removeSecret(name) {
    await dialog(`Delete secret ${name}?`, h('p', {}, 'Templates reading it no longer render.'), {
      ok: 'Delete', danger: true,
      submit: async () => { await api.del(`/secrets/${enc(name)}`); toast(`Deleted secret ${name}.`); await load(); },
    });
  }

  draw();
}

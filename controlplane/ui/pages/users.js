// Users and API tokens (admins only: the API refuses viewers even reading them).
import * as api from '../api.js';
import { h, fill, field, badge, when, dialog, toast } from '../dom.js';

export async function render(main, { session }) {
  main.append(h('div', { class: 'page-head' }, h('h1', {}, 'Users')));
  if (!session.admin) {
    main.append(h('p', { class: 'note' }, `You are logged in as ${session.user}, a viewer: only admins see and manage users and tokens.`));
    return;
  }
  const users = h('tbody');
  const tokens = h('tbody');
  main.append(
    h('section', { class: 'card' },
      h('div', { class: 'section-head' }, h('h2', {}, 'Users'), h('button', { type: 'button', class: 'primary', onclick: addUser }, 'Add user…')),
      h('div', { class: 'table-wrap' }, h('table', { class: 'data' },
        h('thead', {}, h('tr', {}, ['Name', 'Role', 'Actions'].map((t) => h('th', { scope: 'col' }, t)))), users))),
    h('section', { class: 'card' },
      h('div', { class: 'section-head' }, h('h2', {}, 'API tokens'), h('button', { type: 'button', onclick: addToken }, 'Create token…')),
      h('p', { class: 'muted small' }, 'For automation: send as “Authorization: Bearer …”. The secret is shown once.'),
      h('div', { class: 'table-wrap' }, h('table', { class: 'data' },
        h('thead', {}, h('tr', {}, ['Name', 'Role', 'Owner', 'Created', 'Actions'].map((t) => h('th', { scope: 'col' }, t)))), tokens))));

  const role = (r) => badge(r, r === 'admin' ? 'admin' : 'viewer');
  const roleSelect = () => h('select', { name: 'role' }, h('option', { value: 'viewer' }, 'viewer (read-only)'), h('option', { value: 'admin' }, 'admin'));

  function drawUsers(list) {
    fill(users, list.map((u) => h('tr', {},
      h('td', {}, u.name, u.name === session.user ? h('span', { class: 'muted' }, ' (you)') : ''),
      h('td', {}, role(u.role)),
      h('td', { class: 'actions' },
        h('button', { type: 'button', class: 'small', 'aria-label': `Set the password of ${u.name}`, onclick: () => password(u) }, 'Set password'),
        h('button', { type: 'button', class: 'small danger', 'aria-label': `Delete ${u.name}`, onclick: () => removeUser(u) }, 'Delete')))));
  }
  function drawTokens(list) {
    fill(tokens, list.length ? list.map((t) => h('tr', {},
      h('td', {}, t.name), h('td', {}, role(t.role)), h('td', {}, t.owner || t.user || ''),
      h('td', { class: 'small' }, when(t.created)),
      h('td', { class: 'actions' }, h('button', { type: 'button', class: 'small danger', 'aria-label': `Revoke token ${t.name}`, onclick: () => revoke(t) }, 'Revoke'))))
      : h('tr', {}, h('td', { colspan: 5, class: 'empty' }, 'No API token.')));
  }
  async function load() {
    const [u, t] = await Promise.all([api.get('/users'), api.get('/tokens')]);
    drawUsers(u);
    drawTokens(t);
  }

  async function addUser() {
    await dialog('Add a user', h('div', { class: 'form-grid' },
      field('Name', h('input', { name: 'name', required: true, pattern: '[A-Za-z0-9._\\-]{1,64}', autocomplete: 'off' })),
      field('Role', roleSelect()),
      field('Password', h('input', { name: 'password', type: 'password', required: true, autocomplete: 'new-password' }))), {
      ok: 'Add',
      submit: async (d) => {
        drawUsers(await api.post('/users', { name: d.get('name'), role: d.get('role'), password: d.get('password') }));
        toast(`Added ${d.get('name')}.`);
      },
    });
  }
  async function password(u) {
    await dialog(`New password for ${u.name}`, field('Password', h('input', { name: 'password', type: 'password', required: true, autocomplete: 'new-password' })), {
      submit: async (d) => {
        drawUsers(await api.patch(`/users/${encodeURIComponent(u.name)}`, { password: d.get('password') }));
        toast(`Password of ${u.name} changed; their sessions ended.`);
      },
    });
  }
  async function removeUser(u) {
    await dialog(`Delete ${u.name}?`, h('p', {}, 'Their sessions and tokens end.'), {
      ok: 'Delete', danger: true,
      submit: async () => { drawUsers(await api.del(`/users/${encodeURIComponent(u.name)}`)); toast(`Deleted ${u.name}.`); },
    });
  }
  async function addToken() {
    let issued = null;
    await dialog('Create an API token', h('div', { class: 'form-grid' },
      field('Name', h('input', { name: 'name', required: true, pattern: '[A-Za-z0-9._\\-]{1,64}', autocomplete: 'off' })),
      field('Role', roleSelect())), {
      ok: 'Create',
      submit: async (d) => { issued = await api.post('/tokens', { name: d.get('name'), role: d.get('role') }); },
    });
    if (!issued) return;
    await load();
    const secret = h('input', { readonly: true, value: issued.token, class: 'mono', name: 'secret' });
    await dialog('Token created', h('div', {}, h('p', {}, 'Copy the secret now: it is not shown again.'), field('Secret', secret)), { ok: 'Done' });
  }
  async function revoke(t) {
    await dialog(`Revoke token ${t.name}?`, h('p', {}, 'Scripts using it are refused at once.'), {
      ok: 'Revoke', danger: true,
      submit: async () => { await api.del(`/tokens/${encodeURIComponent(t.id)}`); toast(`Revoked ${t.name}.`); await load(); },
    });
  }
  await load();
}

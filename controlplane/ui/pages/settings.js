// Settings: the boot menu, kernel arguments and scan interval, changed live. Viewers see them
// read-only.
import * as api from '../api.js';
import { h, append, fill, field, toast } from '../dom.js';

const FIELDS = [
  ['menu_title', 'Menu title', 'text'],
  ['menu_timeout_secs', 'Menu timeout (seconds, 0 waits)', 'number'],
  ['menu_default', 'Menu default', 'select'],
  ['kernel_args', 'Kernel arguments for every image', 'text'],
  ['scan_interval_ms', 'Scan interval (ms)', 'number'],
];

export async function render(main, { session }) {
  const admin = session.admin;
  const [settings, images] = await Promise.all([api.get('/settings'), api.get('/images')]);
  const form = h('form', { class: 'card form-grid settings' });
  append(main, h('div', { class: 'page-head' }, h('h1', {}, 'Settings')),
    admin ? null : h('p', { class: 'note' }, 'Read-only: only admins change settings.'), form);

  function draw(s) {
    const controls = FIELDS.map(([key, label, type]) => {
      const value = s[key];
      let control;
      if (type === 'select') {
        control = h('select', { name: key, disabled: !admin },
          h('option', { value: 'local', selected: value === 'local' }, 'local disk'),
          images.map((i) => h('option', { value: i.id, selected: value === i.id }, i.path)));
      } else {
        control = h('input', { name: key, type, value, readonly: !admin, required: key !== 'kernel_args', min: type === 'number' ? 0 : null });
      }
      const overridden = s.overridden.includes(key);
      const note = overridden ? 'Set here; overrides the configuration.' : 'From the configuration.';
      const f = field(label, control, note);
      if (admin && overridden) {
        f.append(h('button', { type: 'button', class: 'small ghost', onclick: () => save({ [key]: null }, `${label}: back to the configured value.`) }, 'Use configured value'));
      }
      return f;
    });
    fill(form, controls, admin ? h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Save settings')) : null);
  }

  async function save(patch, message) {
    try {
      draw(await api.patch('/settings', patch));
      toast(message);
    } catch (e) { toast(e.message, 'error'); }
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const d = new FormData(form);
    const patch = {};
    for (const [key, , type] of FIELDS) {
      const v = d.get(key);
      const value = type === 'number' ? Number(v) : v;
      if (value !== settings[key]) patch[key] = value;
    }
    if (!Object.keys(patch).length) { toast('Nothing changed.'); return; }
    save(patch, 'Settings saved; in effect now.').then(() => Object.assign(settings, patch));
  });
  draw(settings);
}

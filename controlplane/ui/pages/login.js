// Login: POST /api/v1/login sets the session cookie; wrong passwords and locked-out
// sources (429) get their own message.
import { request } from '../api.js';
import { h, field } from '../dom.js';

export function render(main, { loggedIn }) {
  const user = h('input', { name: 'username', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const pass = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const error = h('p', { class: 'error', role: 'alert', id: 'login-error', hidden: true });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Log in');
  const form = h('form', { class: 'login card', 'aria-labelledby': 'login-title' },
    h('h1', { id: 'login-title' }, h('img', { src: '/ui/icon.svg', alt: '', width: 28, height: 28 }), ' fleetboot'),
    h('p', { class: 'muted' }, 'Network boot server console'),
    field('Username', user), field('Password', pass), error, button);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    button.disabled = true;
    error.hidden = true;
    try {
      await request('POST', '/login', { username: user.value, password: pass.value }, { quiet401: true });
      await loggedIn();
    } catch (err) {
      error.textContent = err.status === 401 ? 'Wrong user name or password.'
        : err.status === 429 ? `Too many failed logins from this address: try again in ${err.retryAfter || 60} s.`
        : err.message;
      error.hidden = false;
      pass.value = '';
      pass.focus();
      button.disabled = false;
    }
  });
  main.append(form);
  user.focus();
}

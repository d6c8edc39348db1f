// The console's shell: session, router (#/page/arg), the shared live event stream.
import * as api from './api.js';
import { h, fill, toast } from './dom.js';

const PAGES = {
  login: () => import('./pages/login.js'),
  dashboard: () => import('./pages/dashboard.js'),
  images: () => import('./pages/images.js'),
  clients: () => import('./pages/clients.js'),
  installs: () => import('./pages/installs.js'),
  deploys: () => import('./pages/deploys.js'),
  live: () => import('./pages/live.js'),
  settings: () => import('./pages/settings.js'),
  users: () => import('./pages/users.js'),
};
const TITLES = {
  login: 'Log in', dashboard: 'Dashboard', images: 'Images', clients: 'Clients', installs: 'Installs',
  deploys: 'Deploys', live: 'Live log', settings: 'Settings', users: 'Users',
};

const main = document.getElementById('main');
const header = document.querySelector('header.top');
const events = new api.Events();
/** Who is logged in: {user, role, admin}; null before login. */
let session = null;
let cleanup = null;
let navigation = 0;
let afterLogin = '#/dashboard';

export function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function parse() {
  const [path, query] = location.hash.replace(/^#\/?/, '').split('?');
  const [page, ...args] = path.split('/').map(decodeURIComponent);
  return { page: page || 'dashboard', args, params: new URLSearchParams(query || '') };
}

async function whoami() {
  try {
    const me = await api.get('/me', { quiet401: true });
    return { ...me, admin: me.role === 'admin' };
  } catch (e) {
    if (e.status === 401) return null;
    throw e;
  }
}

function showShell(on) {
  header.hidden = !on;
  document.body.dataset.role = session?.role || '';
  if (on) {
    fill(document.getElementById('who'), h('span', { class: 'user' }, session.user), ' ',
      h('span', { class: `badge ${session.admin ? 'admin' : 'viewer'}` }, session.role));
  }
}

async function route() {
  const mine = ++navigation;
  const { page, args, params } = parse();
  if (cleanup) { try { cleanup(); } catch { /* page gone */ } cleanup = null; }
  if (!session && page !== 'login') {
    try { session = await whoami(); } catch (e) {
      fill(main, h('p', { class: 'error', role: 'alert' }, e.message));
      return;
    }
    if (mine !== navigation) return;
    if (!session) {
      afterLogin = location.hash && location.hash !== '#/login' ? location.hash : '#/dashboard';
      go('#/login');
      return;
    }
  }
  if (page === 'login' && session) { go('#/dashboard'); return; }
  const load = PAGES[page];
  if (!load) { fill(main, h('h1', {}, 'Not found'), h('p', {}, `There is no page “${page}”.`)); return; }
  showShell(page !== 'login');
  if (session) events.start();
  for (const a of document.querySelectorAll('header nav a')) {
    if (a.getAttribute('href') === `#/${page}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.title = `${TITLES[page]} · fleetboot`;
  try {
    const mod = await load();
    if (mine !== navigation) return;
    main.replaceChildren();
    main.className = `page-${page}`;
    const ctx = { args, params, session, events, go, loggedIn };
    const result = await mod.render(main, ctx);
    if (mine !== navigation) { if (typeof result === 'function') result(); return; }
    cleanup = typeof result === 'function' ? result : null;
  } catch (e) {
    if (mine !== navigation) return;
    if (e.status !== 401) fill(main, h('h1', {}, TITLES[page]), h('p', { class: 'error', role: 'alert' }, e.message));
  }
}

/** The login page calls this once the cookie is set. */
async function loggedIn() {
  session = await whoami();
  const to = afterLogin;
  afterLogin = '#/dashboard';
  go(to);
}

async function logout() {
  try { await api.post('/logout'); } catch { /* already gone */ }
  session = null;
  events.stop();
  toast('Logged out.');
  go('#/login');
}

api.onUnauthorized(() => {
  if (!session) return;
  session = null;
  events.stop();
  toast('Your session has ended: log in again.', 'error');
  afterLogin = location.hash;
  go('#/login');
});

events.onState((s) => {
  const dot = document.getElementById('live-state');
  dot.textContent = s === 'live' ? 'live' : 'offline';
  dot.dataset.state = s;
});

document.getElementById('logout').addEventListener('click', logout);
window.addEventListener('hashchange', route);
route();

// Small DOM and formatting helpers shared by every page.

/** Builds an element: h('button', {class: 'x', onclick: f}, 'text', child…). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

/** Appends children, skipping null and false (Element.append would write "null"). */
export function append(el, ...children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

/** Replaces el's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let ids = 0;
/** A labelled form field: label + input/select/textarea, tied by id. */
export function field(label, control, hint) {
  control.id ||= `f${++ids}`;
  const parts = [h('label', { for: control.id }, label), control];
  if (hint) {
    const hid = `${control.id}-hint`;
    control.setAttribute('aria-describedby', hid);
    parts.push(h('small', { id: hid, class: 'muted' }, hint));
  }
  return h('div', { class: 'field' }, parts);
}

export function badge(text, kind) {
  return h('span', { class: `badge ${kind || ''}` }, text);
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
export function bytes(n) {
  if (n == null) return '';
  let i = 0;
  while (n >= 1024 && i < UNITS.length - 1) { n /= 1024; i++; }
  return `${i ? n.toFixed(n < 10 ? 1 : 0) : n} ${UNITS[i]}`;
}

export function rate(bps) {
  return `${bytes(bps)}/s`;
}

export function duration(secs) {
  if (!isFinite(secs)) return '–';
  secs = Math.max(0, Math.round(secs));
  const m = Math.floor(secs / 60), s = secs % 60;
  return m >= 60 ? `${Math.floor(m / 60)} h ${m % 60} min` : `${m}:${String(s).padStart(2, '0')}`;
}

/** Seconds since the epoch → local date and time. */
export function when(epoch) {
  if (!epoch) return '';
  const d = new Date(epoch * 1000);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString() : d.toLocaleString();
}

/** Seconds since the epoch → "3 min ago". */
export function ago(epoch) {
  if (!epoch) return '';
  const s = Math.round(Date.now() / 1000 - epoch);
  if (s < 60) return `${Math.max(s, 0)} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function time(epoch) {
  return h('time', { datetime: new Date(epoch * 1000).toISOString(), title: when(epoch) }, ago(epoch));
}

/** A short message in the corner; errors stay until dismissed. */
export function toast(text, kind = 'info') {
  const box = document.getElementById('toasts');
  const close = h('button', { type: 'button', class: 'ghost', 'aria-label': 'Dismiss' }, '×');
  const t = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : null }, h('span', {}, text), close);
  close.addEventListener('click', () => t.remove());
  box.append(t);
  if (kind !== 'error') setTimeout(() => t.remove(), 5000);
}

/**
 * A modal dialog with a form; resolves with the FormData on submit, null on cancel.
 * `submit(form)` may throw to keep the dialog open with the error shown; `wide` for editors;
 * `dismiss` labels the button that closes it without submitting (none when null).
 */
export function dialog(title, body, { ok = 'Save', danger = false, submit, wide = false, dismiss = 'Cancel' } = {}) {
  return new Promise((resolve) => {
    const error = h('p', { class: 'error', role: 'alert', hidden: true });
    const cancel = dismiss ? h('button', { type: 'button', class: 'ghost' }, dismiss) : null;
    const okButton = h('button', { type: 'submit', class: danger ? 'danger' : 'primary' }, ok);
    const form = h('form', { method: 'dialog' },
      h('h2', {}, title), body, error,
      h('div', { class: 'actions' }, cancel, okButton));
    const dlg = h('dialog', { 'aria-label': title, class: wide ? 'wide' : null }, form);
    const done = (v) => { dlg.close(); dlg.remove(); resolve(v); };
    cancel?.addEventListener('click', () => done(null));
    dlg.addEventListener('cancel', (e) => { e.preventDefault(); done(null); });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      okButton.disabled = true;
      try {
        const data = new FormData(form);
        if (submit) await submit(data, form);
        done(data);
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
        okButton.disabled = false;
      }
    });
    document.body.append(dlg);
    dlg.showModal();
    const first = form.querySelector('input:not([type=hidden]),select,textarea');
    (first || okButton).focus();
  });
}

/** Calls fn at most once per `ms`; a call in between lands at the end (with its arguments). */
export function throttle(fn, ms) {
  let timer = null, pending = null;
  const tick = () => {
    timer = null;
    if (pending) { const args = pending; pending = null; fn(...args); timer = setTimeout(tick, ms); }
  };
  return (...args) => {
    if (timer) { pending = args; return; }
    fn(...args);
    timer = setTimeout(tick, ms);
  };
}

export function debounce(fn, ms) {
  let t;
  return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
}

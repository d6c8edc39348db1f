// Form fields shared by the pages that attach unattended installs (installs, clients,
// images): a template select, metadata as key=value lines.
import { h } from './dom.js';

/** A select of `templates` (with “none”) named `name`, `current` selected. */
export function templateSelect(templates, current, name = 'template') {
  return h('select', { name },
    h('option', { value: '' }, 'none'),
    templates.map((t) => h('option', { value: t.name, selected: t.name === current },
      `${t.name} (${t.family}${t.builtin ? ', built-in' : ''})`)));
}

/** Metadata → “key=value” lines. */
export function metadataText(metadata) {
  return Object.entries(metadata || {}).map(([k, v]) => `${k}=${v}`).join('\n');
}

/**
 * “key=value” lines → metadata; blank lines and `#` comments are skipped.
 * @throws Error naming the first line without “=”.
 */
export function parseMetadata(text) {
  const out = {};
  for (const [i, raw] of (text || '').split('\n').entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq < 1) throw new Error(`Metadata line ${i + 1}: write key=value.`);
    out[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return out;
}

/** A textarea of metadata lines named `metadata`. */
export function metadataArea(metadata) {
  return h('textarea', { name: 'metadata', rows: 4, class: 'mono', spellcheck: 'false', placeholder: 'key=value, one a line' },
    metadataText(metadata));
}

/** Where a client's template comes from, for people. */
export function sourceText(source) {
  if (!source) return '';
  if (source.from === 'client') return 'set on this machine';
  if (source.from === 'group') return `from its group ${source.name}`;
  if (source.from === 'image') return 'the image’s default';
  return source.from;
}

// Small DOM helpers: an element builder, unique ids, announcements, tables.

let counter = 0;

/** A fresh element id with a readable prefix. */
export function uid(prefix) {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** Build an element: h('button', {type: 'button', onclick: fn}, 'Save'). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

/** Append children (nodes, strings, nested arrays; null and false are skipped). */
export function append(el, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** Replace an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** Say something to screen readers (and nothing else). */
export function announce(text) {
  const region = document.getElementById('announcer');
  if (!region) return;
  region.textContent = '';
  window.setTimeout(() => { region.textContent = text; }, 30);
}

/** A notice box: kind is 'info', 'ok', 'warn' or 'error'. */
export function notice(kind, ...children) {
  const role = kind === 'error' ? 'alert' : 'status';
  return h('div', {class: `notice notice-${kind}`, role}, ...children);
}

/** A table that stacks into labelled rows on narrow screens. */
export function table(caption, columns, rows) {
  const head = h('tr', {}, columns.map((c) => h('th', {scope: 'col'}, c.title)));
  const body = rows.map((row) => h('tr', {}, columns.map(
    (c) => h('td', {'data-label': c.title}, c.cell(row)),
  )));
  return h('div', {class: 'table-wrap'},
    h('table', {}, h('caption', {class: 'sr-only'}, caption), h('thead', {}, head),
      h('tbody', {}, body)));
}

/** A timestamp shown short, with the full value as a tooltip. */
export function when(ts) {
  if (!ts) return '—';
  return h('time', {datetime: ts, title: ts}, ts.replace('T', ' ').replace(/\.\d+Z$/, 'Z'));
}

/** Move focus to the main heading after a screen changes. */
export function focusHeading(root) {
  const heading = root.querySelector('h1');
  if (heading) {
    heading.setAttribute('tabindex', '-1');
    heading.focus({preventScroll: false});
  }
}

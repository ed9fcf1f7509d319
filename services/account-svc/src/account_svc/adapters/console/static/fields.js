// Labelled form fields and FormModel: conditional parts, and reading / filling a nested object.
//
// Every control that maps to the body carries `name` (the dotted path of its field, which is
// also the server's `errors[].loc`) and `data-kind` (how its value is read). Each field's
// wrapper carries `data-loc` and an error slot, so a 422 can be shown next to its field.

import {h, uid} from './dom.js';

/** The value at a dotted path, or undefined. */
export function getPath(object, path) {
  let node = object;
  for (const key of path.split('.')) {
    if (node === null || typeof node !== 'object') return undefined;
    node = node[key];
  }
  return node;
}

/** Set the value at a dotted path, creating objects on the way; returns the value. */
export function setPath(object, path, value) {
  const keys = path.split('.');
  let node = object;
  for (const key of keys.slice(0, -1)) {
    if (node[key] === null || typeof node[key] !== 'object') node[key] = {};
    node = node[key];
  }
  node[keys.at(-1)] = value;
  return value;
}

/** Whether a control takes part: not inside a conditional part that is hidden. */
export function isActive(el) {
  return !el.closest('[data-cond][hidden]');
}

function slots(id, hint) {
  return {
    hint: hint ? h('p', {class: 'hint', id: `${id}-hint`}, hint) : null,
    error: h('p', {class: 'field-error', id: `${id}-err`, hidden: true}),
    describedBy: hint ? `${id}-hint` : undefined,
  };
}

/** A labelled input. kind: text | int | secret. */
export function textField(name, label, opts = {}) {
  const id = uid('f');
  const s = slots(id, opts.hint);
  const input = h('input', {
    id, name, type: opts.type ?? 'text', 'data-kind': opts.kind ?? 'text',
    autocomplete: opts.autocomplete ?? 'off', inputmode: opts.inputmode,
    placeholder: opts.placeholder, value: opts.value, 'aria-describedby': s.describedBy,
    spellcheck: 'false',
  });
  return h('div', {class: 'field', 'data-loc': opts.loc ?? name},
    h('label', {for: id}, label), s.hint, s.error, input);
}

/** A labelled whole-number input; the server judges its range. */
export function numberField(name, label, opts = {}) {
  return textField(name, label, {...opts, type: 'number', kind: 'int', inputmode: 'numeric'});
}

/** A labelled password input whose empty value is left out (keeps a stored passphrase). */
export function secretField(name, label, opts = {}) {
  return textField(name, label, {...opts, type: 'password', kind: 'secret',
    autocomplete: 'new-password'});
}

/** A labelled select; options are [value, text] pairs. */
export function selectField(name, label, options, opts = {}) {
  const id = uid('f');
  const s = slots(id, opts.hint);
  const select = h('select', {id, name, 'data-kind': opts.kind ?? 'text',
    'aria-describedby': s.describedBy},
    opts.placeholder !== undefined ? h('option', {value: ''}, opts.placeholder) : null,
    options.map(([value, text]) => h('option', {value, selected: value === opts.value}, text)));
  return h('div', {class: 'field', 'data-loc': opts.loc ?? name},
    h('label', {for: id}, label), s.hint, s.error, select);
}

/** A single checkbox. kind: bool (true/false) or present (unchecked means null). */
export function checkField(name, label, opts = {}) {
  const id = uid('f');
  const s = slots(id, opts.hint);
  return h('div', {class: 'field field-check', 'data-loc': opts.loc ?? name},
    h('input', {id, name, type: 'checkbox', 'data-kind': opts.kind ?? 'bool',
      checked: Boolean(opts.checked), 'aria-describedby': s.describedBy}),
    h('label', {for: id}, label), s.hint, s.error);
}

function choices(type, kind, name, legend, options, isChecked, opts) {
  const id = uid('f');
  const s = slots(id, opts.hint);
  const items = options.map(([value, text]) => {
    const optionId = uid('o');
    return h('div', {class: 'check', 'data-value': value},
      h('input', {id: optionId, name, type, value, 'data-kind': kind, checked: isChecked(value)}),
      h('label', {for: optionId}, text));
  });
  return h('fieldset', {class: 'field', 'data-loc': opts.loc ?? name,
    'aria-describedby': s.describedBy},
  h('legend', {}, legend), s.hint, s.error, h('div', {class: 'checks'}, items));
}

/** A group of checkboxes read as a list of the checked values. */
export function checksField(name, legend, options, opts = {}) {
  const checked = new Set(opts.checked ?? []);
  return choices('checkbox', 'list', name, legend, options, (v) => checked.has(v), opts);
}

/** A group of radio buttons read as the checked value. */
export function radiosField(name, legend, options, opts = {}) {
  return choices('radio', 'radio', name, legend, options, (v) => v === opts.checked, opts);
}

/** A textarea read as a list of its non-empty lines. */
export function linesField(name, label, opts = {}) {
  const id = uid('f');
  const s = slots(id, opts.hint);
  return h('div', {class: 'field', 'data-loc': opts.loc ?? name},
    h('label', {for: id}, label), s.hint, s.error,
    h('textarea', {id, name, rows: opts.rows ?? 3, 'data-kind': 'lines', spellcheck: 'false',
      'aria-describedby': s.describedBy}));
}

function pairRow(list, key = '', value = '') {
  const kid = uid('k');
  const vid = uid('v');
  const row = h('div', {class: 'pair'},
    h('div', {class: 'pair-part'}, h('label', {for: kid}, 'Key'),
      h('input', {id: kid, class: 'pair-key', value: key, autocomplete: 'off'})),
    h('div', {class: 'pair-part'}, h('label', {for: vid}, 'Value'),
      h('input', {id: vid, class: 'pair-value', value, autocomplete: 'off'})),
    h('button', {type: 'button', class: 'button button-quiet', 'aria-label': 'Remove this pair',
      onclick: () => { row.remove(); list.dispatchEvent(new Event('input', {bubbles: true})); }},
    'Remove'));
  list.append(row);
}

/** Key/value rows read as an object. */
export function pairsField(name, legend, opts = {}) {
  const id = uid('f');
  const s = slots(id, opts.hint);
  const list = h('div', {class: 'pairs', 'data-kind': 'pairs', 'data-name': name});
  pairRow(list);
  return h('fieldset', {class: 'field', 'data-loc': opts.loc ?? name},
    h('legend', {}, legend), s.hint, s.error, list,
    h('button', {type: 'button', class: 'button button-quiet', onclick: () => pairRow(list)},
      'Add a pair'));
}

const READ = {
  text(out, name, el) { if (el.value.trim() !== '') setPath(out, name, el.value.trim()); },
  int(out, name, el) { if (el.value.trim() !== '') setPath(out, name, Number(el.value)); },
  secret(out, name, el) { if (el.value !== '') setPath(out, name, el.value); },
  bool(out, name, el) { setPath(out, name, el.checked); },
  present(out, name, el) { if (!el.checked) setPath(out, name, null); },
  radio(out, name, el) { if (el.checked) setPath(out, name, el.value); },
  list(out, name, el) {
    const list = Array.isArray(getPath(out, name)) ? getPath(out, name) : setPath(out, name, []);
    if (el.checked) list.push(el.value);
  },
  lines(out, name, el) {
    setPath(out, name, el.value.split(/\r?\n/).map((s) => s.trim()).filter(Boolean));
  },
  pairs(out, name, el) {
    const pairs = {};
    for (const row of el.querySelectorAll('.pair')) {
      const key = row.querySelector('.pair-key').value.trim();
      if (key) pairs[key] = row.querySelector('.pair-value').value;
    }
    setPath(out, name, pairs);
  },
};

const WRITE = {
  text(el, v) {
    // A stored value the select no longer offers (an inbound format refused since) is shown
    // as it is, so that saving names it (the server's error) instead of silently changing it.
    if (el.tagName === 'SELECT' && v && ![...el.options].some((o) => o.value === v)) {
      el.append(h('option', {value: v}, `${v} (no longer offered)`));
    }
    el.value = v ?? '';
  },
  int(el, v) { el.value = v ?? ''; },
  secret(el, v, parent) {
    el.value = '';
    el.placeholder = parent?.passphrase_set ? 'Set: leave empty to keep it' : '';
  },
  bool(el, v) { el.checked = Boolean(v); },
  present(el, v) { el.checked = v !== null; },
  radio(el, v) { if (v !== null) el.checked = el.value === v; },
  list(el, v) { if (Array.isArray(v)) el.checked = v.includes(el.value); },
  lines(el, v) { el.value = Array.isArray(v) ? v.join('\n') : ''; },
  pairs(el, v) {
    el.replaceChildren();
    const entries = Object.entries(v ?? {});
    if (entries.length === 0) pairRow(el);
    for (const [key, value] of entries) pairRow(el, key, value);
  },
};

function nameOf(el) {
  return el.getAttribute('name') ?? el.dataset.name;
}

/** A form's conditional parts and its values as a nested object. */
export class FormModel {
  constructor(root) {
    this.root = root;
    this.rules = [];
    this.hooks = [];
    this.order = new Map(); // list name -> the order filled in, kept when the list is read
    const refresh = () => this.refresh();
    root.addEventListener('input', refresh);
    root.addEventListener('change', refresh);
  }

  /** Show `el` only while predicate(model) holds; its controls are left out when hidden. */
  when(el, predicate) {
    el.dataset.cond = '';
    this.rules.push([el, predicate]);
    return el;
  }

  /** Run `hook(model)` after every refresh (e.g. to update options). */
  onRefresh(hook) {
    this.hooks.push(hook);
  }

  controls(name) {
    return [...this.root.querySelectorAll(`[name="${CSS.escape(name)}"]`)];
  }

  /** The value of a text/select control or the checked radio. */
  value(name) {
    const controls = this.controls(name);
    const radio = controls.find((c) => c.type === 'radio' && c.checked);
    if (radio) return radio.value;
    return controls[0] && controls[0].type !== 'radio' ? controls[0].value : '';
  }

  /** Whether a single checkbox is checked. */
  checked(name) {
    return this.controls(name).some((c) => c.checked);
  }

  /** The checked values of a checkbox group (options that are shown). */
  values(name) {
    return this.controls(name).filter((c) => c.checked && isActive(c)).map((c) => c.value);
  }

  refresh() {
    for (const [el, predicate] of this.rules) el.hidden = !predicate(this);
    for (const hook of this.hooks) hook(this);
  }

  /** The body the shown controls describe. */
  collect() {
    const out = {};
    for (const el of this.root.querySelectorAll('[data-kind]')) {
      if (isActive(el)) READ[el.dataset.kind](out, nameOf(el), el);
    }
    for (const [name, order] of this.order) {
      const list = getPath(out, name);
      const rank = (v) => (order.includes(v) ? order.indexOf(v) : order.length);
      if (Array.isArray(list)) list.sort((a, b) => rank(a) - rank(b));
    }
    return out;
  }

  /** Set the controls from an object; fields it does not have keep their defaults. */
  fill(object) {
    for (const el of this.root.querySelectorAll('[data-kind]')) {
      const name = nameOf(el);
      const value = getPath(object, name);
      if (value === undefined && el.dataset.kind !== 'secret') continue;
      const parent = getPath(object, name.split('.').slice(0, -1).join('.'));
      WRITE[el.dataset.kind](el, value, parent);
      if (el.dataset.kind === 'list' && Array.isArray(value)) this.order.set(name, value);
    }
    this.refresh();
  }
}

/** A fieldset grouping related fields, with its own error slot (for errors on the group). */
export function box(loc, legend, ...children) {
  return h('fieldset', {class: 'box', 'data-loc': loc ?? false},
    h('legend', {}, legend), h('p', {class: 'field-error', id: uid('e'), hidden: true}),
    ...children);
}

/** A titled section of a form; `loc` (optional) lets errors on the whole section show here. */
export function panel(loc, title, ...children) {
  return h('section', {class: 'panel', 'data-loc': loc ?? false},
    h('h3', {}, title), h('p', {class: 'field-error', id: uid('e'), hidden: true}), ...children);
}

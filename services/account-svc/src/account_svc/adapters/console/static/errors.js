// Problem answers in a form: each 422 error next to the field its `loc` names (the nearest
// shown element whose data-loc is a prefix of the loc), the rest in a summary at the top.

import {h, replace} from './dom.js';
import {describe} from './api.js';
import {isActive} from './fields.js';

/** Remove every shown error inside root. */
export function clearErrors(root) {
  for (const slot of root.querySelectorAll('.field-error')) {
    slot.hidden = true;
    slot.replaceChildren();
  }
  for (const el of root.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  for (const el of root.querySelectorAll('.has-error')) el.classList.remove('has-error');
}

function targetFor(root, loc) {
  for (let n = loc.length; n > 0; n -= 1) {
    const key = loc.slice(0, n).join('.');
    const el = root.querySelector(`[data-loc="${CSS.escape(key)}"]`);
    if (el && isActive(el)) return {el, rest: loc.slice(n)};
  }
  return null;
}

function where(rest, el) {
  if (rest.length === 0) return '';
  const noun = el.querySelector('textarea') ? 'line' : 'item';
  const parts = rest.map((s) => (typeof s === 'number' ? `${noun} ${s + 1}` : `“${s}”`));
  return `${parts.join(', ')}: `;
}

function describeBy(el, id) {
  const ids = new Set((el.getAttribute('aria-describedby') ?? '').split(' ').filter(Boolean));
  ids.add(id);
  el.setAttribute('aria-describedby', [...ids].join(' '));
}

/** The visible name of a field wrapper: the legends of its groups, then its label. */
export function fieldName(el) {
  const names = [];
  for (let node = el; node; node = node.parentElement?.closest('.box, .panel')) {
    const label = node.querySelector(':scope > label, :scope > legend, :scope > h3');
    if (label) names.unshift(label.textContent.trim());
  }
  return names.join(' › ');
}

/** Show each error next to its field; answers {placed: [{err, el}], unplaced: [err]}. */
export function placeErrors(root, errors) {
  const placed = [];
  const unplaced = [];
  for (const err of errors ?? []) {
    const found = targetFor(root, Array.isArray(err.loc) ? err.loc : []);
    const slot = found?.el.querySelector(':scope > .field-error');
    if (!found || !slot) {
      unplaced.push(err);
      continue;
    }
    slot.append(h('span', {}, where(found.rest, found.el) + err.msg));
    slot.hidden = false;
    found.el.classList.add('has-error');
    const control = found.el.tagName === 'FIELDSET'
      ? found.el : found.el.querySelector('input, select, textarea');
    if (control) {
      if (control.tagName !== 'FIELDSET') control.setAttribute('aria-invalid', 'true');
      describeBy(control, slot.id);
    }
    placed.push({err, el: found.el});
  }
  return {placed, unplaced};
}

/** Focus the first control of a field wrapper. */
export function focusField(el) {
  const control = el.querySelector('input:not([type=hidden]), select, textarea, button') ?? el;
  control.focus();
}

/**
 * Fill the summary box: a title, a jump link per placed error, the unplaced ones with their
 * path. `jump(el)` shows and focuses a field (e.g. after switching the wizard's step).
 */
export function showSummary(summary, title, {placed = [], unplaced = []}, jump) {
  const items = [
    ...placed.map(({err, el}) => h('li', {}, h('button', {
      type: 'button', class: 'link', onclick: () => jump(el),
    }, `${fieldName(el) || err.loc.join('.')}: ${err.msg}`))),
    ...unplaced.map((err) => h('li', {},
      h('code', {}, (err.loc ?? []).join('.') || 'request'), ` ${err.msg}`)),
  ];
  replace(summary, h('h2', {}, title), items.length ? h('ul', {}, items) : null);
  summary.hidden = false;
  summary.focus();
}

/** A 422 shown in place (with a summary); any other problem shown in the summary. */
export function showProblem(root, summary, error, jump = focusField) {
  clearErrors(root);
  const problem = error.problem ?? {};
  if (error.status === 422 && Array.isArray(problem.errors)) {
    const result = placeErrors(root, problem.errors);
    const count = problem.errors.length;
    showSummary(summary, `The server found ${count} problem${count === 1 ? '' : 's'}`, result,
      jump);
    return result;
  }
  replace(summary, h('h2', {}, 'Not saved'), h('p', {}, describe(error)));
  summary.hidden = false;
  summary.focus();
  return {placed: [], unplaced: []};
}

/** The summary box to put at the top of a form. */
export function summaryBox() {
  return h('div', {class: 'error-summary', role: 'alert', tabindex: '-1', hidden: true});
}

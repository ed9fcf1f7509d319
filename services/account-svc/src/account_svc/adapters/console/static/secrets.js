// Secrets shown once (a new API key, a webhook signing secret), with copy buttons.

import {announce, h, uid} from './dom.js';

async function copy(input, status) {
  try {
    await navigator.clipboard.writeText(input.value);
  } catch {
    input.select();
    document.execCommand('copy');
  }
  status.textContent = 'Copied';
  announce('Copied to the clipboard');
}

/** A panel showing each [label, value] once; `onDone` runs when the user dismisses it. */
export function secretsPanel({title, secrets}, onDone = () => {}) {
  const titleId = uid('sec');
  const rows = secrets.map(([label, value]) => {
    const id = uid('secret');
    const status = h('span', {class: 'copy-status', 'aria-live': 'polite'});
    const input = h('input', {id, class: 'secret-value', readonly: true, value,
      spellcheck: 'false', autocomplete: 'off'});
    return h('div', {class: 'field secret-row'},
      h('label', {for: id}, label),
      h('div', {class: 'secret-line'}, input,
        h('button', {type: 'button', class: 'button', 'aria-label': `Copy ${label}`,
          onclick: () => copy(input, status)}, 'Copy'), status));
  });
  const panel = h('section', {class: 'secrets', 'aria-labelledby': titleId},
    h('h2', {id: titleId, tabindex: '-1'}, title),
    h('p', {class: 'secrets-warning'},
      h('strong', {}, 'Copy these now: they are shown only this once. '),
      'Parley keeps only a hash or a sealed copy, so nobody can show them again. ',
      'If one is lost, issue a new one (the old one then stops working).'),
    rows,
    h('button', {type: 'button', class: 'button button-primary', onclick: () => {
      panel.remove();
      onDone();
    }}, 'I have saved them'));
  return panel;
}

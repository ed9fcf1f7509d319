// A modal confirmation on <dialog>: Escape or Cancel answer false.

import {h, uid} from './dom.js';

/** Ask before doing something; resolves to true when confirmed. */
export function confirmDialog({title, body, confirm, danger = false}) {
  return new Promise((resolve) => {
    const titleId = uid('dlg');
    const previous = document.activeElement;
    const cancel = h('button', {type: 'button', class: 'button button-quiet'}, 'Cancel');
    const ok = h('button', {type: 'button',
      class: `button ${danger ? 'button-danger' : 'button-primary'}`}, confirm);
    const dialog = h('dialog', {class: 'dialog', 'aria-labelledby': titleId},
      h('h2', {id: titleId}, title), h('p', {}, body),
      h('div', {class: 'dialog-actions'}, cancel, ok));
    const done = (answer) => {
      dialog.close();
      dialog.remove();
      if (previous instanceof HTMLElement && previous.isConnected) previous.focus();
      resolve(answer);
    };
    cancel.addEventListener('click', () => done(false));
    ok.addEventListener('click', () => done(true));
    dialog.addEventListener('cancel', (event) => {
      event.preventDefault();
      done(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    (danger ? cancel : ok).focus();
  });
}

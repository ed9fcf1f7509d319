// Enterprise and account filters shared by the Traffic and Dead letters screens. The accounts
// offered are those of the chosen enterprise (or all in scope), the first 200 of them.

import {api, query} from './api.js';
import {h, uid} from './dom.js';

const ACCOUNTS_SHOWN = 200;

function field(label, control, hint) {
  const id = uid('f');
  control.id = id;
  return h('div', {class: 'field'}, h('label', {for: id}, label),
    hint ? h('p', {class: 'hint'}, hint) : null, control);
}

/**
 * Two selects; `onChange({enterprise, account})` after either changes. `state` keeps the choice
 * across visits; `allAccounts` is the label of the empty account choice (null: none offered).
 */
export async function scopePicker(state, onChange, {allAccounts = 'All accounts'} = {}) {
  const listAccounts = () => api('GET', `/v1/accounts${query({enterprise_id: state.enterprise,
    limit: ACCOUNTS_SHOWN})}`);
  const accounts = listAccounts(); // side by side with the organizations
  accounts.catch(() => {}); // a failure is reported by loadAccounts below
  const {items} = await api('GET', '/v1/organizations');
  const ents = items.filter((o) => o.kind === 'enterprise');
  const enterprise = h('select', {name: 'enterprise'}, h('option', {value: ''}, 'All enterprises'),
    ents.map((e) => h('option', {value: e.id, selected: e.id === state.enterprise}, e.name)));
  const account = h('select', {name: 'account'});
  const note = h('p', {class: 'hint', hidden: true},
    `Only the first ${ACCOUNTS_SHOWN} accounts are offered; choose an enterprise to narrow.`);

  async function loadAccounts(pending = null) {
    const page = await (pending ?? listAccounts());
    const items = page.items;
    if (!items.some((a) => a.id === state.account)) state.account = '';
    account.replaceChildren(
      allAccounts ? h('option', {value: ''}, allAccounts)
        : h('option', {value: '', disabled: true, selected: !state.account}, 'Choose an account'),
      ...items.map((a) => h('option', {value: a.id, selected: a.id === state.account},
        `${a.label} (${a.id})`)),
    );
    note.hidden = !page.next_cursor;
  }

  enterprise.addEventListener('change', async () => {
    state.enterprise = enterprise.value;
    state.account = '';
    await loadAccounts();
    onChange(state);
  });
  account.addEventListener('change', () => {
    state.account = account.value;
    onChange(state);
  });
  await loadAccounts(accounts);
  return h('div', {class: 'filters filters-two'},
    field('Enterprise', enterprise), h('div', {}, field('Account', account), note));
}

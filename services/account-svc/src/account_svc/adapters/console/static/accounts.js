// The access account list: filter by enterprise, page with limit/cursor, and search.
// Search filters the loaded page only (label or id), in the browser; the API has no search.

import {api, describe, query} from './api.js';
import {h, notice, replace, table, when, uid} from './dom.js';
import {CHANNEL_NAME} from './account_sections.js';
import {enterprises} from './directory.js';

const COLUMNS = [
  {title: 'Label', cell: (a) => h('a', {href: `#/accounts/${a.id}`}, a.label)},
  {title: 'Id', cell: (a) => h('code', {}, a.id)},
  {title: 'Type', cell: (a) => (a.traffic_type
    ? `${a.communication_type} · ${a.traffic_type}` : a.communication_type)},
  {title: 'Channels', cell: (a) => a.channels.map((c) => CHANNEL_NAME[c]).join(', ')},
  {title: 'Version', cell: (a) => String(a.version)},
  {title: 'Updated', cell: (a) => when(a.updated_at)},
];

function labelled(label, control, hint) {
  const id = uid('f');
  control.id = id;
  return h('div', {class: 'field'}, h('label', {for: id}, label),
    hint ? h('p', {class: 'hint'}, hint) : null, control);
}

/** Render the list into `main`; the page position lives in ctx.list across visits. */
export async function renderAccounts(main, ctx) {
  const list = ctx.list ?? (ctx.list = {enterprise: '', limit: 25, cursors: [null]});
  const ents = await enterprises();
  const flash = ctx.flash ? notice('ok', ctx.flash) : null;
  ctx.flash = null;
  const enterprise = h('select', {}, h('option', {value: ''}, 'All enterprises'),
    ents.map((e) => h('option', {value: e.id, selected: e.id === list.enterprise}, e.name)));
  const search = h('input', {type: 'search', autocomplete: 'off'});
  const size = h('select', {}, [10, 25, 50, 100].map(
    (n) => h('option', {value: n, selected: n === list.limit}, `${n} per page`)));
  const results = h('div', {'aria-live': 'polite'});
  const prev = h('button', {type: 'button', class: 'button'}, 'Previous page');
  const next = h('button', {type: 'button', class: 'button'}, 'Next page');
  const where = h('span', {class: 'muted'});
  let page = {items: [], next_cursor: null};

  const show = () => {
    const needle = search.value.trim().toLowerCase();
    const items = page.items.filter((a) => !needle
      || a.label.toLowerCase().includes(needle) || a.id.toLowerCase().includes(needle));
    let body;
    if (items.length) body = table('Access accounts', COLUMNS, items);
    else if (page.items.length) body = h('p', {class: 'muted'}, 'No account on this page matches.');
    else body = h('p', {class: 'muted'}, 'No access accounts yet.');
    replace(results, body);
    prev.disabled = list.cursors.length < 2;
    next.disabled = !page.next_cursor;
    where.textContent = `Page ${list.cursors.length}`;
  };
  const load = async () => {
    try {
      page = await api('GET', `/v1/accounts${query({enterprise_id: list.enterprise,
        limit: list.limit, cursor: list.cursors.at(-1)})}`);
    } catch (error) {
      page = {items: [], next_cursor: null};
      replace(results, notice('error', `Could not load accounts: ${describe(error)}`));
      return;
    }
    show();
  };
  const restart = () => {
    list.cursors = [null];
    load();
  };
  enterprise.addEventListener('change', () => { list.enterprise = enterprise.value; restart(); });
  size.addEventListener('change', () => { list.limit = Number(size.value); restart(); });
  search.addEventListener('input', show);
  prev.addEventListener('click', () => { list.cursors.pop(); load(); });
  next.addEventListener('click', () => { list.cursors.push(page.next_cursor); load(); });

  replace(main,
    h('div', {class: 'page-head'}, h('h1', {}, 'Access accounts'),
      h('a', {class: 'button button-primary', href: '#/accounts/new'}, 'Create access account')),
    flash,
    h('div', {class: 'filters'},
      labelled('Enterprise', enterprise),
      labelled('Search this page', search, 'Label or id, among the accounts loaded below.'),
      labelled('Page size', size)),
    results,
    h('div', {class: 'pager'}, prev, where, next));
  await load();
}

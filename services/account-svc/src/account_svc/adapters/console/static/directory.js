// Organizations and users (super admins only) and business groups.

import {api, describe, query} from './api.js';
import {announce, h, notice, replace, table, when} from './dom.js';
import {FormModel, radiosField, selectField, textField} from './fields.js';
import {clearErrors, showProblem, summaryBox} from './errors.js';

/** Organizations in the caller's scope. */
export async function organizations() {
  return (await api('GET', '/v1/organizations')).items;
}

/** Enterprises in the caller's scope (the ones accounts and groups live in). */
export async function enterprises() {
  return (await organizations()).filter((o) => o.kind === 'enterprise');
}

/** A small create form: fields, a submit button, errors in place, then `done(answer)`
 * (after emptying the form when `reset`). Used by the directory and the enterprise pages. */
export function createForm(title, fields, button, send, done,
  {titleId = 'create-title', reset = false} = {}) {
  const form = h('form', {class: 'card create-form', novalidate: true,
    'aria-labelledby': titleId});
  const m = new FormModel(form);
  const summary = summaryBox();
  const submit = h('button', {type: 'submit', class: 'button button-primary'}, button);
  form.append(h('h2', {id: titleId}, title), summary, ...fields(m), submit);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    summary.hidden = true;
    submit.disabled = true;
    try {
      const answer = await send(m.collect());
      if (reset) {
        form.reset();
        m.refresh();
      }
      await done(answer);
    } catch (error) {
      showProblem(form, summary, error);
    } finally {
      submit.disabled = false;
    }
  });
  m.refresh();
  return form;
}

function layout(main, heading, intro, status, form, list) {
  replace(main, h('h1', {}, heading), h('p', {class: 'lead'}, intro), status,
    h('div', {class: 'split'}, h('section', {'aria-label': `${heading} list`}, list), form));
}

/** Organizations: the list in scope, and a form to create an aggregator or enterprise. */
export async function renderOrganizations(main, ctx) {
  const orgs = await organizations();
  const names = Object.fromEntries(orgs.map((o) => [o.id, o.name]));
  const aggregators = orgs.filter((o) => o.kind === 'aggregator').map((o) => [o.id, o.name]);
  const platform = ctx.user.organization_id === null;
  const status = h('div');
  const form = createForm('New organization', (m) => [
    textField('name', 'Name'),
    radiosField('kind', 'Kind', [['enterprise', 'Enterprise'], ['aggregator', 'Aggregator']],
      {checked: 'enterprise'}),
    m.when(selectField('aggregator_id', 'Under aggregator', aggregators,
      {placeholder: platform ? 'None: directly under the platform' : undefined}),
    (f) => f.value('kind') === 'enterprise' && aggregators.length > 0),
  ], 'Create organization', (body) => api('POST', '/v1/organizations', body), async (org) => {
    ctx.flash = `Created ${org.kind} ${org.name} (${org.id}).`;
    await renderOrganizations(main, ctx);
    announce(ctx.flash);
  });
  const flash = ctx.flash ? notice('ok', ctx.flash) : null;
  ctx.flash = null;
  status.append(flash ?? '');
  layout(main, 'Organizations', 'Aggregators and the enterprises under them.', status, form,
    orgs.length ? table('Organizations', [
      {title: 'Name', cell: (o) => o.name},
      {title: 'Kind', cell: (o) => o.kind},
      {title: 'Under', cell: (o) => (o.aggregator_id
        ? names[o.aggregator_id] ?? o.aggregator_id : '—')},
      {title: 'Id', cell: (o) => h('code', {}, o.id)},
      {title: 'Created', cell: (o) => when(o.created_at)},
    ], orgs) : h('p', {class: 'muted'}, 'No organizations yet.'));
}

/** Users: the list in scope, and a form to create a user. */
export async function renderUsers(main, ctx) {
  const [users, orgs] = await Promise.all([api('GET', '/v1/users'), organizations()]);
  const names = Object.fromEntries(orgs.map((o) => [o.id, o.name]));
  const platform = ctx.user.organization_id === null;
  const status = h('div', {}, ctx.flash ? notice('ok', ctx.flash) : '');
  ctx.flash = null;
  const form = createForm('New user', () => [
    textField('username', 'Username', {hint: '3 to 64 of letters, digits, . _ @ -'}),
    textField('password', 'Password', {type: 'password', autocomplete: 'new-password',
      hint: 'At least 10 characters.'}),
    selectField('role', 'Role', [['admin', 'Admin: business groups and accounts'],
      ['super_admin', 'Super admin: also users and organizations']]),
    selectField('organization_id', 'Organization', orgs.map((o) => [o.id, `${o.name} (${o.kind})`]),
      {placeholder: platform ? 'The platform itself' : undefined}),
  ], 'Create user', (body) => api('POST', '/v1/users', body), async (user) => {
    ctx.flash = `Created user ${user.username}.`;
    await renderUsers(main, ctx);
    announce(ctx.flash);
  });
  layout(main, 'Users', 'People who can log in to this console.', status, form,
    table('Users', [
      {title: 'Username', cell: (u) => u.username},
      {title: 'Role', cell: (u) => u.role.replace('_', ' ')},
      {title: 'Organization', cell: (u) => (u.organization_id
        ? names[u.organization_id] ?? u.organization_id : 'Platform')},
      {title: 'Id', cell: (u) => h('code', {}, u.id)},
      {title: 'Created', cell: (u) => when(u.created_at)},
    ], users.items));
}

/** Business groups of one enterprise, and a form to create one there. */
export async function renderGroups(main, ctx) {
  const ents = await enterprises();
  const chosen = ctx.groupEnterprise && ents.some((e) => e.id === ctx.groupEnterprise)
    ? ctx.groupEnterprise : ents[0]?.id ?? '';
  const picker = selectField('enterprise', 'Enterprise', ents.map((e) => [e.id, e.name]),
    {value: chosen});
  const select = picker.querySelector('select');
  select.removeAttribute('data-kind');
  const list = h('div', {'aria-live': 'polite'});
  const status = h('div');
  const load = async () => {
    ctx.groupEnterprise = select.value;
    if (!select.value) {
      replace(list, h('p', {class: 'muted'}, 'There is no enterprise in your scope yet.'));
      return;
    }
    try {
      const path = `/v1/business-groups${query({enterprise_id: select.value})}`;
      const {items} = await api('GET', path);
      replace(list, items.length ? table('Business groups', [
        {title: 'Name', cell: (g) => g.name},
        {title: 'Id', cell: (g) => h('code', {}, g.id)},
        {title: 'Created', cell: (g) => when(g.created_at)},
      ], items) : h('p', {class: 'muted'}, 'This enterprise has no business group yet.'));
    } catch (error) {
      replace(list, notice('error', describe(error)));
    }
  };
  select.addEventListener('change', () => { replace(status); load(); });
  const form = createForm('New business group', () => [textField('name', 'Name')],
    'Create business group',
    (body) => api('POST', '/v1/business-groups', {...body, enterprise_id: select.value}),
    async (group) => {
      replace(status, notice('ok', `Created business group ${group.name} (${group.id}).`));
      form.reset();
      await load();
    });
  layout(main, 'Business groups', 'Groups organise the access accounts of an enterprise.',
    status, form, h('div', {}, picker, list));
  await load();
}

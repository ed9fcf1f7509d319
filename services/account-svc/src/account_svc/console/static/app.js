// The console's shell: who is logged in, the navigation, and a hash router over the screens.

import {api, ApiError, describe, whenSessionEnds} from './api.js';
import {focusHeading, h, notice, replace} from './dom.js';
import {renderLogin} from './login.js';
import {renderAccounts} from './accounts.js';
import {renderAccount} from './account_view.js';
import {renderAccountForm} from './account_form.js';
import {renderGroups, renderOrganizations, renderUsers} from './directory.js';
import {renderEnterprise} from './enterprise.js';

const main = document.getElementById('main');
const ctx = {user: null, flash: null, reveal: null, list: null};

const SCREENS = [
  {path: /^#\/accounts\/new$/, nav: 'accounts', render: (m) => renderAccountForm(m, ctx)},
  {path: /^#\/accounts\/([^/]+)\/edit$/, nav: 'accounts', render: async (m, id) => {
    const account = await api('GET', `/v1/accounts/${encodeURIComponent(id)}`);
    return renderAccountForm(m, ctx, account);
  }},
  {path: /^#\/accounts\/([^/]+)$/, nav: 'accounts', render: (m, id) => renderAccount(m, ctx, id)},
  {path: /^#\/accounts$/, nav: 'accounts', render: (m) => renderAccounts(m, ctx)},
  {path: /^#\/groups$/, nav: 'groups', render: (m) => renderGroups(m, ctx)},
  {path: /^#\/enterprise$/, nav: 'enterprise', render: (m) => renderEnterprise(m, ctx)},
  {path: /^#\/organizations$/, nav: 'organizations', superOnly: true,
    render: (m) => renderOrganizations(m, ctx)},
  {path: /^#\/users$/, nav: 'users', superOnly: true, render: (m) => renderUsers(m, ctx)},
];
const NAV = [
  ['accounts', '#/accounts', 'Access accounts'],
  ['groups', '#/groups', 'Business groups'],
  ['enterprise', '#/enterprise', 'Senders and apps'],
  ['organizations', '#/organizations', 'Organizations', true],
  ['users', '#/users', 'Users', true],
];

function renderNav(current) {
  const superAdmin = ctx.user?.role === 'super_admin';
  replace(document.getElementById('nav'), h('ul', {}, NAV
    .filter(([, , , superOnly]) => superAdmin || !superOnly)
    .map(([key, href, text]) => h('li', {}, h('a', {href,
      'aria-current': key === current ? 'page' : undefined}, text)))));
}

async function route() {
  if (!ctx.user) return;
  const hash = window.location.hash || '#/accounts';
  const screen = SCREENS.find((s) => s.path.test(hash));
  if (!screen) {
    window.location.replace('#/accounts');
    return;
  }
  renderNav(screen.nav);
  if (screen.superOnly && ctx.user.role !== 'super_admin') {
    replace(main, h('h1', {}, 'Not available'),
      notice('info', 'Only super admins manage organizations and users.'));
    focusHeading(main);
    return;
  }
  replace(main, h('p', {class: 'muted'}, 'Loading…'));
  try {
    await screen.render(main, ...hash.match(screen.path).slice(1).map(decodeURIComponent));
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    const missing = error instanceof ApiError && error.status === 404;
    replace(main, h('h1', {}, missing ? 'Not found' : 'Something went wrong'),
      notice('error', missing ? 'It does not exist, was deleted, or is outside your scope.'
        : describe(error)),
      h('p', {}, h('a', {href: '#/accounts'}, 'Back to access accounts')));
  }
  const active = document.activeElement;
  if (!main.contains(active) || active === main) focusHeading(main);
}

function showLogin(message = '') {
  ctx.user = null;
  document.getElementById('topbar').hidden = true;
  document.title = 'Log in · Parley console';
  renderLogin(main, (user) => {
    startSession(user);
    route();
  }, message);
}

function startSession(user) {
  ctx.user = user;
  ctx.list = null;
  document.getElementById('topbar').hidden = false;
  document.title = 'Parley console';
  const role = user.role.replace('_', ' ');
  replace(document.getElementById('who-name'), user.username, ' ',
    h('span', {class: 'muted'}, `(${role})`));
}

async function logout() {
  try {
    await api('DELETE', '/console/session');
  } finally {
    ctx.reveal = null;
    showLogin();
  }
}

async function boot() {
  whenSessionEnds(() => showLogin('Your session has ended. Log in again.'));
  document.getElementById('logout').addEventListener('click', logout);
  document.querySelector('.skip-link').addEventListener('click', (event) => {
    event.preventDefault();
    main.focus();
  });
  window.addEventListener('hashchange', route);
  try {
    const {user} = await api('GET', '/console/session');
    startSession(user);
    await route();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) showLogin();
    else replace(main, h('h1', {}, 'Parley console'), notice('error', describe(error)));
  }
}

boot();

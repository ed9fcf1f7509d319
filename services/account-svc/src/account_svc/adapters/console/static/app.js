// The console's shell: who is logged in, the navigation, and a hash router over the screens.

import {api, ApiError, describe, whenSessionEnds} from './api.js';
import {focusHeading, h, notice, replace} from './dom.js';
import {renderLogin} from './login.js';

const main = document.getElementById('main');
const leaving = [];
const ctx = {user: null, flash: null, reveal: null, list: null,
  onLeave: (stop) => leaving.push(stop)};

// Each screen's module is loaded when the screen is first shown: a page fetches only the code
// of the screen it opens (the Traffic view never loads the account form, nor the accounts list
// the chart library).
function screen(module, name) {
  return async (...args) => (await import(module))[name](...args);
}
const accountForm = screen('./account_form.js', 'renderAccountForm');

const SCREENS = [
  {path: /^#\/accounts\/new$/, nav: 'accounts', render: (m) => accountForm(m, ctx)},
  {path: /^#\/accounts\/([^/]+)\/edit$/, nav: 'accounts', render: async (m, id) => {
    const account = await api('GET', `/v1/accounts/${encodeURIComponent(id)}`);
    return accountForm(m, ctx, account);
  }},
  {path: /^#\/accounts\/([^/]+)$/, nav: 'accounts',
    render: (m, id) => screen('./account_view.js', 'renderAccount')(m, ctx, id)},
  {path: /^#\/accounts$/, nav: 'accounts',
    render: (m) => screen('./accounts.js', 'renderAccounts')(m, ctx)},
  {path: /^#\/groups$/, nav: 'groups',
    render: (m) => screen('./directory.js', 'renderGroups')(m, ctx)},
  {path: /^#\/traffic$/, nav: 'traffic',
    render: (m) => screen('./traffic.js', 'renderTraffic')(m, ctx)},
  {path: /^#\/routes$/, nav: 'routes',
    render: (m) => screen('./route_states.js', 'renderRoutes')(m, ctx)},
  {path: /^#\/trace(?:\/(.+))?$/, nav: 'trace',
    render: (m, q) => screen('./trace.js', 'renderTrace')(m, ctx, q ?? '')},
  {path: /^#\/dead-letters$/, nav: 'dead-letters',
    render: (m) => screen('./dead_letters.js', 'renderDeadLetters')(m, ctx)},
  {path: /^#\/enterprise$/, nav: 'enterprise',
    render: (m) => screen('./enterprise.js', 'renderEnterprise')(m, ctx)},
  {path: /^#\/organizations$/, nav: 'organizations', superOnly: true,
    render: (m) => screen('./directory.js', 'renderOrganizations')(m, ctx)},
  {path: /^#\/users$/, nav: 'users', superOnly: true,
    render: (m) => screen('./directory.js', 'renderUsers')(m, ctx)},
];
const NAV = [
  ['accounts', '#/accounts', 'Access accounts'],
  ['groups', '#/groups', 'Business groups'],
  ['traffic', '#/traffic', 'Traffic'],
  ['routes', '#/routes', 'Routes'],
  ['trace', '#/trace', 'Message trace'],
  ['dead-letters', '#/dead-letters', 'Dead letters'],
  ['enterprise', '#/enterprise', 'Senders and apps'],
  ['organizations', '#/organizations', 'Organizations', true],
  ['users', '#/users', 'Users', true],
];

function renderNav(current) {
  const superAdmin = ctx.user?.role === 'super_admin';
  replace(document.getElementById('nav'), h('ul', {}, NAV
    .filter(([, , , superOnly]) => superAdmin || !superOnly)
    .map(([key, href, text]) => h('li', {}, h('a', {href, 'data-nav': key,
      'aria-current': key === current ? 'page' : undefined}, text)))));
}

// Views with a path of their own (/console/traffic ...): the page is the same, the path only
// chooses the first screen when there is no #fragment.
const PATH_VIEWS = /^\/console\/(traffic|routes|trace|dead-letters)\/?$/;

function initialHash() {
  const match = window.location.pathname.match(PATH_VIEWS);
  return match ? `#/${match[1]}` : '#/accounts';
}

async function route() {
  if (!ctx.user) return;
  leaving.splice(0).forEach((stop) => stop());
  const hash = window.location.hash || initialHash();
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
    const parts = hash.match(screen.path).slice(1);
    await screen.render(main, ...parts.map((p) => (p === undefined ? p : decodeURIComponent(p))));
    performance.mark('parley-screen-shown'); // what tests/console/page_timing.py measures
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
  leaving.splice(0).forEach((stop) => stop());
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

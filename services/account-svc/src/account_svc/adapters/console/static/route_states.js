// Routes: every route of routing-svc with its provider, capacity, current rate and connection
// state (SMPP binds, last error), as every replica reports it; refreshed every few seconds.

import {api, describe} from './api.js';
import {h, notice, replace, table, when} from './dom.js';

const REFRESH_MS = 5000;
const PROVIDER = {sandbox: 'Sandbox', smpp: 'SMPP 3.4', whatsapp_cloud: 'WhatsApp Cloud API',
  rbm: 'RCS Business Messaging'};

function state(route) {
  if (route.up) return h('span', {class: 'tag tag-delivered'}, 'Up');
  if (route.replicas_up === 0) return h('span', {class: 'tag tag-dead'}, 'Down');
  return h('span', {class: 'tag tag-failed'},
    `Up on ${route.replicas_up} of ${route.replicas} replicas`);
}

function lastError(route) {
  const [latest] = route.errors;
  if (!latest) return '—';
  return h('span', {}, h('code', {}, latest.error), ' ', when(latest.at),
    route.replicas > 1 ? h('span', {class: 'muted'}, ` (${latest.replica})`) : null);
}

const COLUMNS = [
  {title: 'Route', cell: (r) => h('code', {class: 'nowrap'}, r.name)},
  {title: 'Channel', cell: (r) => (r.agent_provider ? `${r.channel} · ${r.agent_provider}`
    : r.channel)},
  {title: 'Provider', cell: (r) => PROVIDER[r.provider] ?? r.provider},
  {title: 'Capacity', cell: (r) => `${r.capacity_per_s}/s`},
  {title: 'Current rate', cell: (r) => (r.rate_per_s === null ? '—' : `${r.rate_per_s}/s`)},
  {title: 'State', cell: state},
  {title: 'SMPP binds', cell: (r) => (r.binds ? `${r.binds.up} of ${r.binds.total} up` : '—')},
  {title: 'Window in use',
    cell: (r) => (r.window_in_use === null ? '—' : String(r.window_in_use))},
  {title: 'Last error', cell: lastError},
];

/** Render the Routes screen; it refreshes itself while it is on the page. */
export async function renderRoutes(main, ctx) {
  const body = h('div');
  const replicas = h('p', {class: 'hint', id: 'routes-replicas'});
  const refresh = h('button', {type: 'button', class: 'button'}, 'Refresh');
  let timer = null;

  async function load() {
    try {
      const answer = await api('GET', '/v1/routes');
      const count = answer.replicas.length;
      replicas.textContent = `As reported just now by ${count} routing-svc `
        + `${count === 1 ? 'replica' : 'replicas'}: ${answer.replicas.join(', ')}.`;
      replace(body, table('Routes and their connection state', COLUMNS, answer.items));
    } catch (error) {
      replicas.textContent = '';
      replace(body, error.status === 503
        ? notice('warn', h('strong', {}, 'No routing-svc is answering. '),
          'Routes are reported by routing-svc itself; check that it runs.')
        : notice('error', `Could not load the routes: ${describe(error)}`));
    }
  }
  refresh.addEventListener('click', load);
  const root = h('div', {},
    h('div', {class: 'page-head'}, h('h1', {}, 'Routes'), refresh),
    h('p', {class: 'lead'}, 'Every route, its provider, capacity, current rate and connection ',
      `state. Updates every ${REFRESH_MS / 1000} seconds.`),
    ctx.user.organization_id ? h('p', {class: 'hint'},
      "Current rates are shown to platform users only: routes carry every tenant's traffic.")
      : null,
    replicas, body);
  replace(main, root);
  await load();
  timer = window.setInterval(() => {
    if (root.isConnected) load();
    else window.clearInterval(timer);
  }, REFRESH_MS);
  ctx.onLeave(() => window.clearInterval(timer));
}

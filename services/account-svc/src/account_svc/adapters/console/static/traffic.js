// Traffic: the last hour per minute (status and channel charts, each with its numbers in a
// table), delivery and fallback rates, delivery rate per route, webhook attempts by outcome and
// queue depths; filtered by enterprise and account, refreshed every few seconds in place.

import {api, describe, query} from './api.js';
import {h, notice, replace, table} from './dom.js';
import {CHANNEL_SERIES, STATUS_SERIES, lineChart, loadUplot} from './chart.js';
import {scopePicker} from './scope_picker.js';

export const REFRESH_MS = 5000;

export function pct(ratio) {
  return ratio === null || ratio === undefined ? '—' : `${(ratio * 100).toFixed(1)} %`;
}

function num(n) {
  return Number(n ?? 0).toLocaleString('en');
}

function stat(label, value, hint) {
  return h('div', {class: 'stat'}, h('dt', {}, label), h('dd', {}, value),
    hint ? h('dd', {class: 'stat-hint'}, hint) : null);
}

/** The per-minute numbers of a chart, minutes with nothing left out. */
function minuteTable(caption, minutes, series, values) {
  const rows = minutes.map((minute, i) => ({minute, i}))
    .filter(({i}) => series.some((s) => (values[s.key]?.[i] ?? 0) > 0))
    .reverse();
  if (!rows.length) return h('p', {class: 'muted'}, 'Nothing in the last hour.');
  return table(caption, [
    {title: 'Minute (UTC)', cell: (r) => r.minute.replace('T', ' ')},
    ...series.map((s) => ({title: s.label, cell: (r) => num(values[s.key]?.[r.i])})),
  ], rows);
}

/** A chart in a card with its numbers per minute in a disclosure that stays open. */
function chartCard(chart, caption) {
  const numbers = h('div');
  const card = h('section', {class: 'card'}, chart.figure,
    h('details', {class: 'chart-numbers'}, h('summary', {}, `${caption}: the numbers per minute`),
      numbers));
  return {card, numbers};
}

function totals(view) {
  const t = view.totals;
  const hooks = view.webhooks.totals;
  return h('dl', {class: 'stats'},
    stat('Messages finished', num(t.finished), `${num(t.sent)} attempts sent`),
    stat('Delivery rate', pct(view.delivery_rate),
      `${num(t.delivered)} delivered, ${num(t.failed)} failed`),
    stat('Fallback rate', pct(view.fallback_rate), `${num(t.fell_back)} finished after a fallback`),
    stat('Webhook attempts',
      num(hooks.delivered.attempts + hooks.failed.attempts + hooks.dead.attempts),
      `${num(hooks.failed.attempts)} failed, ${num(hooks.dead.attempts)} dead`),
    stat('Waiting for routing', num(view.queues.submit_waiting), 'messages on SUBMIT now'));
}

const ROUTE_COLUMNS = [
  {title: 'Route',
    cell: (r) => (r.route ? h('code', {class: 'nowrap'}, r.route) : 'Before a route')},
  {title: 'Channel', cell: (r) => r.channel},
  {title: 'Sent', cell: (r) => num(r.sent)},
  {title: 'Delivered', cell: (r) => num(r.delivered)},
  {title: 'Failed', cell: (r) => num(r.failed)},
  {title: 'Fell back', cell: (r) => num(r.fallback)},
  {title: 'Delivery rate', cell: (r) => pct(r.delivery_rate)},
];

function webhookTable(view) {
  const rows = ['delivered', 'failed', 'dead']
    .map((outcome) => ({outcome, ...view.webhooks.totals[outcome]}));
  return table('Webhook deliveries by outcome, last hour', [
    {title: 'Outcome', cell: (r) => h('span', {class: `tag tag-${r.outcome}`}, r.outcome)},
    {title: 'Attempts', cell: (r) => num(r.attempts)},
    {title: 'Events carried', cell: (r) => num(r.events)},
  ], rows);
}

function queueTable(streams) {
  const rows = streams.flatMap((s) => (s.consumers.length
    ? s.consumers.map((c, i) => ({...s, first: i === 0, consumer: c}))
    : [{...s, first: true, consumer: null}]));
  return table('Queue depth of each stream', [
    {title: 'Stream', cell: (r) => (r.first ? h('code', {}, r.stream) : '')},
    {title: 'Messages held', cell: (r) => (r.first ? num(r.messages) : '')},
    {title: 'Consumer', cell: (r) => (r.consumer ? h('code', {}, r.consumer.name) : '—')},
    {title: 'Waiting', cell: (r) => (r.consumer ? num(r.consumer.pending) : '—')},
    {title: 'In hand', cell: (r) => (r.consumer ? num(r.consumer.in_hand) : '—')},
  ], rows);
}

function dataNotes(view) {
  const notes = [];
  if (view.loading) {
    notes.push(notice('info', 'Reading the last hour… the counts grow until it is read.'));
  } else if (view.complete_from && view.complete_from > view.minutes[0]) {
    const from = view.complete_from.replace('T', ' ');
    notes.push(notice('info', `Counts are complete from ${from} UTC; `,
      'earlier minutes were not replayed (see ACCOUNT_TRAFFIC_REPLAY_MAX).'));
  }
  if (view.truncated) {
    notes.push(notice('warn',
      'Some minutes had more counters than the tally keeps; their overflow ',
      'is in the totals but in no single account (see ACCOUNT_TRAFFIC_MAX_KEYS).'));
  }
  return notes;
}

/** Render the Traffic screen; it refreshes itself while it is on the page. */
export async function renderTraffic(main, ctx) {
  const state = ctx.traffic ?? (ctx.traffic = {enterprise: '', account: '', paused: false});
  const byStatus = 'Messages per minute by status';
  const byChannel = 'Messages sent per minute by channel';
  const statusChart = lineChart({title: byStatus, series: STATUS_SERIES, id: 'chart-status'});
  const channelChart = lineChart({title: byChannel, series: CHANNEL_SERIES, id: 'chart-channels'});
  const statusCard = chartCard(statusChart, byStatus);
  const channelCard = chartCard(channelChart, byChannel);
  const notes = h('div');
  const stats = h('div');
  const routes = h('div');
  const hooks = h('div');
  const queues = h('div');
  const queuesCard = h('section', {class: 'card', 'aria-labelledby': 'queues-title', hidden: true},
    h('h2', {id: 'queues-title'}, 'Queues'),
    h('p', {class: 'hint'}, 'Messages each stream holds now, and for each service consumer ',
      'those not yet handed out (waiting) and handed out but not acknowledged (in hand).'),
    queues);
  const updated = h('span', {class: 'muted', id: 'traffic-updated'});
  const errors = h('div');
  const pause = h('button', {type: 'button', class: 'button', 'aria-pressed': String(state.paused)},
    state.paused ? 'Resume updates' : 'Pause updates');
  let timer = null;
  let busy = false;

  const fetchView = () => api('GET', `/v1/traffic${query({enterprise_id: state.enterprise,
    account_id: state.account})}`);

  async function load(pending = null) {
    if (busy) return;
    busy = true;
    try {
      const view = await (pending ?? fetchView());
      replace(errors);
      await statusChart.update(view.minutes, view.status);
      await channelChart.update(view.minutes, view.channels);
      replace(notes, dataNotes(view));
      replace(stats, totals(view));
      replace(statusCard.numbers, minuteTable(byStatus, view.minutes, STATUS_SERIES, view.status));
      replace(channelCard.numbers,
        minuteTable(byChannel, view.minutes, CHANNEL_SERIES, view.channels));
      replace(routes, view.routes.length
        ? table('Delivery rate per route', ROUTE_COLUMNS, view.routes)
        : h('p', {class: 'muted'}, 'No attempts in the last hour.'));
      replace(hooks, webhookTable(view));
      queuesCard.hidden = !view.queues.streams;
      if (view.queues.streams) replace(queues, queueTable(view.queues.streams));
      updated.textContent = `Updated ${new Date().toISOString().slice(11, 19)} UTC`;
    } catch (error) {
      replace(errors, notice('error', `Could not load the traffic: ${describe(error)}`));
    } finally {
      busy = false;
    }
  }

  function stop() {
    window.clearInterval(timer);
    statusChart.destroy();
    channelChart.destroy();
  }
  pause.addEventListener('click', () => {
    state.paused = !state.paused;
    pause.setAttribute('aria-pressed', String(state.paused));
    pause.textContent = state.paused ? 'Resume updates' : 'Pause updates';
    if (!state.paused) load();
  });

  // The chart library, the filters and the first view load side by side.
  loadUplot().catch(() => {});
  const asked = `${state.enterprise}|${state.account}`;
  const first = fetchView();
  first.catch(() => {}); // handled by load() below
  const picker = await scopePicker(state, () => load());
  const same = asked === `${state.enterprise}|${state.account}`; // the picker may drop a gone one
  const root = h('div', {class: 'traffic'},
    h('div', {class: 'page-head'}, h('h1', {}, 'Traffic'),
      h('div', {class: 'toolbar-inline'}, updated, pause)),
    h('p', {class: 'lead'}, `The last hour, per minute (UTC). Updates every ${REFRESH_MS / 1000} `,
      'seconds while this page is open.'),
    picker, errors, notes, stats, statusCard.card, channelCard.card,
    h('section', {class: 'card', 'aria-labelledby': 'routes-title'},
      h('h2', {id: 'routes-title'}, 'Delivery rate per route'),
      h('p', {class: 'hint'}, 'Attempts each route carried in the last hour and how they ended.'),
      routes),
    h('section', {class: 'card', 'aria-labelledby': 'hooks-title'},
      h('h2', {id: 'hooks-title'}, 'Webhook deliveries by outcome'), hooks),
    queuesCard);
  replace(main, root);
  await load(same ? first : null);
  timer = window.setInterval(() => {
    if (!root.isConnected) stop();
    else if (!state.paused) load();
  }, REFRESH_MS);
  ctx.onLeave(stop);
}

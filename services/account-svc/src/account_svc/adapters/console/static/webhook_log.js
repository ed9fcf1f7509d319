// An account's webhook delivery log and dead letters (with replay), asked of account-svc,
// which asks webhook-svc: a 503 means webhook-svc is not running, and says so plainly.

import {api, describe} from './api.js';
import {announce, h, notice, replace, table, when} from './dom.js';

function unavailable(error, what) {
  if (error.status === 503) {
    return notice('warn', h('strong', {}, `The ${what} is unavailable right now. `),
      'It comes from webhook-svc, which is not running or not answering ',
      `(503 ${error.problem?.type ?? 'service_unavailable'}). Try again later.`);
  }
  return notice('error', `Could not load the ${what}: ${describe(error)}`);
}

const DELIVERY_COLUMNS = [
  {title: 'At', cell: (d) => when(d.at)},
  {title: 'Kind', cell: (d) => d.kind.replace('_', '-')},
  {title: 'Attempt', cell: (d) => String(d.attempt)},
  {title: 'Outcome', cell: (d) => h('span', {class: `tag tag-${d.outcome}`}, d.outcome)},
  {title: 'HTTP', cell: (d) => (d.status_code === null ? '—' : String(d.status_code))},
  {title: 'Time',
    cell: (d) => (d.duration_ms === null ? '—' : `${Math.round(d.duration_ms)} ms`)},
  {title: 'Events', cell: (d) => String(d.event_ids.length)},
  {title: 'Error', cell: (d) => d.error ?? '—'},
];

/** The delivery log and dead letters of an account, each with a refresh button. */
export function webhookLog(accountId) {
  const base = `/v1/accounts/${encodeURIComponent(accountId)}`;
  const log = h('div', {class: 'log-body'});
  const dead = h('div', {class: 'log-body'});
  const deadStatus = h('div');

  async function loadLog() {
    replace(log, h('p', {class: 'muted'}, 'Loading…'));
    try {
      const {items} = await api('GET', `${base}/webhook-deliveries?limit=50`);
      replace(log, items.length
        ? table('Webhook delivery attempts, newest first', DELIVERY_COLUMNS, items)
        : h('p', {class: 'muted'}, 'No delivery attempts yet.'));
    } catch (error) {
      replace(log, unavailable(error, 'delivery log'));
    }
  }

  async function replay(letter) {
    try {
      await api('POST', `${base}/dead-letters/${encodeURIComponent(letter.id)}/replay`);
      replace(deadStatus, notice('ok', `Replay of ${letter.id} accepted: it is delivered again `,
        'from attempt 1.'));
      announce('Replay accepted');
      await loadDead(false);
    } catch (error) {
      replace(deadStatus, error.status === 503
        ? unavailable(error, 'replay') : notice('error', `Replay failed: ${describe(error)}`));
    }
  }

  async function loadDead(clearStatus = true) {
    if (clearStatus) replace(deadStatus);
    replace(dead, h('p', {class: 'muted'}, 'Loading…'));
    try {
      const {items} = await api('GET', `${base}/dead-letters`);
      replace(dead, items.length ? table('Dead letters', [
        {title: 'Failed at', cell: (d) => when(d.failed_at)},
        {title: 'Id', cell: (d) => h('code', {}, d.id)},
        {title: 'Kind', cell: (d) => d.kind.replace('_', '-')},
        {title: 'Events', cell: (d) => String(d.event_ids.length)},
        {title: 'Attempts', cell: (d) => String(d.attempts)},
        {title: 'Last error', cell: (d) => d.last_error ?? '—'},
        {title: 'Action', cell: (d) => h('button', {type: 'button', class: 'button',
          'aria-label': `Replay ${d.id}`, onclick: () => replay(d)}, 'Replay')},
      ], items) : h('p', {class: 'muted'}, 'No dead letters.'));
    } catch (error) {
      replace(dead, unavailable(error, 'dead letter list'));
    }
  }

  const refresh = (label, load) => h('button', {type: 'button', class: 'button button-quiet',
    onclick: () => load()}, label);
  loadLog();
  loadDead();
  return h('div', {class: 'log'},
    h('section', {'aria-labelledby': 'log-title'},
      h('div', {class: 'section-head'}, h('h2', {id: 'log-title'}, 'Webhook deliveries'),
        refresh('Refresh deliveries', loadLog)),
      log),
    h('section', {'aria-labelledby': 'dead-title'},
      h('div', {class: 'section-head'}, h('h2', {id: 'dead-title'}, 'Dead letters'),
        refresh('Refresh dead letters', loadDead)),
      deadStatus, dead));
}

// Message trace: "Find a message" by id or client_ref (within the admin's scope), then the
// message's fallback chain, its attempts in order, and a timeline of every status event with
// the webhook deliveries of each. The query lives in the URL (#/trace/<query>).

import {api, describe, query} from './api.js';
import {h, notice, replace, table, uid, when} from './dom.js';

/** A timestamp to the millisecond (the order of events within a second matters here). */
function exact(ts) {
  return ts ? h('time', {datetime: ts}, ts.replace('T', ' ')) : '—';
}
import {CHANNEL_NAME} from './account_sections.js';

const channelName = (c) => CHANNEL_NAME[c] ?? c;
const KIND = {sent: 'Sent', delivered: 'Delivered', read: 'Read', failed: 'Failed',
  fallback: 'Failed, fell back'};

function facts(t) {
  const rows = [
    ['Message id', h('code', {}, t.message_id)],
    ['Account', h('span', {}, t.account_label ? `${t.account_label} ` : '',
      h('a', {href: `#/accounts/${t.account_id}`}, h('code', {}, t.account_id)))],
    ['client_ref', t.client_ref ? h('code', {}, t.client_ref) : '—'],
    ['To', t.to],
    ['Status', h('span', {class: `tag tag-${t.status}`}, t.status)],
    ['Accepted', when(t.created_at)],
    ['Plan', t.channels.map(channelName).join(' → ')],
    ['Trace id', t.trace_id ? h('code', {class: 'trace-id', title: 'Search your tracing backend, '
      + 'or grep the services\' logs (trace_id), for this id'}, t.trace_id)
      : h('span', {class: 'muted'}, 'not traced (tracing was off)')],
  ];
  return h('dl', {class: 'facts'}, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

function chain(t) {
  return h('ol', {class: 'chain', 'aria-label': 'Fallback chain'}, t.attempts.map((a) => h('li', {},
    h('strong', {}, channelName(a.channel)),
    a.route ? [' via ', h('code', {}, a.route)] : ' (no route)',
    ': ', h('span', {class: `tag tag-${a.status}`}, a.status),
    a.reason ? ` (${a.reason})` : '',
    a.fallback_to ? [' → fell back to ', h('strong', {}, channelName(a.fallback_to))] : '')));
}

const ATTEMPT_COLUMNS = [
  {title: '#', cell: (a) => String(a.attempt)},
  {title: 'Channel', cell: (a) => channelName(a.channel)},
  {title: 'Route', cell: (a) => (a.route ? h('code', {}, a.route) : '—')},
  {title: 'Status', cell: (a) => h('span', {class: `tag tag-${a.status}`}, a.status)},
  {title: 'Reason', cell: (a) => a.reason ?? '—'},
  {title: 'Time', cell: (a) => when(a.at)},
];

function deliveryItem(d) {
  const code = d.status_code === null ? '' : ` HTTP ${d.status_code}`;
  return h('li', {class: 'hook'}, 'Webhook attempt ', String(d.attempt), ': ',
    h('span', {class: `tag tag-${d.outcome}`}, d.outcome), code,
    d.error && d.outcome !== 'delivered' ? ` (${d.error})` : '', ' ', exact(d.at),
    d.event_ids.length > 1 ? h('span', {class: 'muted'}, ` in a batch of ${d.event_ids.length}`)
      : null);
}

function timeline(t) {
  const deliveries = t.webhook_deliveries ?? [];
  const items = [h('li', {class: 'tl-item'}, h('div', {class: 'tl-head'}, exact(t.created_at), ' ',
    h('strong', {}, 'Accepted')))];
  for (const e of t.events) {
    const kind = e.type.split('.').pop();
    const hooks = deliveries.filter((d) => d.event_ids.includes(e.id))
      .sort((a, b) => a.at.localeCompare(b.at));
    items.push(h('li', {class: `tl-item tl-${kind}`},
      h('div', {class: 'tl-head'}, exact(e.time), ' ', h('strong', {}, KIND[kind] ?? kind),
        ` — attempt ${e.attempt}, ${channelName(e.channel)}`,
        e.route ? [' via ', h('code', {}, e.route)] : '',
        e.reason ? `, ${e.reason}` : '',
        e.fallback_to ? `, next: ${channelName(e.fallback_to)}` : '',
        e.final ? h('span', {class: 'tag'}, 'final') : null,
        e.late ? h('span', {class: 'tag tag-failed'}, 'late') : null),
      h('div', {class: 'tl-id muted'}, 'Event ', h('code', {}, e.id)),
      t.webhook_deliveries === null ? null
        : h('ul', {class: 'hooks'}, hooks.length ? hooks.map(deliveryItem)
          : h('li', {class: 'muted'}, 'No webhook delivery (not subscribed, or not yet)'))));
  }
  return h('ol', {class: 'timeline', 'aria-label': 'Timeline'}, items);
}

function traceView(t) {
  return h('div', {class: 'trace'},
    h('section', {class: 'card', 'aria-labelledby': 'trace-facts'},
      h('h2', {id: 'trace-facts'}, 'Message'), facts(t)),
    h('section', {class: 'card', 'aria-labelledby': 'trace-chain'},
      h('h2', {id: 'trace-chain'}, 'Fallback chain'), chain(t)),
    h('section', {class: 'card', 'aria-labelledby': 'trace-attempts'},
      h('h2', {id: 'trace-attempts'}, 'Attempts'),
      table('Attempts, oldest first', ATTEMPT_COLUMNS, t.attempts)),
    h('section', {class: 'card', 'aria-labelledby': 'trace-timeline'},
      h('h2', {id: 'trace-timeline'}, 'Timeline'),
      t.webhook_deliveries === null ? notice('warn', 'Webhook deliveries are unavailable: ',
        'webhook-svc is not answering.') : null,
      timeline(t)));
}

function matchesView(found) {
  return h('section', {class: 'card', 'aria-labelledby': 'matches-title'},
    h('h2', {id: 'matches-title'}, `${found.matches.length} messages with this client_ref`),
    found.truncated ? notice('info', 'The search stopped early; the newest found are listed.')
      : null,
    table('Messages found, newest first', [
      {title: 'Message', cell: (m) => h('a', {href: `#/trace/${encodeURIComponent(m.message_id)}`},
        h('code', {}, m.message_id))},
      {title: 'Account', cell: (m) => `${m.account_label ?? ''} (${m.account_id})`},
    ], found.matches));
}

/** Render the trace screen, searching for `initial` when given. */
export async function renderTrace(main, _ctx, initial = '') {
  const input = h('input', {type: 'search', name: 'q', autocomplete: 'off', spellcheck: 'false',
    required: true, maxlength: '256', value: initial});
  const inputId = uid('q');
  input.id = inputId;
  const hintId = uid('hint');
  input.setAttribute('aria-describedby', hintId);
  const results = h('div', {'aria-live': 'polite'});
  const form = h('form', {class: 'search', role: 'search'},
    h('label', {for: inputId}, 'Find a message'),
    h('p', {class: 'hint', id: hintId},
      'A message id (msg_…) or the client_ref the sender gave; ',
      'messages of your accounts, kept for the message log\'s lifetime (7 days by default).'),
    h('div', {class: 'search-row'}, input,
      h('button', {type: 'submit', class: 'button button-primary'}, 'Find')));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const q = input.value.trim();
    if (!q) return;
    const target = `#/trace/${encodeURIComponent(q)}`;
    if (window.location.hash === target) search(q);
    else window.location.hash = target;
  });

  async function search(q) {
    replace(results, h('p', {class: 'muted'}, 'Searching…'));
    try {
      const found = await api('GET', `/v1/message-trace${query({q})}`);
      if (found.trace) replace(results, traceView(found.trace));
      else if (found.matches.length) replace(results, matchesView(found));
      else {
        replace(results, notice('info', `No message found for “${q}” among your accounts. `,
          'It may be another tenant\'s, or older than the message log keeps.'));
      }
    } catch (error) {
      replace(results, error.status === 503
        ? notice('warn', 'The message log is unavailable: routing-svc is not answering.')
        : notice('error', `Search failed: ${describe(error)}`));
    }
  }

  replace(main, h('h1', {}, 'Message trace'), form, results);
  if (initial) await search(initial);
  else input.focus();
}

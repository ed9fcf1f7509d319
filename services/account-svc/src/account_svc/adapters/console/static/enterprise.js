// What an enterprise owns and subscribes to: its registered senders (SMS sender ids with their
// regulatory header registration, RCS agents, WABA and Truecaller numbers) and its app
// subscriptions. The server is the judge of every value; its 422s are shown next to their
// fields, its 403s (an enterprise's own users cannot change its subscriptions) as notices.

import {api, describe, query} from './api.js';
import {announce, h, notice, replace, table, when} from './dom.js';
import {selectField, textField} from './fields.js';
import {createForm, enterprises} from './directory.js';

const CHANNELS = [['sms', 'SMS sender id'], ['rcs', 'RCS agent'],
  ['whatsapp', 'WhatsApp (WABA) number'], ['truecaller', 'Truecaller number']];
const CHANNEL_NAME = Object.fromEntries(CHANNELS);

function senderForm(enterpriseId, done) {
  return createForm('Register a sender', (m) => [
    selectField('channel', 'Channel', CHANNELS),
    textField('value', 'Sender', {hint: 'SMS: 3 to 15 letters or digits. WhatsApp and '
      + 'Truecaller: an E.164 number (+919800000001). RCS: the agent id.'}),
    m.when(textField('header_registration', 'Header registration',
      {hint: 'The regulator\'s registration of this header, e.g. the India DLT header id.'}),
    (f) => f.value('channel') === 'sms'),
    textField('label', 'Label (optional)'),
  ], 'Register sender', (body) => api('POST', '/v1/senders', {...body, enterprise_id: enterpriseId}),
  done, {titleId: 'sender-title', reset: true});
}

async function sendersSection(enterpriseId, status) {
  const list = h('div', {'aria-live': 'polite'});
  const load = async () => {
    const {items} = await api('GET', `/v1/senders${query({enterprise_id: enterpriseId})}`);
    replace(list, items.length ? table('Registered senders', [
      {title: 'Channel', cell: (s) => CHANNEL_NAME[s.channel] ?? s.channel},
      {title: 'Sender', cell: (s) => h('code', {}, s.value)},
      {title: 'Header registration', cell: (s) => s.header_registration ?? '—'},
      {title: 'Label', cell: (s) => s.label ?? '—'},
      {title: 'Registered', cell: (s) => when(s.created_at)},
      {title: 'Actions', cell: (s) => h('button', {type: 'button', class: 'button button-quiet',
        'aria-label': `Deregister ${s.value}`, onclick: async () => {
          try {
            await api('DELETE', `/v1/senders/${encodeURIComponent(s.id)}`);
            replace(status, notice('ok', `Deregistered ${s.value}: sends from it are refused.`));
            await load();
          } catch (error) {
            replace(status, notice('error', describe(error)));
          }
        }}, 'Deregister')},
    ], items) : h('p', {class: 'muted'},
      'No registered senders yet. Under access mode "all" an account then sends only from '
      + 'the platform\'s default sender.'));
  };
  const form = senderForm(enterpriseId, async (sender) => {
    replace(status, notice('ok', `Registered ${sender.value} (${sender.id}).`));
    announce(`Registered ${sender.value}`);
    await load();
  });
  await load();
  return h('section', {class: 'panel', 'aria-labelledby': 'senders-title'},
    h('h2', {id: 'senders-title'}, 'Registered senders'),
    h('p', {class: 'lead'}, 'What this enterprise owns on each channel. An access account '
      + 'with access mode "all" may send from any of them; an allowlist names some of them.'),
    h('div', {class: 'split'}, list, form));
}

/** One enterprise's registered senders (and, below, its app subscriptions). */
export async function renderEnterprise(main, ctx) {
  const ents = await enterprises();
  const chosen = ctx.setupEnterprise && ents.some((e) => e.id === ctx.setupEnterprise)
    ? ctx.setupEnterprise : ents[0]?.id ?? '';
  const picker = selectField('enterprise', 'Enterprise', ents.map((e) => [e.id, e.name]),
    {value: chosen});
  const select = picker.querySelector('select');
  select.removeAttribute('data-kind');
  const status = h('div', {role: 'status', 'aria-label': 'Last change'});
  const body = h('div', {'aria-live': 'polite'});
  let latest = 0; // a slower answer for an enterprise picked before must not replace this one
  const load = async () => {
    const turn = ++latest;
    const chosenId = select.value;
    ctx.setupEnterprise = chosenId;
    replace(status);
    body.setAttribute('aria-busy', 'true');
    body.removeAttribute('data-enterprise');
    if (!chosenId) {
      replace(body, h('p', {class: 'muted'}, 'There is no enterprise in your scope yet.'));
      body.setAttribute('aria-busy', 'false');
      return;
    }
    let parts;
    try {
      parts = await Promise.all(SECTIONS.map((section) => section(chosenId, status,
        {...ctx, reload: load})));
    } catch (error) {
      parts = [notice('error', describe(error))];
    }
    if (turn !== latest) return;
    replace(body, ...parts);
    body.setAttribute('data-enterprise', chosenId);
    body.setAttribute('aria-busy', 'false');
  };
  select.addEventListener('change', load);
  replace(main, h('h1', {}, 'Senders and apps'),
    h('p', {class: 'lead'}, 'What an enterprise owns and subscribes to.'), picker, status, body);
  await load();
}

const APPS = [['template_lookup', 'Template lookup'], ['url_shortener', 'URL shortener'],
  ['campaign_manager', 'Campaign manager'], ['digital_asset_manager', 'Digital asset manager']];

async function appsSection(enterpriseId, status, ctx) {
  const base = `/v1/organizations/${encodeURIComponent(enterpriseId)}/app-subscriptions`;
  const {items} = await api('GET', base);
  const since = Object.fromEntries(items.map((s) => [s.app, s.subscribed_at]));
  // The enterprise's own users read; its provider (the platform, its aggregator) changes.
  const provider = ctx.user?.organization_id !== enterpriseId;
  const change = async (app, name, subscribed) => {
    let message;
    try {
      if (subscribed) {
        const {accounts_changed: changed} = await api('DELETE', `${base}/${app}`);
        const which = changed.length ? ` (${changed.join(', ')})` : '';
        message = `Withdrew ${name}: switched off in ${changed.length} `
          + `account${changed.length === 1 ? '' : 's'}${which}.`;
      } else {
        await api('PUT', `${base}/${app}`);
        message = `Subscribed to ${name}: its accounts may switch it on.`;
      }
    } catch (error) {
      replace(status, notice('error', describe(error)));
      return;
    }
    await ctx.reload();
    replace(status, notice('ok', message));
    announce(message);
  };
  const rows = APPS.map(([app, name]) => ({app, name, on: app in since}));
  return h('section', {class: 'panel', 'aria-labelledby': 'apps-title'},
    h('h2', {id: 'apps-title'}, 'App subscriptions'),
    h('p', {class: 'lead'}, 'An access account may switch on only the apps its enterprise '
      + 'subscribes to. Withdrawing a subscription switches the app off in every account of the '
      + 'enterprise. The enterprise\'s provider (the platform or its aggregator) manages them.'),
    provider ? null : notice('info', 'Your enterprise\'s provider manages its subscriptions.'),
    table('App subscriptions', [
      {title: 'App', cell: (r) => r.name},
      {title: 'Subscribed', cell: (r) => (r.on ? `Yes, since ${when(since[r.app])}` : 'No')},
      {title: 'Actions', cell: (r) => (provider ? h('button', {type: 'button',
        class: 'button button-quiet',
        'aria-label': `${r.on ? 'Withdraw' : 'Subscribe to'} ${r.name}`,
        onclick: () => change(r.app, r.name, r.on)}, r.on ? 'Withdraw' : 'Subscribe') : '—')},
    ], rows));
}

const SECTIONS = [sendersSection, appsSection];

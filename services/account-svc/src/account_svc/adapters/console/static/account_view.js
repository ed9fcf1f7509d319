// One access account: its settings at a glance, edit / rotate / delete, and its webhook log.

import {api, describe} from './api.js';
import {announce, h, notice, replace, when} from './dom.js';
import {CHANNEL_NAME} from './account_sections.js';
import {confirmDialog} from './dialog.js';
import {secretsPanel} from './secrets.js';
import {webhookLog} from './webhook_log.js';

function onOff(block) {
  return block?.enabled ? `On (${block.algorithm}, version ${block.version_code})` : 'Off';
}

function facts(a) {
  const rows = [
    ['Id', h('code', {}, a.id)],
    ['Version', String(a.version)],
    ['Enterprise', h('code', {}, a.enterprise_id)],
    ['Business group', h('code', {}, a.business_group_id)],
    ['Communication type', a.communication_type],
  ];
  if (a.traffic_type) rows.push(['Traffic type', a.traffic_type]);
  const win = a.promotional_window;
  if (win) rows.push(['Promotional window', `${win.start} to ${win.end} (${win.timezone})`]);
  rows.push(['Channels', a.channels.map((c) => CHANNEL_NAME[c]).join(', ')]);
  const ip = a.security.ip_restriction;
  rows.push(['IP restriction', ip.mode === 'all' ? 'All' : ip.allowlist.join(', ')]);
  rows.push(['Data protection', a.security.data_protection.replaceAll('_', ' ')]);
  rows.push(['Payload encryption', onOff(a.security.payload_encryption)]);
  for (const channel of a.channels) {
    const fb = a.channel_settings[channel]?.fallback;
    const ttl = fb?.dr_ttl_seconds ? `, DR TTL ${fb.dr_ttl_seconds} s` : '';
    rows.push([`${CHANNEL_NAME[channel]} fallback`, fb?.enabled
      ? `to ${CHANNEL_NAME[fb.channel]} on ${fb.events.join(', ')}${ttl}` : 'Off']);
  }
  const status = a.webhooks.status;
  rows.push(['Status webhook', status
    ? `${status.url} (${status.payload_format}; ${status.events.join(', ')}; `
      + `${status.batch.enabled ? `batches of up to ${status.batch.max_events}` : 'no batching'})`
    : 'None']);
  if (a.communication_type === 'conversational') {
    rows.push(['User-initiated webhook', a.webhooks.user_initiated?.url ?? 'None']);
  }
  rows.push(['Updated', when(a.updated_at)]);
  return h('dl', {class: 'facts'}, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

/** Render the account `id` into `main`. */
export async function renderAccount(main, ctx, id) {
  const account = await api('GET', `/v1/accounts/${encodeURIComponent(id)}`);
  const top = h('div', {class: 'reveal'});
  const status = h('div');
  const path = `/v1/accounts/${encodeURIComponent(id)}`;
  if (ctx.flash) replace(status, notice('ok', ctx.flash));
  ctx.flash = null;

  const reveal = (secrets) => {
    replace(top, secretsPanel(secrets));
    top.querySelector('h2').focus();
  };
  const rotate = async (what, endpoint, field, body) => {
    const ok = await confirmDialog({title: `Issue a new ${what}?`, body,
      confirm: `Issue new ${what}`});
    if (!ok) return;
    try {
      const answer = await api('POST', `${path}/${endpoint}`);
      replace(status);
      const label = what[0].toUpperCase() + what.slice(1);
      reveal({title: `New ${what}`, secrets: [[label, answer[field]]]});
    } catch (error) {
      replace(status, notice('error', `The ${what} was not changed: ${describe(error)}`));
    }
  };
  const remove = async () => {
    const ok = await confirmDialog({title: `Delete ${account.label}?`, danger: true,
      body: 'Its API keys stop working at once. This cannot be undone.',
      confirm: 'Delete account'});
    if (!ok) return;
    try {
      await api('DELETE', path);
      ctx.flash = `Deleted ${account.label} (${account.id}).`;
      announce(ctx.flash);
      window.location.hash = '#/accounts';
    } catch (error) {
      replace(status, notice('error', `Not deleted: ${describe(error)}`));
    }
  };

  replace(main,
    h('p', {class: 'crumbs'}, h('a', {href: '#/accounts'}, 'Access accounts')),
    h('h1', {}, account.label),
    top, status,
    h('div', {class: 'toolbar', role: 'group', 'aria-label': 'Account actions'},
      h('a', {class: 'button button-primary', href: `#/accounts/${account.id}/edit`}, 'Edit'),
      h('button', {type: 'button', class: 'button', onclick: () => rotate('API key', 'api-keys',
        'api_key', 'The current API key stops working at once.')}, 'Rotate API key'),
      h('button', {type: 'button', class: 'button', onclick: () => rotate(
        'webhook signing secret', 'webhook-signing-secret', 'webhook_signing_secret',
        'For 24 hours webhooks are signed with both the old and the new secret.')},
      'Rotate signing secret'),
      h('button', {type: 'button', class: 'button button-danger', onclick: remove}, 'Delete')),
    h('section', {class: 'card', 'aria-labelledby': 'facts-title'},
      h('h2', {id: 'facts-title'}, 'Settings'), facts(account),
      h('details', {}, h('summary', {}, 'Full configuration (JSON)'),
        h('pre', {class: 'json'}, JSON.stringify(account, null, 2)))),
    webhookLog(id));
  if (ctx.reveal?.accountId === id) reveal(ctx.reveal);
  ctx.reveal = null;
}

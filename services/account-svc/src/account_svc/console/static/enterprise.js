// What an enterprise owns and subscribes to: its registered senders (SMS sender ids with their
// regulatory header registration, RCS agents, WABA and Truecaller numbers). The server is the
// judge of every value; its 422s are shown next to their fields.

import {api, describe, query} from './api.js';
import {announce, h, notice, replace, table, when} from './dom.js';
import {FormModel, selectField, textField} from './fields.js';
import {clearErrors, showProblem, summaryBox} from './errors.js';
import {enterprises} from './directory.js';

const CHANNELS = [['sms', 'SMS sender id'], ['rcs', 'RCS agent'],
  ['whatsapp', 'WhatsApp (WABA) number'], ['truecaller', 'Truecaller number']];
const CHANNEL_NAME = Object.fromEntries(CHANNELS);

function senderForm(enterpriseId, done) {
  const form = h('form', {class: 'card create-form', novalidate: true,
    'aria-labelledby': 'sender-title'});
  const m = new FormModel(form);
  const summary = summaryBox();
  const submit = h('button', {type: 'submit', class: 'button button-primary'},
    'Register sender');
  form.append(h('h2', {id: 'sender-title'}, 'Register a sender'), summary,
    selectField('channel', 'Channel', CHANNELS),
    textField('value', 'Sender', {hint: 'SMS: 3 to 15 letters or digits. WhatsApp and '
      + 'Truecaller: an E.164 number (+919800000001). RCS: the agent id.'}),
    m.when(textField('header_registration', 'Header registration',
      {hint: 'The regulator\'s registration of this header, e.g. the India DLT header id.'}),
    (f) => f.value('channel') === 'sms'),
    textField('label', 'Label (optional)'),
    submit);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    summary.hidden = true;
    submit.disabled = true;
    try {
      const body = {...m.collect(), enterprise_id: enterpriseId};
      const sender = await api('POST', '/v1/senders', body);
      form.reset();
      m.refresh();
      await done(sender);
    } catch (error) {
      showProblem(form, summary, error);
    } finally {
      submit.disabled = false;
    }
  });
  m.refresh();
  return form;
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
  const status = h('div', {role: 'status'});
  const body = h('div');
  const load = async () => {
    ctx.setupEnterprise = select.value;
    replace(status);
    if (!select.value) {
      replace(body, h('p', {class: 'muted'}, 'There is no enterprise in your scope yet.'));
      return;
    }
    try {
      const parts = await Promise.all(SECTIONS.map((section) => section(select.value, status)));
      replace(body, ...parts);
    } catch (error) {
      replace(body, notice('error', describe(error)));
    }
  };
  select.addEventListener('change', load);
  replace(main, h('h1', {}, 'Senders and apps'),
    h('p', {class: 'lead'}, 'What an enterprise owns and subscribes to.'), picker, status, body);
  await load();
}

const SECTIONS = [sendersSection];

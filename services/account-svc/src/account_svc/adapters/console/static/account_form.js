// The Create Access Account form in three steps (basic details, advanced settings, create),
// also used to edit an account (then step 3 saves a merge patch of what changed).

import {api, describe, query} from './api.js';
import {announce, append, h, replace} from './dom.js';
import {
  CHANNEL_NAME, CHANNELS, FALLBACK_EVENTS, advancedSettings,
} from './account_sections.js';
import {
  FormModel, box, checkField, checksField, radiosField, selectField, textField,
} from './fields.js';
import {clearErrors, focusField, placeErrors, showProblem, summaryBox} from './errors.js';
import {editableConfig, mergePatch} from './patch.js';
import {enterprises} from './directory.js';

const TRAFFIC = [['otp', 'OTP'], ['transactional', 'Transactional'],
  ['promotional', 'Promotional']];
const KINDS = [['outgoing', 'Outgoing: the business sends (OTP, alerts, offers)'],
  ['conversational', 'Conversational: two-way messaging']];

/** The business group picker, with a way to create a group in place. */
function groupPicker(form) {
  const field = selectField('business_group_id', 'Business group', [],
    {placeholder: 'Choose a business group'});
  const select = field.querySelector('select');
  // Not part of the account body (no data-kind); its own 422 names `name`.
  const name = textField('new_business_group', 'New business group name', {loc: 'name'});
  name.querySelector('input').removeAttribute('data-kind');
  const note = h('p', {class: 'hint'});
  const create = h('button', {type: 'button', class: 'button'}, 'Create business group');
  const creator = h('div', {class: 'inline-create', hidden: true}, note, name, create);
  const toggle = h('button', {type: 'button', class: 'button button-quiet',
    'aria-expanded': 'false'}, 'New business group');
  let enterpriseId = '';

  const open = (isOpen, text = '') => {
    creator.hidden = !isOpen;
    toggle.setAttribute('aria-expanded', String(isOpen));
    note.textContent = text;
  };
  let loads = 0;  // only the latest load fills the list: an older answer arriving later
  // would add its groups again and reset a choice made meanwhile
  const load = async (id, chosen = '') => {
    const mine = ++loads;
    enterpriseId = id;
    const prompt = id ? 'Choose a business group' : 'Choose an enterprise first';
    replace(select, h('option', {value: ''}, prompt));
    open(false);
    if (!id) return;
    const {items} = await api('GET', `/v1/business-groups${query({enterprise_id: id})}`);
    if (mine !== loads) return;
    append(select, items.map((g) => h('option', {value: g.id}, g.name)));
    select.value = chosen;
    toggle.hidden = items.length === 0;
    if (items.length === 0) open(true, 'This enterprise has no business group yet. Create one:');
  };
  toggle.addEventListener('click', () => open(creator.hidden));
  name.querySelector('input').addEventListener('keydown', (event) => {
    if (event.key !== 'Enter') return;
    event.preventDefault();
    create.click();
  });
  create.addEventListener('click', async () => {
    clearErrors(creator);
    const input = name.querySelector('input');
    try {
      const group = await api('POST', '/v1/business-groups',
        {name: input.value.trim(), enterprise_id: enterpriseId});
      await load(enterpriseId, group.id);
      input.value = '';
      announce(`Business group ${group.name} created and chosen`);
      select.focus();
    } catch (error) {
      const {placed} = placeErrors(creator, error.problem?.errors ?? []);
      if (placed.length === 0) {
        placeErrors(creator, [{loc: ['name'], msg: describe(error)}]);
      }
      input.focus();
    }
    form.dispatchEvent(new Event('change'));
  });
  return {element: h('div', {class: 'group'}, field, toggle, creator), load, select};
}

/** Promotional accounts: an optional window of hours in which their sends are accepted. */
function promotionalWindow(m) {
  // The switch is not part of the body (no data-kind): unchecked, the window's fields are
  // hidden, left out, and an edit removes a stored window.
  const toggle = checkField('promotional_window_on', 'Accept promotional sends only in a window');
  toggle.querySelector('input').removeAttribute('data-kind');
  return m.when(box('promotional_window', 'Promotional window', toggle,
    m.when(h('div', {class: 'grid'},
      textField('promotional_window.start', 'From', {type: 'time', hint: 'HH:MM, 24-hour.'}),
      textField('promotional_window.end', 'Until', {type: 'time',
        hint: 'Earlier than From: the window spans midnight.'}),
      textField('promotional_window.timezone', 'Time zone',
        {value: 'Asia/Kolkata', hint: 'An IANA time zone, e.g. Asia/Kolkata or Europe/London.'})),
    (f) => f.checked('promotional_window_on'))),
  (f) => f.value('communication_type') === 'outgoing' && f.value('traffic_type') === 'promotional');
}

function basicDetails(state, picker) {
  const ents = state.enterprises.map((e) => [e.id, e.name]);
  const enterprise = selectField('enterprise_id', 'Enterprise', ents, {
    placeholder: ents.length === 1 ? undefined : 'Choose an enterprise',
    hint: state.account ? 'An account stays in its enterprise.' : undefined,
  });
  const select = enterprise.querySelector('select');
  select.disabled = Boolean(state.account);
  select.addEventListener('change', () => picker.load(select.value).catch(state.fail));
  return [
    radiosField('communication_type', 'Communication type', KINDS, {checked: 'outgoing'}),
    h('div', {class: 'grid'}, enterprise,
      textField('label', 'Account label', {hint: 'A name people recognise, e.g. OTP alerts.'})),
    h('div', {class: 'grid'}, picker.element,
      state.m.when(selectField('traffic_type', 'Traffic type', TRAFFIC,
        {placeholder: 'Choose a traffic type'}),
      (f) => f.value('communication_type') === 'outgoing')),
    promotionalWindow(state.m),
    checksField('channels', 'Channels', CHANNELS),
  ];
}

function nameOf(select, value) {
  return [...select.options].find((o) => o.value === value && value)?.textContent ?? '—';
}

function reviewList(config, form) {
  const channels = config.channels ?? [];
  const rows = [
    ['Account label', config.label ?? '—'],
    ['Enterprise', nameOf(form.querySelector('[name="enterprise_id"]'), config.enterprise_id)],
    ['Business group',
      nameOf(form.querySelector('[name="business_group_id"]'), config.business_group_id)],
    ['Communication type', config.communication_type],
  ];
  if (config.communication_type === 'outgoing') {
    rows.push(['Traffic type', config.traffic_type ?? '—']);
    const win = config.promotional_window;
    if (win) rows.push(['Promotional window', `${win.start} to ${win.end} (${win.timezone})`]);
  }
  rows.push(['Channels', channels.map((c) => CHANNEL_NAME[c]).join(', ') || '—']);
  const ip = config.security?.ip_restriction;
  rows.push(['IP restriction',
    ip?.mode === 'allowlist' ? `${ip.allowlist.length} allowed` : 'All']);
  const sealed = config.security?.payload_encryption;
  rows.push(['Payload encryption', sealed?.enabled ? sealed.algorithm ?? 'On' : 'Off']);
  for (const channel of channels) {
    const fb = config.channel_settings?.[channel]?.fallback;
    const events = (fb?.events ?? []).map((e) => FALLBACK_EVENTS.find(([v]) => v === e)?.[1] ?? e);
    const ttl = fb?.dr_ttl_seconds !== undefined ? `; DR TTL ${fb.dr_ttl_seconds} s` : '';
    rows.push([`${CHANNEL_NAME[channel]} fallback`, fb?.enabled
      ? `to ${CHANNEL_NAME[fb.channel] ?? '—'} on ${events.join(', ') || '—'}${ttl}` : 'Off']);
  }
  const status = config.webhooks?.status;
  const batch = status?.batch?.enabled ? `, batches of up to ${status.batch.max_events ?? 50}` : '';
  rows.push(['Status webhook', status ? `${status.url ?? '—'}${batch}` : 'None']);
  if (config.communication_type === 'conversational') {
    rows.push(['User-initiated webhook', config.webhooks?.user_initiated?.url ?? 'None']);
  }
  const apps = Object.entries(config.apps ?? {}).filter(([, on]) => on).map(([k]) => k);
  rows.push(['Apps', apps.join(', ').replaceAll('_', ' ') || 'None']);
  return h('dl', {class: 'review'}, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

/** Render the form into `main`; `account` (as answered) makes it an edit form. */
export async function renderAccountForm(main, ctx, account = null) {
  const form = h('form', {class: 'wizard', novalidate: true});
  const m = new FormModel(form);
  const summary = summaryBox();
  const state = {
    m, account, enterprises: await enterprises(),
    fail: (error) => {
      replace(summary, h('p', {}, describe(error)));
      summary.hidden = false;
    },
  };
  const picker = groupPicker(form);
  const titles = ['Basic details', 'Advanced settings', account ? 'Review and save' : 'Create'];
  const steps = [
    basicDetails(state, picker),
    advancedSettings(m),
    [h('p', {}, account
      ? 'Check the changes, then save.' : 'Check the details, then create the account.'),
    h('div', {class: 'review-box'})],
  ].map((content, i) => h('section', {class: 'step', 'aria-labelledby': `step-title-${i}`},
    h('h2', {id: `step-title-${i}`, tabindex: '-1'}, `Step ${i + 1} of 3: ${titles[i]}`),
    content));
  const stepNav = titles.map((title, i) => h('li', {},
    h('button', {type: 'button', class: 'step-link', onclick: () => goTo(i)},
      h('span', {class: 'step-no'}, `${i + 1}`), title)));
  const back = h('button', {type: 'button', class: 'button button-quiet'}, 'Back');
  const next = h('button', {type: 'button', class: 'button button-primary'}, 'Next');
  const save = h('button', {type: 'submit', class: 'button button-primary'},
    account ? 'Save changes' : 'Create access account');
  let current = 0;

  function goTo(n, {focus = true} = {}) {
    current = n;
    steps.forEach((s, i) => { s.hidden = i !== n; });
    stepNav.forEach((li, i) => {
      const button = li.querySelector('button');
      if (i === n) button.setAttribute('aria-current', 'step');
      else button.removeAttribute('aria-current');
    });
    back.hidden = n === 0;
    next.hidden = n === 2;
    save.hidden = n !== 2;
    if (n === 2) replace(steps[2].querySelector('.review-box'), reviewList(m.collect(), form));
    if (focus) steps[n].querySelector('h2').focus();
  }
  const jump = (el) => {
    goTo(steps.findIndex((s) => s.contains(el)), {focus: false});
    focusField(el);
  };
  back.addEventListener('click', () => goTo(current - 1));
  next.addEventListener('click', () => goTo(current + 1));

  async function submit() {
    clearErrors(form);
    summary.hidden = true;
    save.disabled = true;
    save.setAttribute('aria-busy', 'true');
    try {
      const config = m.collect();
      if (!account) {
        const created = await api('POST', '/v1/accounts', config);
        ctx.reveal = {accountId: created.account.id, title: 'Access account created',
          secrets: [['API key', created.api_key],
            ['Webhook signing secret', created.webhook_signing_secret]]};
        window.location.hash = `#/accounts/${created.account.id}`;
        return;
      }
      const patch = mergePatch(editableConfig(account), config);
      if (patch === undefined) {
        ctx.flash = 'Nothing changed.';
      } else {
        const saved = await api('PATCH', `/v1/accounts/${account.id}`, patch,
          {contentType: 'application/merge-patch+json'});
        ctx.flash = `Saved: the account is now at version ${saved.version}.`;
      }
      window.location.hash = `#/accounts/${account.id}`;
    } catch (error) {
      const {placed} = showProblem(form, summary, error, jump);
      if (placed.length) goTo(steps.findIndex((s) => s.contains(placed[0].el)), {focus: false});
    } finally {
      save.disabled = false;
      save.removeAttribute('aria-busy');
    }
  }
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (current < 2) goTo(current + 1);
    else submit();
  });

  append(form, [steps, h('div', {class: 'step-actions'}, back, next, save)]);
  const heading = account ? `Edit ${account.label}` : 'Create access account';
  replace(main,
    h('p', {class: 'crumbs'}, h('a', {href: '#/accounts'}, 'Access accounts'),
      account ? [' / ', h('a', {href: `#/accounts/${account.id}`}, account.label)] : null),
    h('h1', {}, heading),
    summary,
    h('nav', {'aria-label': 'Form steps'}, h('ol', {class: 'steps'}, stepNav)),
    form);
  if (account) {
    form.querySelector('[name="promotional_window_on"]').checked =
      Boolean(account.promotional_window);
    m.fill(account);
    await picker.load(account.enterprise_id, account.business_group_id);
  } else {
    m.refresh();
    const only = form.querySelector('[name="enterprise_id"]').value;
    if (only) await picker.load(only);
  }
  goTo(0, {focus: false});
}

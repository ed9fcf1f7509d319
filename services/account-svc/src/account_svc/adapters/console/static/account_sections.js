// The advanced settings of an access account (step 2 of the form): API & security, channel
// resources, the two webhooks and the apps. Parts appear only when they apply; the server is
// the judge of every value (no rule of the contract is repeated here).

import {h} from './dom.js';
import {
  box, checkField, checksField, linesField, numberField, pairsField, panel, radiosField,
  secretField, selectField, textField,
} from './fields.js';

export const CHANNELS = [
  ['rcs', 'RCS'], ['whatsapp', 'WhatsApp'], ['truecaller', 'Truecaller'], ['sms', 'SMS'],
];
export const CHANNEL_NAME = Object.fromEntries(CHANNELS);
export const FALLBACK_EVENTS = [
  ['delivery_failed', 'Delivery failed'],
  ['dr_ttl_expired', 'No delivery report in time (DR TTL expired)'],
  ['invalid_number', 'Invalid number'],
  ['validity_expired', 'Validity expired'],
];
const PROVIDERS = [['reliance-jio', 'Reliance Jio'], ['vodafone-idea', 'Vodafone Idea'],
  ['airtel', 'Airtel']];
const FORMATS = [['native', 'Native'], ['clevertap', 'CleverTap'], ['moengage', 'MoEngage'],
  ['webengage', 'WebEngage']];
// MoEngage and WebEngage have no shape for inbound messages: the server refuses them for the
// user-initiated webhook, so the form does not offer them there.
const INBOUND_FORMATS = FORMATS.filter(([value]) => value === 'native' || value === 'clevertap');
const RETRIES = [['3', '3'], ['2', '2'], ['1', '1'], ['0', '0 (no retries)']];
const STATUS_EVENTS = [['delivery_status', 'Delivery status'], ['sent', 'Sent'],
  ['read', 'Read'], ['typing', 'Typing (conversational only)']];

const isConversational = (m) => m.value('communication_type') === 'conversational';

function accessList(m, base, legend, entries) {
  return box(base, legend,
    radiosField(`${base}.mode`, 'Allowed', [['all', 'All'], ['allowlist', 'Only an allowlist']],
      {checked: 'all'}),
    m.when(linesField(`${base}.allowlist`, 'Allowlist, one per line', {hint: entries}),
      (f) => f.value(`${base}.mode`) === 'allowlist'));
}

function encryption(m, base, legend, what) {
  return box(base, legend,
    checkField(`${base}.enabled`, `Encrypt ${what}`),
    m.when(h('div', {class: 'grid'},
      selectField(`${base}.algorithm`, 'Algorithm',
        [['aes-256', 'AES-256'], ['aes-128', 'AES-128']]),
      secretField(`${base}.passphrase`, 'Passphrase', {hint: '12 to 256 characters.'}),
      textField(`${base}.version_code`, 'Version code', {hint: 'For example v1.'})),
    (f) => f.checked(`${base}.enabled`)));
}

function metadata(m, base) {
  return h('div', {class: 'group'},
    checkField(`${base}.enabled`, 'Add metadata pairs to every event'),
    m.when(pairsField(`${base}.pairs`, 'Metadata pairs',
      {hint: 'Sent as x-parley-meta-<key> headers and in each event.'}),
    (f) => f.checked(`${base}.enabled`)));
}

function fallback(m, channel) {
  const base = `channel_settings.${channel}.fallback`;
  const others = CHANNELS.filter(([c]) => c !== channel);
  const target = selectField(`${base}.channel`, 'Fall back to', others,
    {placeholder: 'Choose a channel'});
  m.onRefresh((f) => {
    const selected = new Set(f.values('channels'));
    const select = target.querySelector('select');
    for (const option of select.options) {
      if (!option.value) continue;
      option.disabled = !selected.has(option.value);
      option.hidden = option.disabled;
      if (option.disabled && option.selected) select.value = '';
    }
  });
  return box(base, 'Fallback',
    checkField(`${base}.enabled`,
      `Fall back to another channel when ${CHANNEL_NAME[channel]} fails`),
    m.when(h('div', {class: 'group'},
      target,
      checksField(`${base}.events`, 'Fall back on', FALLBACK_EVENTS),
      m.when(numberField(`${base}.dr_ttl_seconds`, 'DR TTL (seconds)',
        {hint: 'How long to wait for a delivery report before falling back.'}),
      (f) => f.values(`${base}.events`).includes('dr_ttl_expired'))),
    (f) => f.checked(`${base}.enabled`)));
}

function traffic(m, base, strategies) {
  const loc = `${base}.traffic_management`;
  return h('div', {class: 'group'},
    checkField(`${loc}.enabled`, 'Traffic management'),
    m.when(selectField(`${loc}.strategy`, 'Strategy', strategies),
      (f) => f.checked(`${loc}.enabled`)));
}

const VERIFY = [['non_strict', 'Non-strict'], ['strict', 'Strict']];

function channelBox(m, channel) {
  const base = `channel_settings.${channel}`;
  const verify = () => selectField(`${base}.verify_profile`, 'Verify profile', VERIFY);
  const parts = {
    rcs: () => [
      checksField(`${base}.agent_providers`, 'Agent providers', PROVIDERS,
        {checked: PROVIDERS.map(([p]) => p)}),
      accessList(m, `${base}.agents`, 'RCS agents', 'Agent ids.'),
      verify(),
    ],
    whatsapp: () => [
      accessList(m, `${base}.wabas`, 'WhatsApp business numbers (WABA)',
        'E.164 numbers, for example +919800000001.'),
      verify(),
      traffic(m, base, [['round_robin', 'Round robin'], ['capacity_based', 'Capacity based']]),
    ],
    truecaller: () => [
      accessList(m, `${base}.numbers`, 'Truecaller numbers', 'E.164 numbers.'),
      verify(),
      traffic(m, base, [['round_robin', 'Round robin']]),
    ],
    sms: () => [accessList(m, `${base}.sender_ids`, 'Sender ids', '3 to 15 letters or digits.')],
  };
  return m.when(
    box(base, `${CHANNEL_NAME[channel]} settings`, ...parts[channel](), fallback(m, channel)),
    (f) => f.values('channels').includes(channel));
}

function statusWebhook(m) {
  const b = 'webhooks.status';
  const events = checksField(`${b}.events`, 'Events', STATUS_EVENTS);
  m.when(events.querySelector('[data-value="typing"]'), isConversational);
  const batch = m.when(h('div', {class: 'group'},
    checkField(`${b}.batch.enabled`, 'Batch events into one delivery'),
    m.when(numberField(`${b}.batch.max_events`, 'Max events per batch', {hint: '1 to 50.'}),
      (f) => f.checked(`${b}.batch.enabled`))),
  (f) => f.value(`${b}.payload_format`) !== 'webengage');
  return panel(b, 'Webhook for outgoing status events',
    checkField(b, 'Send status events to a webhook', {kind: 'present', loc: false}),
    m.when(h('div', {class: 'group'},
      textField(`${b}.url`, 'Webhook URL', {type: 'url',
        hint: 'https://… or nats://[user:pass@]host[:port]/subject'}),
      events,
      h('div', {class: 'grid'},
        selectField(`${b}.payload_format`, 'Payload format', FORMATS),
        selectField(`${b}.retries`, 'Retries', RETRIES, {kind: 'int'})),
      checkField(`${b}.intermediate_delivery_notification`, 'Intermediate delivery notifications'),
      metadata(m, `${b}.metadata`),
      batch,
      encryption(m, `${b}.encryption`, 'Webhook encryption', 'webhook payloads')),
    (f) => f.checked(b)));
}

function userInitiatedWebhook(m) {
  const b = 'webhooks.user_initiated';
  return m.when(panel(b, 'Webhook for user-initiated messages',
    checkField(b, 'Send user-initiated messages to a webhook', {kind: 'present', loc: false}),
    m.when(h('div', {class: 'group'},
      textField(`${b}.url`, 'Webhook URL', {type: 'url',
        hint: 'https://… or nats://[user:pass@]host[:port]/subject'}),
      h('div', {class: 'grid'},
        selectField(`${b}.payload_format`, 'Payload format', INBOUND_FORMATS),
        selectField(`${b}.retries`, 'Retries', RETRIES, {kind: 'int'})),
      metadata(m, `${b}.metadata`),
      encryption(m, `${b}.encryption`, 'Webhook encryption', 'webhook payloads')),
    (f) => f.checked(b))),
  isConversational);
}

/** Step 2 of the account form, wired to the form model `m`. */
export function advancedSettings(m) {
  return [
    panel('security', 'API & security',
      accessList(m, 'security.ip_restriction', 'IP restriction',
        'IPv4/IPv6 addresses or CIDR blocks, for example 203.0.113.0/24.'),
      selectField('security.data_protection', 'Data protection', [['store', 'Store'],
        ['do_not_store', 'Do not store'], ['encrypt_and_store', 'Encrypt and store']]),
      encryption(m, 'security.payload_encryption', 'Payload encryption', 'API payloads')),
    panel(null, 'Channel resources',
      box('consent', 'Consent',
        checkField('consent.lookup_opt_in', 'Look up opt-in before sending'),
        checkField('consent.lookup_opt_out', 'Look up opt-out before sending')),
      CHANNELS.map(([channel]) => channelBox(m, channel))),
    statusWebhook(m),
    userInitiatedWebhook(m),
    panel('apps', 'Apps',
      h('div', {class: 'checks'},
        checkField('apps.template_lookup', 'Template lookup'),
        checkField('apps.url_shortener', 'URL shortener'),
        checkField('apps.campaign_manager', 'Campaign manager'),
        checkField('apps.digital_asset_manager', 'Digital asset manager'))),
  ];
}

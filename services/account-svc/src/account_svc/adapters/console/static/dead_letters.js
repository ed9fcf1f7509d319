// Dead letters of an account: the list with reason and attempts; replay one, a selection or
// all, and the outcome of each replay shown when it lands (read from the delivery log: an
// attempt that carried the same events after the replay was sent).

import {api, describe} from './api.js';
import {announce, h, notice, replace, table, when} from './dom.js';
import {scopePicker} from './scope_picker.js';

const POLL_MS = 1500;
const WATCH_MS = 180_000; // how long a replay's outcome is waited for on this page
const PARALLEL = 4; // replays sent at once for "Replay selected" / "Replay all"

const sameEvents = (a, b) => a.length === b.length && [...a].sort().join() === [...b].sort().join();

function outcomeCell(replay) {
  if (!replay) return '—';
  const kinds = {pending: 'tag', delivered: 'tag tag-delivered', failed: 'tag tag-failed',
    dead: 'tag tag-dead', unknown: 'tag', error: 'tag tag-dead', retrying: 'tag tag-failed'};
  return h('span', {class: 'outcome', dataset: {outcome: replay.state}},
    h('span', {class: kinds[replay.state]}, replay.label),
    replay.detail ? ` ${replay.detail}` : '');
}

/** Render the Dead letters screen. */
export async function renderDeadLetters(main, ctx) {
  const state = ctx.deadLetters ?? (ctx.deadLetters = {enterprise: '', account: ''});
  const replays = new Map(); // dead letter id -> {letter, seen, state, label, detail, until}
  let letters = [];
  const selected = new Set();
  const status = h('div', {'aria-live': 'polite'});
  const list = h('div');
  const toolbar = h('div', {class: 'toolbar', role: 'group', 'aria-label': 'Replay'});
  const replaySelected = h('button', {type: 'button', class: 'button button-primary',
    disabled: true}, 'Replay selected');
  const replayAll = h('button', {type: 'button', class: 'button', disabled: true}, 'Replay all');
  const refresh = h('button', {type: 'button', class: 'button button-quiet'}, 'Refresh');
  toolbar.append(replaySelected, replayAll, refresh);
  let timer = null;
  const base = () => `/v1/accounts/${encodeURIComponent(state.account)}`;

  function render() {
    const shown = [...letters];
    for (const [id, replay] of replays) {
      if (!shown.some((l) => l.id === id)) shown.push(replay.letter);
    }
    for (const id of [...selected]) if (!letters.some((l) => l.id === id)) selected.delete(id);
    replaySelected.disabled = selected.size === 0;
    replaySelected.textContent = selected.size ? `Replay selected (${selected.size})`
      : 'Replay selected';
    replayAll.disabled = letters.length === 0;
    if (!shown.length) {
      replace(list, h('p', {class: 'muted'}, 'No dead letters for this account.'));
      return;
    }
    const all = h('input', {type: 'checkbox', 'aria-label': 'Select every dead letter',
      checked: letters.length > 0 && selected.size === letters.length});
    all.addEventListener('change', () => {
      selected.clear();
      if (all.checked) letters.forEach((l) => selected.add(l.id));
      render();
    });
    const listed = (l) => letters.some((x) => x.id === l.id);
    replace(list, table('Dead letters, newest first', [
      {title: 'Select', cell: (l) => {
        if (!listed(l)) return '';
        const box = h('input', {type: 'checkbox', checked: selected.has(l.id),
          'aria-label': `Select ${l.id}`});
        box.addEventListener('change', () => {
          if (box.checked) selected.add(l.id);
          else selected.delete(l.id);
          render();
        });
        return box;
      }},
      {title: 'Failed at', cell: (l) => when(l.failed_at)},
      {title: 'Id', cell: (l) => h('code', {}, l.id)},
      {title: 'Kind', cell: (l) => l.kind.replace('_', '-')},
      {title: 'Events', cell: (l) => String(l.event_ids.length)},
      {title: 'Attempts', cell: (l) => String(l.attempts)},
      {title: 'Reason', cell: (l) => l.last_error ?? '—'},
      {title: 'Replay outcome', cell: (l) => outcomeCell(replays.get(l.id))},
      {title: 'Action', cell: (l) => (listed(l) ? h('button', {type: 'button', class: 'button',
        'aria-label': `Replay ${l.id}`, onclick: () => replay([l])}, 'Replay') : '')},
    ], shown));
    list.querySelector('thead th')?.replaceChildren(all);
  }

  async function loadLetters() {
    const {items} = await api('GET', `${base()}/dead-letters`);
    letters = items;
  }

  async function load() {
    replays.clear();
    selected.clear();
    replace(status);
    if (!state.account) {
      letters = [];
      toolbar.hidden = true;
      replace(list, h('p', {class: 'muted'}, 'Choose an account to see its dead letters.'));
      return;
    }
    toolbar.hidden = false;
    replace(list, h('p', {class: 'muted'}, 'Loading…'));
    try {
      await loadLetters();
      render();
    } catch (error) {
      letters = [];
      replace(list, error.status === 503
        ? notice('warn', h('strong', {}, 'Dead letters are unavailable right now. '),
          'They come from webhook-svc, which is not running or not answering.')
        : notice('error', `Could not load the dead letters: ${describe(error)}`));
    }
  }

  async function replay(chosen) {
    let seen;
    try {
      const {items} = await api('GET', `${base()}/webhook-deliveries?limit=200`);
      seen = new Set(items.map((d) => d.id));
    } catch (error) {
      replace(status, notice('error', `Replay not sent: ${describe(error)}`));
      return;
    }
    const queue = [...chosen];
    let accepted = 0;
    const failures = [];
    const worker = async () => {
      for (let letter = queue.shift(); letter; letter = queue.shift()) {
        try {
          await api('POST', `${base()}/dead-letters/${encodeURIComponent(letter.id)}/replay`);
          replays.set(letter.id, {letter, seen, state: 'pending', label: 'Replaying…',
            detail: '', until: Date.now() + WATCH_MS});
          accepted += 1;
        } catch (error) {
          replays.set(letter.id, {letter, seen, state: 'error', label: 'Not replayed',
            detail: describe(error), until: 0});
          failures.push(letter.id);
        }
      }
    };
    await Promise.all(Array.from({length: PARALLEL}, worker));
    chosen.forEach((l) => selected.delete(l.id));
    const words = `${accepted} replay${accepted === 1 ? '' : 's'} sent`;
    replace(status, notice(failures.length ? 'warn' : 'ok', words,
      failures.length ? `; ${failures.length} refused.` : '. Outcomes appear below as they land.'));
    announce(words);
    render();
    watch();
  }

  async function poll() {
    const waiting = [...replays.values()].filter((r) => r.state === 'pending'
      || r.state === 'failed');
    if (!waiting.length || !root.isConnected) {
      window.clearInterval(timer);
      timer = null;
      return;
    }
    let log;
    try {
      log = (await api('GET', `${base()}/webhook-deliveries?limit=200`)).items;
      await loadLetters();
    } catch {
      return; // try again at the next tick
    }
    for (const r of waiting) {
      const mine = log.filter(
        (d) => !r.seen.has(d.id) && sameEvents(d.event_ids, r.letter.event_ids));
      const latest = mine[0]; // newest first
      const code = latest?.status_code ? `HTTP ${latest.status_code}` : (latest?.error ?? '');
      if (latest?.outcome === 'delivered') {
        Object.assign(r, {state: 'delivered', label: 'Delivered', detail: `at ${latest.at}`});
        announce(`Replay of ${r.letter.id} delivered`);
      } else if (latest?.outcome === 'dead') {
        Object.assign(r, {state: 'dead', label: 'Failed again',
          detail: `(${code}): a new dead letter`});
        announce(`Replay of ${r.letter.id} failed again`);
      } else if (latest?.outcome === 'failed') {
        Object.assign(r, {state: 'failed', label: `Attempt ${latest.attempt} failed`,
          detail: `(${code}); retrying`});
      }
      if (Date.now() > r.until && r.state === 'pending') {
        Object.assign(r, {state: 'unknown', label: 'No outcome yet', detail: '; refresh later'});
      } else if (Date.now() > r.until && r.state === 'failed') {
        Object.assign(r, {state: 'retrying', detail: `${r.detail} later (see the delivery log)`});
      }
    }
    render();
  }

  function watch() {
    if (timer === null) timer = window.setInterval(poll, POLL_MS);
  }

  replaySelected.addEventListener('click', () => replay(letters.filter((l) => selected.has(l.id))));
  replayAll.addEventListener('click', () => replay([...letters]));
  refresh.addEventListener('click', () => load());

  const picker = await scopePicker(state, () => load(), {allAccounts: null});
  const root = h('div', {},
    h('h1', {}, 'Dead letters'),
    h('p', {class: 'lead'}, 'Webhook events that could not be delivered after every retry. ',
      'A replay delivers them again from attempt 1; its outcome shows here when it lands.'),
    picker, toolbar, status, list);
  replace(main, root);
  await load();
  ctx.onLeave(() => window.clearInterval(timer));
}

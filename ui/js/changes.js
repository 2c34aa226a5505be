// The Sync screen: conflicts to decide, field by field, and the changes waiting
// to be sent, with retry and discard.

import { call } from './api.js';
import { $, el, confirmDialog, notice } from './dom.js';
import { refreshStatus, syncNow } from './status.js';
import { VirtualList } from './virtual-list.js';

const LABELS = {
  company_name: 'Company name', sales_amount: 'Sales amount', partner_type: 'Partner type', email: 'Email',
  frequency: 'Frequency', payment_terms: 'Payment terms', name: 'Name', type: 'Type', address: 'Address',
  address2: 'Address line 2', city: 'City', province: 'Province', postal: 'Postal code', country: 'Country',
  phone: 'Phone', billing_email: 'Billing email', officeId: 'Office ID', description: 'Description',
  location: 'Location', contacts: 'Contacts',
};

/** Whole-record questions, by the conflict's `kind` (a field conflict has kind `field`). */
const WHOLE_RECORD = {
  possible_duplicate: {
    label: 'Possibly the same partner as one already on the central system',
    choices: ['It is a different partner: send mine as new', 'It is the same partner: use theirs'],
  },
  deleted_remotely: {
    label: 'Deleted on the central system, changed here',
    choices: ['Keep mine (send it again)', 'Delete it here too'],
  },
  twin_on_server: {
    label: 'This partner appears twice on the central system (the second one was not copied here)',
    choices: ['Keep both', 'Remove the extra one there'],
  },
};

/** A value as a person reads it (text stays text: it is never parsed as HTML). */
function show(value) {
  if (value === null || value === undefined || value === '') return '(empty)';
  if (typeof value === 'string' || typeof value === 'number') return String(value);
  if (Array.isArray(value)) {
    return value.map((c) => [c.firstName, c.lastName, c.email].filter(Boolean).join(' ')).join('\n');
  }
  if (value.company_name) return `${value.company_name}\n${value.email} · ${value.sales_amount} · ${value.payment_terms}`;
  if ('latitude' in value) return `${value.latitude}, ${value.longitude}`;
  return JSON.stringify(value);
}

function recordName(entry) {
  const p = entry.payload || {};
  return p.company_name || p.name || `${entry.entity} ${entry.record_key.slice(0, 8)}`;
}

/**
 * `canDelete`: the partners server offers delete (Settings), so an extra
 * record there can be removed; otherwise that choice is shown but off.
 */
function conflictCard(entity, key, conflicts, name, onDone, canDelete) {
  const rows = conflicts.map((c) => {
    const name = `choice-${c.id}`;
    const whole = WHOLE_RECORD[c.kind];
    let [mineLabel, theirsLabel] = whole ? whole.choices : ['Keep mine', 'Take theirs'];
    const removable = c.kind !== 'twin_on_server' || canDelete;
    if (!removable) theirsLabel += ' (this server does not offer delete)';
    const option = (value, label, shown, checked, enabled = true) => el('label', {}, [
      el('input', {
        attrs: { type: 'radio', name, value, ...(checked ? { checked: '' } : {}), ...(enabled ? {} : { disabled: '' }) },
      }),
      el('span', {}, [el('strong', { text: label }), el('br'), el('span', { className: 'value', text: shown })]),
    ]);
    // One group per question, its legend naming the field, so a screen reader
    // announces what the two choices are about.
    return el('fieldset', { className: 'choice', attrs: { 'data-field': c.field, 'data-kind': c.kind } }, [
      el('legend', { text: whole ? whole.label : LABELS[c.field] || c.field }),
      option('mine', mineLabel, show(c.local), true),
      option('theirs', theirsLabel, show(c.remote), false, removable),
    ]);
  });
  const title = name || (conflicts[0].local && (conflicts[0].local.company_name || conflicts[0].local.name));
  const apply = el('button', { className: 'primary', text: 'Apply', attrs: { type: 'button' } });
  const card = el('div', { className: 'conflict', attrs: { 'data-key': key } }, [
    el('h3', { text: `${entity === 'partner' ? 'Partner' : 'Organization'} ${title || key.slice(0, 8)}` }),
    ...rows,
    apply,
  ]);
  apply.addEventListener('click', async () => {
    const choices = {};
    for (const c of conflicts) {
      choices[c.field] = card.querySelector(`input[name="choice-${c.id}"]:checked`).value;
    }
    try {
      await call('resolve_conflicts', { entity, key, choices });
      notice('Decided; the record will be synced.');
      onDone();
    } catch (error) {
      notice(error.message, true);
    }
  });
  return card;
}

function outboxRow(entry, onDone) {
  const status = entry.state === 'rejected'
    ? `Refused: ${entry.last_error || ''}`
    : entry.last_error || (entry.attempts ? 'Will be sent again' : 'Waiting');
  const retry = el('button', { text: 'Retry', attrs: { type: 'button' } });
  const discard = el('button', { className: 'danger', text: 'Discard…', attrs: { type: 'button' } });
  retry.addEventListener('click', async (event) => {
    event.stopPropagation();
    try {
      await call('retry_change', { seq: entry.seq });
      notice('It will be sent with the next sync.');
      onDone();
    } catch (error) {
      notice(error.message, true);
    }
  });
  discard.addEventListener('click', async (event) => {
    event.stopPropagation();
    const never = entry.op === 'create';
    const question = never
      ? `Discard "${recordName(entry)}"? It was never sent, so it will be removed from this computer.`
      : `Discard this ${entry.op} of "${recordName(entry)}"? The record goes back to the version on the central system.`;
    if (!(await confirmDialog(question, 'Discard'))) return;
    try {
      await call('discard_change', { seq: entry.seq });
      notice('Change discarded.');
      onDone();
    } catch (error) {
      notice(error.message, true);
    }
  });
  const record = `${entry.entity === 'partner' ? 'Partner' : 'Organization'}: ${recordName(entry)}`;
  return el('div', { className: 'row outbox-row outbox-columns', attrs: { role: 'listitem', 'data-seq': String(entry.seq) } }, [
    el('span', { className: 'outbox-record', text: record, attrs: { title: record } }),
    el('span', { text: { create: 'New', update: 'Changed', delete: 'Deleted' }[entry.op] || entry.op }),
    el('span', { text: String(entry.attempts) }),
    el('span', { className: 'outbox-status', text: status, attrs: { title: status } }),
    el('span', { className: 'row-actions' }, [retry, ' ', discard]),
  ]);
}

// The waiting changes, read a page at a time as the list scrolls.
let outboxList = null;

function outboxFilter() {
  return $('#outbox-filter').value || null;
}

function initOutbox() {
  outboxList = new VirtualList($('#outbox-rows'), {
    rowHeight: 44,
    fetchPage: async (offset, limit) => {
      const page = await call('outbox_page', { filter: outboxFilter(), limit, offset });
      const { counts } = page;
      $('#outbox-count').textContent = `${counts.all.toLocaleString()} in all: ${counts.waiting.toLocaleString()} waiting, `
        + `${counts.refused.toLocaleString()} refused, ${counts.held.toLocaleString()} kept here`;
      page.items = page.items.map((e) => ({ ...e, key: String(e.seq) }));
      return page;
    },
    renderRow: (entry) => outboxRow(entry, loadChanges),
    onOpen: () => {},
    onLoaded: (total) => {
      $('#outbox-empty').hidden = total > 0 || Boolean(outboxFilter());
      $('#outbox-table').hidden = total === 0 && !outboxFilter();
    },
  });
  $('#outbox-filter').addEventListener('change', () => outboxList.reset());
}

export async function loadChanges() {
  try {
    if (!outboxList) initOutbox();
    const [conflicts, settings, status] = await Promise.all([
      call('conflicts'), call('get_settings').catch(() => null), call('status').catch(() => null),
      outboxList.reset(),
    ]);
    // An API paused for a refused sign-in: said here too, with Try again.
    const paused = (status && status.needs_sign_in) || [];
    $('#sign-in-needed').hidden = paused.length === 0;
    $('#sign-in-reasons').replaceChildren(...paused.map((reason) => el('li', { text: reason })));
    const canDelete = Boolean(settings && settings.partners && settings.partners.assumed_ops);
    const byRecord = new Map();
    for (const c of conflicts) {
      const id = `${c.entity}|${c.record_key}`;
      if (!byRecord.has(id)) byRecord.set(id, []);
      byRecord.get(id).push(c);
    }
    // A record in conflict keeps its change waiting: its name comes from there.
    const cards = await Promise.all([...byRecord.entries()].map(async ([id, list]) => {
      const [entity, key] = id.split('|');
      const [head] = await call('record_changes', { entity, key }).catch(() => []);
      return conflictCard(entity, key, list, head ? recordName(head) : null, loadChanges, canDelete);
    }));
    $('#conflict-list').replaceChildren(...cards);
    $('#conflict-empty').hidden = byRecord.size > 0;
    const pill = $('#nav-changes-count');
    pill.hidden = byRecord.size === 0;
    pill.textContent = String(byRecord.size);
  } catch (error) {
    notice(error.message, true);
  }
  refreshStatus();
}

// "Try again" beside the reasons: lifts the pause, syncs, and shows what came of it.
$('#sign-in-again-changes').addEventListener('click', async () => {
  await syncNow(false, 'try_sign_in_again');
  loadChanges();
});

// The partners screen: virtual list with search and filters, and the form.

import { call } from './api.js';
import { $, focusRow, el, badge, debounce, notice, syncStateFilter } from './dom.js';
import { RecordForm, deleteRecord, onDuplicateChosen, saveRecord, showDuplicates, syncInfo } from './form.js';
import { openExport, openImport } from './transfer.js';
import { VirtualList } from './virtual-list.js';
import { refreshStatus, syncSaved } from './status.js';

const FIELDS = ['company_name', 'sales_amount', 'partner_type', 'email', 'frequency', 'payment_terms'];
const amount = new Intl.NumberFormat();
let list;
let form;
let editing = null; // the partner being edited, or null for a new one

// Connected organizations from Settings: id -> the name the user gave it.
let connected = new Map();

/** What the organization column says for a partner. */
function organizationName(id) {
  if (!id) return 'My organization';
  return connected.get(id) || `Organization ${id.slice(0, 8)}…`;
}

function organizationFilter() {
  const value = $('#partner-org-filter').value;
  if (!value) return null;
  return value === 'own' ? 'own' : { connected: value };
}

/** Fills the organization filter from the settings (`view` as get_settings returns it). */
function organizationsFrom(view) {
  const names = (view && view.partners.organization_names) || {};
  const ids = (view && view.partners.target_org_ids) || [];
  connected = new Map(ids.filter((id) => names[id]).map((id) => [id, names[id]]));
  document.body.classList.toggle('has-connected', ids.length > 0);
  const select = $('#partner-org-filter');
  const chosen = select.value;
  select.replaceChildren(
    el('option', { text: 'All', attrs: { value: '' } }),
    el('option', { text: 'My organization', attrs: { value: 'own' } }),
    ...ids.map((id) => el('option', { text: organizationName(id), attrs: { value: id } })),
  );
  select.value = [...select.options].some((o) => o.value === chosen) ? chosen : '';
}

function query(offset, limit) {
  return {
    search: $('#partner-search').value.trim() || null,
    partner_type: $('#partner-type-filter').value || null,
    organization: organizationFilter(),
    sync_state: $('#partner-state-filter').value || null,
    sort: 'company_name',
    descending: false,
    limit,
    offset,
  };
}

function row(p) {
  return el('div', { className: 'row partner-row partner-columns', attrs: { role: 'listitem' } }, [
    el('span', { className: 'partner-name', text: p.company_name }),
    el('span', { className: 'partner-email', text: p.email }),
    el('span', { className: 'partner-org org-only', text: organizationName(p.target_org_id) }),
    el('span', { className: 'partner-type', text: p.partner_type === 'customer' ? 'Customer' : 'Supplier' }),
    el('span', { className: 'num', text: amount.format(p.sales_amount) }),
    el('span', {}, [badge(p.sync_state, p.sync_error)]),
  ]);
}

function draft() {
  const d = {};
  for (const f of FIELDS) d[f] = $(`#partner-${f}`).value;
  return d;
}

function open(partner) {
  editing = partner;
  $('#partner-form-title').textContent = partner ? 'Edit partner' : 'New partner';
  for (const f of FIELDS) $(`#partner-${f}`).value = partner ? String(partner[f]) : '';
  $('#partner-delete').hidden = !partner;
  syncInfo($('#partner-sync-info'), partner);
  form.opened(draft);
  readOnly(null);
  $('#partner-duplicates').hidden = true;
  if (partner && partner.target_org_id) {
    call('partner_read_only', { key: partner.key }).then((why) => {
      if (editing === partner) readOnly(why);
    }).catch(() => {});
  }
  $('#partner-company_name').focus();
}

/**
 * Warns, as the user leaves the name or the email, of stored partners this
 * one may duplicate (unsynced ones included); saving anyway is allowed.
 */
async function checkDuplicates() {
  const box = $('#partner-duplicates');
  const asked = editing;
  const name = $('#partner-company_name').value;
  const email = $('#partner-email').value;
  if (!name.trim() && !email.trim()) { box.hidden = true; return; }
  let found = [];
  try {
    found = await call('possible_duplicates', { companyName: name, email, key: asked ? asked.key : null });
  } catch (_) {
    found = [];
  }
  if (editing !== asked) return; // another record was opened meanwhile
  showDuplicates(box, found);
}

/**
 * A partner of a connected organization that refused changes: shown, not
 * editable, with the organization's reason (`why`; null makes it editable).
 */
function readOnly(why) {
  const note = $('#partner-read-only');
  note.hidden = !why;
  // The sync engine names the organization by its ID; Settings may have a name for it.
  const id = editing && editing.target_org_id;
  note.textContent = why ? `Read-only here. ${id ? why.split(id).join(organizationName(id)) : why}` : '';
  // The same reason is the record's sync note: said once.
  if (why) $('#partner-sync-info').hidden = true;
  for (const f of FIELDS) $(`#partner-${f}`).disabled = Boolean(why);
  $('#partner-save').hidden = Boolean(why);
  if (why) $('#partner-delete').hidden = true;
}

async function openByKey(item) {
  try {
    open(await call('get_partner', { key: item.key }));
  } catch (error) {
    notice(error.message, true);
  }
}

function save(event) {
  event.preventDefault();
  const action = editing
    ? () => call('update_partner', { key: editing.key, draft: draft() })
    : () => call('create_partner', { draft: draft(), targetOrgId: null });
  return saveRecord(form, action, 'Partner saved.', afterChange);
}

function remove() {
  if (!editing) return;
  const key = editing.key;
  deleteRecord(form, editing.company_name, () => call('delete_partner', { key }), 'Partner deleted.', afterChange);
}

async function afterChange(saved) {
  await reload();
  focusRow($('#partner-list'), saved && saved.key, $('#partner-new'));
  refreshStatus();
  syncSaved();
}

let shown = 0; // how many partners the list holds with the current filters
let listed = 0; // the same, as a number

/** How many partners the list holds now. */
export function listedCount() {
  return listed;
}

function loaded(total, capped = false) {
  listed = total;
  shown = capped ? `${amount.format(total - 1)}+` : amount.format(total);
  const filtered = Boolean($('#partner-search').value.trim() || $('#partner-type-filter').value
    || $('#partner-state-filter').value || $('#partner-org-filter').value);
  // A broad search stops counting at 10,000 matches: say "more than".
  $('#partner-count').textContent = capped
    ? `${amount.format(total - 1)}+ partners`
    : `${amount.format(total)} partner${total === 1 ? '' : 's'}`;
  const empty = $('#partner-empty');
  empty.hidden = total > 0;
  empty.textContent = filtered
    ? 'No partners match your search.'
    : 'No partners yet. Add your first one with New partner.';
  $('#partner-list').hidden = total === 0;
}

export async function reload() {
  try {
    await list.reset();
  } catch (error) {
    notice(error.message, true);
  }
}

export function initPartners() {
  list = new VirtualList($('#partner-list'), {
    rowHeight: 40,
    fetchPage: (offset, limit) => call('list_partners', { query: query(offset, limit) }),
    renderRow: row,
    onOpen: openByKey,
    onLoaded: loaded,
  });
  form = new RecordForm($('#partner-form'), {
    errorElement: (field) => $(`#partner-${field}-error`),
    inputFor: (field) => $(`#partner-${field}`),
    validate: () => call('validate_partner', { draft: draft() }),
    onCancel: () => {
      const key = editing && editing.key;
      editing = null;
      focusRow($('#partner-list'), key, $('#partner-new'));
    },
  });
  for (const f of FIELDS) $(`#partner-${f}`).dataset.field = f;
  $('#partner-form').addEventListener('submit', save);
  $('#partner-cancel').addEventListener('click', () => form.cancel());
  $('#partner-delete').addEventListener('click', remove);
  $('#partner-new').addEventListener('click', () => open(null));
  $('#partner-export').addEventListener('click', () => openExport('partners', query(0, 1), shown));
  $('#partner-import').addEventListener('click', () => openImport(afterChange));
  const search = debounce(reload, 150);
  for (const event of ['input', 'search', 'change']) $('#partner-search').addEventListener(event, search);
  $('#partner-type-filter').addEventListener('change', reload);
  syncStateFilter($('#partner-state-filter'), reload);
  $('#partner-org-filter').addEventListener('change', reload);
  for (const field of ['#partner-company_name', '#partner-email']) $(field).addEventListener('change', checkDuplicates);
  onDuplicateChosen($('#partner-duplicates'), form, 'partner', (key) => openByKey({ key }));
  window.addEventListener('partnerbook:settings', (event) => { organizationsFrom(event.detail); reload(); });
  call('get_settings').then(organizationsFrom).catch(() => {});
  return reload();
}

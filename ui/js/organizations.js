// The organizations screen: list, form and the contacts editor.

import { call } from './api.js';
import { $, focusRow, $$, el, badge, debounce, notice, syncStateFilter } from './dom.js';
import { RecordForm, deleteRecord, onDuplicateChosen, saveRecord, showDuplicates, syncInfo } from './form.js';
import { refreshStatus, syncSaved } from './status.js';
import { openExport } from './transfer.js';
import { VirtualList } from './virtual-list.js';

const FIELDS = ['name', 'type', 'address', 'address2', 'city', 'province', 'postal', 'country', 'phone',
  'billing_email', 'officeId', 'description'];
const CONTACT_FIELDS = [
  ['firstName', 'First name'], ['lastName', 'Last name'], ['email', 'Email'], ['phone', 'Phone'], ['workPhone', 'Work phone'],
];
const TYPE_LABELS = { F: 'Factory', S: 'Supplier', B: 'Brand', R: 'Retailer', V: 'Vendor' };
let list;
let form;
let editing = null;
let contactSerial = 0;
let countries = [];

function row(o) {
  const contact = o.contacts && o.contacts[0] ? [o.contacts[0].firstName, o.contacts[0].lastName].filter(Boolean).join(' ') : '';
  return el('div', { className: 'row org-row org-columns', attrs: { role: 'listitem' } }, [
    el('span', { className: 'org-name', text: o.name }),
    el('span', { text: TYPE_LABELS[o.type] || o.type }),
    el('span', { text: o.country }),
    el('span', { text: contact }),
    el('span', {}, [badge(o.sync_state, o.sync_error)]),
  ]);
}

/** One contact's fieldset; inputs carry data-field like `contacts[0].firstName` once numbered. */
function contactBlock(contact = {}) {
  const id = contactSerial++;
  const block = el('fieldset', { className: 'contact' }, [el('legend', { text: 'Contact' })]);
  for (const [name, label] of CONTACT_FIELDS) {
    const inputId = `contact-${id}-${name}`;
    const input = el('input', { className: `contact-${name}`, attrs: { id: inputId, type: 'text', 'aria-describedby': `${inputId}-error` } });
    input.value = contact[name] || '';
    block.append(el('div', { className: 'field' }, [
      el('label', { text: label, attrs: { for: inputId } }),
      input,
      el('p', { className: `field-error contact-${name}-error`, attrs: { id: `${inputId}-error` } }),
    ]));
  }
  const remove = el('button', { className: 'contact-remove', text: 'Remove contact', attrs: { type: 'button' } });
  remove.addEventListener('click', () => { block.remove(); renumber(); });
  block.append(remove);
  return block;
}

/** Keeps legends, field names and the remove buttons in step with the list. */
function renumber() {
  const blocks = $$('#org-contacts fieldset.contact');
  blocks.forEach((block, i) => {
    block.querySelector('legend').textContent = `Contact ${i + 1}`;
    for (const [name] of CONTACT_FIELDS) block.querySelector(`.contact-${name}`).dataset.field = `contacts[${i}].${name}`;
    block.querySelector('.contact-remove').disabled = blocks.length === 1;
  });
}

function setContacts(contacts) {
  $('#org-contacts').replaceChildren(...(contacts.length ? contacts : [{}]).map(contactBlock));
  renumber();
}

function draft() {
  const d = {};
  for (const f of FIELDS) d[f] = $(`#org-${f}`).value;
  const latitude = $('#org-latitude').value;
  const longitude = $('#org-longitude').value;
  d.location = latitude.trim() || longitude.trim() ? { latitude, longitude } : null;
  d.contacts = $$('#org-contacts fieldset.contact').map((block) => {
    const c = {};
    for (const [name] of CONTACT_FIELDS) c[name] = block.querySelector(`.contact-${name}`).value;
    return c;
  });
  return d;
}

function errorElement(field) {
  const contact = /^contacts\[(\d+)\]\.(\w+)$/.exec(field);
  if (contact) {
    const block = $$('#org-contacts fieldset.contact')[Number(contact[1])];
    return block ? block.querySelector(`.contact-${contact[2]}-error`) : null;
  }
  if (field.startsWith('location.')) return $(`#org-${field.slice(9)}-error`);
  return $(`#org-${field}-error`);
}

function inputFor(field) {
  const contact = /^contacts\[(\d+)\]\.(\w+)$/.exec(field);
  if (contact) {
    const block = $$('#org-contacts fieldset.contact')[Number(contact[1])];
    return block ? block.querySelector(`.contact-${contact[2]}`) : null;
  }
  if (field === 'contacts') return $('#org-contact-add');
  if (field.startsWith('location.')) return $(`#org-${field.slice(9)}`);
  return $(`#org-${field}`);
}

/** "vn", "VN — Viet Nam" or "viet nam" all mean VN; anything else stays as typed for Rust to judge. */
function countryCode(text) {
  const typed = text.trim();
  const lower = typed.toLowerCase();
  const match = countries.find((c) => c.code.toLowerCase() === lower || c.name.toLowerCase() === lower
    || `${c.code} — ${c.name}`.toLowerCase() === lower);
  return match ? match.code : typed;
}

function open(org) {
  editing = org;
  $('#org-form-title').textContent = org ? 'Edit organization' : 'New organization';
  for (const f of FIELDS) $(`#org-${f}`).value = org && org[f] != null ? String(org[f]) : '';
  $('#org-latitude').value = org && org.location ? String(org.location.latitude) : '';
  $('#org-longitude').value = org && org.location ? String(org.location.longitude) : '';
  setContacts(org ? org.contacts : []);
  $('#org-delete').hidden = !org;
  syncInfo($('#org-sync-info'), org);
  form.opened(draft);
  $('#org-duplicates').hidden = true;
  $('#org-name').focus();
}

/** As the user leaves the name or the billing email: stored organizations this one may duplicate. */
async function checkDuplicates() {
  const asked = editing;
  const name = $('#org-name').value;
  const billingEmail = $('#org-billing_email').value;
  if (!name.trim() && !billingEmail.trim()) { $('#org-duplicates').hidden = true; return; }
  const found = await call('possible_duplicate_organizations', { name, billingEmail, key: asked ? asked.key : null })
    .catch(() => []);
  if (editing === asked) showDuplicates($('#org-duplicates'), found);
}

async function openByKey(key) {
  try { open(await call('get_organization', { key })); } catch (error) { notice(error.message, true); }
}

function save(event) {
  event.preventDefault();
  const action = editing
    ? () => call('update_organization', { key: editing.key, draft: draft() })
    : () => call('create_organization', { draft: draft() });
  return saveRecord(form, action, 'Organization saved.', afterChange);
}

function remove() {
  if (!editing) return;
  const key = editing.key;
  deleteRecord(form, editing.name, () => call('delete_organization', { key }), 'Organization deleted.', afterChange);
}

async function afterChange(saved) {
  await reload();
  focusRow($('#org-list'), saved && saved.key, $('#org-new'));
  refreshStatus();
  syncSaved();
}

function query(offset, limit) {
  return {
    search: $('#org-search').value.trim() || null,
    org_type: $('#org-type-filter').value || null,
    sync_state: $('#org-state-filter').value || null,
    limit,
    offset,
  };
}

let shown = 0; // how many organizations the list holds with the current filters

function loaded(total) {
  shown = total;
  const filtered = Boolean($('#org-search').value.trim() || $('#org-type-filter').value || $('#org-state-filter').value);
  $('#org-count').textContent = `${total} organization${total === 1 ? '' : 's'}`;
  const empty = $('#org-empty');
  empty.hidden = total > 0;
  empty.textContent = filtered ? 'No organizations match your search.' : 'No organizations yet. Add one with New organization.';
  $('#org-list').hidden = total === 0;
}

export async function reload() {
  try {
    await list.reset();
  } catch (error) {
    notice(error.message, true);
  }
}

async function fillCountries() {
  try {
    countries = await call('countries');
    $('#country-list').replaceChildren(...countries.map((c) => el('option', { text: `${c.code} — ${c.name}`, attrs: { value: c.code } })));
  } catch (error) {
    notice(error.message, true);
  }
}

export function initOrganizations() {
  list = new VirtualList($('#org-list'), {
    rowHeight: 40,
    fetchPage: (offset, limit) => call('list_organizations', { query: query(offset, limit) }),
    renderRow: row,
    onOpen: (item) => openByKey(item.key),
    onLoaded: loaded,
  });
  form = new RecordForm($('#org-form'), {
    errorElement,
    inputFor,
    validate: () => call('validate_organization', { draft: draft() }),
    onCancel: () => {
      const key = editing && editing.key;
      editing = null;
      focusRow($('#org-list'), key, $('#org-new'));
    },
  });
  for (const f of FIELDS) $(`#org-${f}`).dataset.field = f;
  $('#org-latitude').dataset.field = 'location.latitude';
  $('#org-longitude').dataset.field = 'location.longitude';
  $('#org-country').addEventListener('change', () => {
    $('#org-country').value = countryCode($('#org-country').value);
  });
  $('#org-form').addEventListener('submit', save);
  $('#org-cancel').addEventListener('click', () => form.cancel());
  $('#org-delete').addEventListener('click', remove);
  $('#org-new').addEventListener('click', () => open(null));
  $('#org-export').addEventListener('click', () => openExport('organizations', query(0, 1), shown));
  $('#org-contact-add').addEventListener('click', () => {
    $('#org-contacts').append(contactBlock());
    renumber();
    const blocks = $$('#org-contacts fieldset.contact');
    blocks[blocks.length - 1].querySelector('.contact-firstName').focus();
  });
  const search = debounce(reload, 150);
  for (const event of ['input', 'search', 'change']) $('#org-search').addEventListener(event, search);
  $('#org-type-filter').addEventListener('change', reload);
  syncStateFilter($('#org-state-filter'), reload);
  for (const field of ['#org-name', '#org-billing_email']) $(field).addEventListener('change', checkDuplicates);
  onDuplicateChosen($('#org-duplicates'), form, 'organization', openByKey);
  fillCountries();
  return reload();
}

// The settings screen: where the central APIs are, and the credentials
// (sent to the keychain by Rust; never read back into the page).

import { call } from './api.js';
import { refreshStatus, syncNow } from './status.js';
import { $, $$, ago, el, notice } from './dom.js';

const TEXT_FIELDS = [
  ['partners', 'base_url'], ['partners', 'client_id'], ['partners', 'requester_org_id'], ['organizations', 'base_url'],
];

function clearErrors() {
  for (const node of $$('#settings-form .field-error')) node.textContent = '';
}

function fill(view) {
  for (const [section, field] of TEXT_FIELDS) $(`#set-${section}-${field}`).value = view[section][field] || '';
  const names = view.partners.organization_names || {};
  $('#set-partners-target_org_ids').value = (view.partners.target_org_ids || [])
    .map((id) => (names[id] ? `${id} ${names[id]}` : id)).join('\n');
  $('#set-partners-assumed_ops').checked = Boolean(view.partners.assumed_ops);
  const settle = view.sync && view.sync.settle_seconds;
  $('#set-sync-settle_seconds').value = settle ? String(settle) : '';
  $('#set-updates-address').value = (view.updates && view.updates.address) || '';
  for (const [id, has] of [['#set-partners-client_secret', view.partners.has_client_secret], ['#set-organizations-api_key', view.organizations.has_api_key]]) {
    $(id).value = '';
    $(id).placeholder = has ? 'Stored in the keychain (leave empty to keep)' : 'Not set';
  }
  // The partner list names connected organizations as the settings do.
  window.dispatchEvent(new CustomEvent('partnerbook:settings', { detail: view }));
  showManaged(view.managed || { locked: [], prefilled: [] });
  $('#keychain-status').textContent = view.keychain.message;
  $('#keychain-status').classList.toggle('warning', !view.keychain.available);
}

/** The inputs of the fields IT's managed file may lock ("sync.cadence" has none: it is noted in the Sync group). */
const MANAGED_INPUTS = {
  'partners.base_url': '#set-partners-base_url', 'partners.client_id': '#set-partners-client_id',
  'partners.requester_org_id': '#set-partners-requester_org_id', 'partners.target_org_ids': '#set-partners-target_org_ids',
  'partners.assumed_ops': '#set-partners-assumed_ops', 'organizations.base_url': '#set-organizations-base_url',
  'sync.settle_seconds': '#set-sync-settle_seconds', 'updates.address': '#set-updates-address',
};

/** Locked fields read-only with "Managed by your organization"; a file that is not applied, said why. */
function showManaged(managed) {
  for (const [field, selector] of Object.entries(MANAGED_INPUTS)) {
    const input = $(selector);
    const locked = managed.locked.includes(field);
    input.disabled = locked;
    const noteId = `${input.id}-managed`;
    let note = document.getElementById(noteId);
    if (locked && !note) {
      note = el('p', { className: 'hint managed', text: 'Managed by your organization', attrs: { id: noteId } });
      input.after(note);
      input.setAttribute('aria-describedby', `${input.getAttribute('aria-describedby') || ''} ${noteId}`.trim());
    } else if (!locked && note) {
      note.remove();
    }
  }
  $('#managed-cadence').hidden = !managed.locked.includes('sync.cadence');
  const banner = $('#managed-status');
  banner.hidden = !managed.path && !managed.problem;
  banner.classList.toggle('warning', Boolean(managed.problem));
  banner.textContent = managed.problem
    || (managed.path ? `Some settings come from your organization (${managed.path}).` : '');
}

function settingsDraft() {
  const secret = (id) => ($(id).value === '' ? null : $(id).value);
  return {
    partners: {
      base_url: $('#set-partners-base_url').value,
      client_id: $('#set-partners-client_id').value,
      client_secret: secret('#set-partners-client_secret'),
      requester_org_id: $('#set-partners-requester_org_id').value,
      target_org_ids: $('#set-partners-target_org_ids').value.split('\n'),
      assumed_ops: $('#set-partners-assumed_ops').checked,
    },
    organizations: { base_url: $('#set-organizations-base_url').value, api_key: secret('#set-organizations-api_key') },
    sync: { settle_seconds: $('#set-sync-settle_seconds').value },
    updates: { address: $('#set-updates-address').value },
  };
}

/** About: the version and the database schema, as `partnerbook --version` says them, and the file. */
async function loadAbout() {
  try {
    const about = await call('about');
    $('#about-version').textContent = `Partnerbook ${about.version_line}`;
    $('#about-database').textContent = `Database: ${about.database}`;
  } catch (error) {
    $('#about-version').textContent = error.message;
  }
}

/** The update line: what the last check found, Check now, and Install when a verified update waits. */
function showUpdate(view) {
  $('#update-status').textContent = view.sentence;
  const checked = $('#update-checked');
  checked.hidden = !view.checked_at;
  checked.textContent = view.checked_at ? `Checked ${ago(view.checked_at)}.` : '';
  const notes = view.status.state === 'available' ? view.status.notes : null;
  $('#update-notes').hidden = !notes;
  $('#update-notes').textContent = notes || '';
  $('#update-install').hidden = !view.can_install;
  if (view.can_install) $('#update-install').textContent = `Install version ${view.status.version}`;
  $('#update-check').hidden = view.status.state === 'not_set_up';
}

/**
 * Checks for updates (at most once a day unless `now`), quietly: an offer
 * shows in About and once as a notice; installing waits for the click.
 */
export async function checkForUpdates(now = false) {
  try {
    const view = await call('check_for_updates', { now });
    showUpdate(view);
    if (!now && view.can_install) notice(`${view.sentence} Install it from Settings, About.`);
  } catch (error) {
    if (now) notice(error.message, true);
  }
}

async function installUpdate() {
  $('#update-install').disabled = true;
  try {
    notice(await call('install_update'));
    $('#update-install').hidden = true;
  } catch (error) {
    notice(error.message, true);
  } finally {
    $('#update-install').disabled = false;
  }
}

export async function loadSettings() {
  loadAbout();
  call('update_status').then(showUpdate, () => {});
  try {
    fill(await call('get_settings'));
  } catch (error) {
    notice(error.message, true);
  }
}

async function save(event) {
  event.preventDefault();
  clearErrors();
  try {
    fill(await call('save_settings', { settings: settingsDraft() }));
    notice('Settings saved.');
    // New or changed credentials: try at once (this also resumes a paused queue).
    await refreshStatus();
    syncNow();
  } catch (error) {
    for (const f of error.fields || []) {
      const node = $(`#set-${f.field.replace('.', '-')}-error`);
      if (node) node.textContent = f.message;
    }
    notice(error.message, true);
  }
}

async function test() {
  const result = $('#settings-test-result');
  result.textContent = 'Testing…';
  try {
    const report = await call('test_connection');
    const line = (label, check) => el('p', { className: check.ok ? 'ok' : 'fail', text: `${label}: ${check.message}` });
    result.replaceChildren(line('Partners API', report.partners), line('Organizations API', report.organizations));
  } catch (error) {
    result.textContent = error.message;
  }
}

export function initSettings() {
  $('#settings-form').addEventListener('submit', save);
  $('#settings-test').addEventListener('click', test);
  $('#update-check').addEventListener('click', () => checkForUpdates(true));
  $('#update-install').addEventListener('click', installUpdate);
}

// The settings screen: where the central APIs are, and the credentials
// (sent to the keychain by Rust; never read back into the page).

import { call } from './api.js';
import { refreshStatus, syncNow } from './status.js';
import { $, $$, notice } from './dom.js';

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
  for (const [id, has] of [['#set-partners-client_secret', view.partners.has_client_secret], ['#set-organizations-api_key', view.organizations.has_api_key]]) {
    $(id).value = '';
    $(id).placeholder = has ? 'Stored in the keychain (leave empty to keep)' : 'Not set';
  }
  // The partner list names connected organizations as the settings do.
  window.dispatchEvent(new CustomEvent('partnerbook:settings', { detail: view }));
  $('#keychain-status').textContent = view.keychain.message;
  $('#keychain-status').classList.toggle('warning', !view.keychain.available);
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

export async function loadSettings() {
  loadAbout();
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
    const line = (label, check) => {
      const p = document.createElement('p');
      p.className = check.ok ? 'ok' : 'fail';
      p.textContent = `${label}: ${check.message}`;
      return p;
    };
    result.replaceChildren(line('Partners API', report.partners), line('Organizations API', report.organizations));
  } catch (error) {
    result.textContent = error.message;
  }
}

export function initSettings() {
  $('#settings-form').addEventListener('submit', save);
  $('#settings-test').addEventListener('click', test);
}

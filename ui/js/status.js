// The status bar: online/offline, what waits for the central system, sync.

import { call } from './api.js';
import { $, ago, notice } from './dom.js';

function online() {
  const on = navigator.onLine;
  $('#status-online').textContent = on ? 'Online' : 'Offline';
  $('#status-online').className = on ? 'online' : 'offline';
}

export async function refreshStatus() {
  try {
    const s = await call('status');
    const n = s.pending_changes;
    $('#status-pending').textContent = n === 0 ? 'All changes saved' : `${n} change${n === 1 ? '' : 's'} waiting to sync`;
    const oldest = $('#status-oldest');
    oldest.hidden = !s.oldest_pending_change;
    oldest.textContent = s.oldest_pending_change ? `oldest ${ago(s.oldest_pending_change)}` : '';
    $('#status-last-sync').textContent = `Last sync: ${s.last_sync_at ? ago(s.last_sync_at) : 'never'}`;
    let message = s.syncing ? 'Syncing…' : (s.message || '');
    if (s.open_conflicts) message += ` ${s.open_conflicts} change${s.open_conflicts === 1 ? '' : 's'} to decide.`;
    $('#status-message').textContent = message;
    configured = s.sync_configured;
    const pill = $('#nav-changes-count');
    pill.hidden = !s.open_conflicts;
    pill.textContent = String(s.open_conflicts || '');
  } catch (error) {
    $('#status-message').textContent = error.message;
  }
}

let configured = false;
let onSynced = () => {};

/**
 * Syncs in the background (quietly) or on request (saying what happened).
 * Rust runs one sync at a time; a call while one runs returns at once.
 */
export async function syncNow(quiet = true) {
  if (quiet && (!configured || !navigator.onLine)) return;
  try {
    const result = await call('sync_now');
    if (!quiet) $('#status-message').textContent = result.message;
    onSynced(result);
  } catch (error) {
    if (!quiet) notice(error.message, true);
  }
  refreshStatus();
}

/** `afterSync` reloads the lists when a sync may have brought changes. */
export function initStatus(afterSync) {
  onSynced = afterSync || onSynced;
  online();
  window.addEventListener('online', () => { online(); syncNow(); });
  window.addEventListener('offline', online);
  $('#sync-now').addEventListener('click', () => syncNow(false));
  refreshStatus().then(() => syncNow());
  setInterval(refreshStatus, 5000);
  setInterval(() => syncNow(), 60000);
}

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
    const checked = $('#status-checked');
    checked.hidden = !s.last_checked_at;
    checked.textContent = s.last_checked_at ? `checked with the central system ${ago(s.last_checked_at)}` : '';
    // "Needs sign-in" lasts until the credentials change, Try again, or the hourly probe.
    $('#sign-in-again').hidden = !(s.needs_sign_in && s.needs_sign_in.length);
    let message = s.syncing ? (s.progress || 'Syncing…') : (s.message || '');
    if (s.open_conflicts) message += ` ${s.open_conflicts} change${s.open_conflicts === 1 ? '' : 's'} to decide.`;
    $('#status-message').textContent = message;
    $('#status-message').title = message;
    // A long read fills the Sync screen's bar: records read of what the lists announced.
    const reading = s.syncing && s.reading;
    $('#sync-reading').hidden = !reading;
    if (reading) {
      $('#sync-reading-bar').max = reading.of;
      $('#sync-reading-bar').value = reading.read;
      $('#sync-reading-label').textContent =
        `Reading from the central system: ${reading.read.toLocaleString()} of ${reading.of.toLocaleString()}`;
    }
    configured = s.sync_configured;
    // While a sync runs, its counts move every second, not every five.
    if (s.syncing && !followUp) followUp = setTimeout(() => { followUp = null; refreshStatus(); }, 1000);
    const pill = $('#nav-changes-count');
    pill.hidden = !s.open_conflicts;
    pill.textContent = String(s.open_conflicts || '');
  } catch (error) {
    $('#status-message').textContent = error.message;
  }
}

let configured = false;
let followUp = null;
let onSynced = () => {};

/**
 * Syncs everything now: "Sync now" (saying what happened), or quietly after
 * the settings changed. Rust runs one sync at a time; a call while one runs
 * returns at once.
 */
export async function syncNow(quiet = true, command = 'sync_now') {
  if (quiet && (!configured || !navigator.onLine)) return;
  try {
    const result = await call(command);
    if (!quiet) $('#status-message').textContent = result.message;
    onSynced(result);
  } catch (error) {
    if (!quiet) notice(error.message, true);
  }
  refreshStatus();
}

/**
 * The schedule's turn (the minute timer, focus, or a save): Rust pushes a
 * save at once and reads the central system only when its schedule says so,
 * backing off while nothing is new and the window is in the background.
 */
async function tick(saved = false) {
  if (!configured || !navigator.onLine) return;
  try {
    onSynced(await call('sync_tick', { occasion: { focused: document.hasFocus(), saved } }));
  } catch (_) {
    // The status bar says what went wrong at its next refresh.
  }
  refreshStatus();
}

/** After a save: its change goes now. */
export function syncSaved() {
  return tick(true);
}

/** `afterSync` reloads the lists when a sync may have brought changes. */
export function initStatus(afterSync) {
  onSynced = afterSync || onSynced;
  online();
  const networkChanged = (isOnline) => call('network_changed', { online: isOnline }).catch(() => {});
  window.addEventListener('online', () => { online(); networkChanged(true); tick(); });
  window.addEventListener('offline', () => { online(); networkChanged(false); });
  window.addEventListener('focus', () => tick());
  $('#sync-now').addEventListener('click', () => syncNow(false));
  $('#sign-in-again').addEventListener('click', () => syncNow(false, 'try_sign_in_again'));
  // The first tick reads in full (the app just started).
  refreshStatus().then(() => tick());
  setInterval(refreshStatus, 5000);
  setInterval(() => tick(), 60000);
}

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
    $('#status-message').textContent = s.message || '';
  } catch (error) {
    $('#status-message').textContent = error.message;
  }
}

export function initStatus() {
  online();
  window.addEventListener('online', online);
  window.addEventListener('offline', online);
  $('#sync-now').addEventListener('click', async () => {
    try {
      const report = await call('sync_now');
      $('#status-message').textContent = report.message;
    } catch (error) {
      notice(error.message, true);
    }
    refreshStatus();
  });
  refreshStatus();
  setInterval(refreshStatus, 5000);
}

// Small DOM helpers. Text goes in through textContent only: record values are
// untrusted and must show as text.

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

export function el(tag, { className, text, attrs } = {}, children = []) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

let noticeTimer;
/** Shows a short message in the notice area; errors stay a little longer. */
export function notice(message, isError = false) {
  const box = $('#notice');
  box.textContent = message;
  box.classList.toggle('error', isError);
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { box.textContent = ''; }, isError ? 10000 : 4000);
}

/**
 * After a save or cancel, focus goes back to the record's row in `list` (or,
 * if it is not in view, to `fallback`), never to the page's body.
 */
export function focusRow(list, key, fallback) {
  const row = key ? list.querySelector(`[data-key="${CSS.escape(key)}"]`) : null;
  (row || fallback).focus();
}

export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

const SYNC_LABELS = { pending: 'Pending', synced: 'Synced', rejected: 'Rejected', conflict: 'Conflict' };

/** Fills a list's Sync filter with the states, named as their badges are; a choice calls `onChange`. */
export function syncStateFilter(select, onChange) {
  for (const [value, label] of Object.entries(SYNC_LABELS)) select.append(el('option', { text: label, attrs: { value } }));
  select.addEventListener('change', onChange);
}

/** A sync badge; a rejected one carries the server's reason. */
export function badge(state, error) {
  const b = el('span', { className: `badge badge-${state}`, text: SYNC_LABELS[state] || state });
  if (error && error.message) {
    b.title = error.message;
    b.setAttribute('aria-label', `${SYNC_LABELS[state] || state}: ${error.message}`);
  }
  return b;
}

/** "5 min ago" from an RFC 3339 time. */
export function ago(iso) {
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 60) return 'just now';
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} days ago`;
}

/** Asks a yes/no question in the page's own dialog; resolves true for yes. */
export function confirmDialog(message, yesLabel = 'Yes') {
  const dialog = $('#confirm-dialog');
  $('#confirm-message').textContent = message;
  $('#confirm-yes').textContent = yesLabel;
  return new Promise((resolve) => {
    const finish = (answer) => {
      $('#confirm-yes').removeEventListener('click', yes);
      $('#confirm-no').removeEventListener('click', no);
      dialog.removeEventListener('cancel', no);
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    const yes = () => finish(true);
    const no = (event) => { if (event) event.preventDefault(); finish(false); };
    $('#confirm-yes').addEventListener('click', yes);
    $('#confirm-no').addEventListener('click', no);
    dialog.addEventListener('cancel', no);
    dialog.showModal();
    $('#confirm-no').focus();
  });
}

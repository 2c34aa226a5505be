// Export and import: the file dialogs, options, progress and the import's dry run.
// Files are chosen with the dialog plugin; the work happens in Rust.

import { call, listen } from './api.js';
import { $, el, notice } from './dom.js';

const EXTENSIONS = { csv: 'csv', 'csv;': 'csv', xlsx: 'xlsx', jsonl: 'jsonl' };

function today() {
  return new Date().toISOString().slice(0, 10);
}

/** The native save dialog; resolves with a path, or null if the user backs out. */
function chooseSavePath(name, format) {
  const extension = EXTENSIONS[format];
  return call('plugin:dialog|save', {
    options: { defaultPath: `${name}-${today()}.${extension}`, filters: [{ name: extension.toUpperCase(), extensions: [extension] }] },
  });
}

let exporting = null; // {what, query} while the export dialog is open

// The columns an export can hold, with the words the dialog shows; the first
// `shown` are chosen until the user chooses otherwise.
const COLUMNS = {
  partners: {
    names: [
      ['company_name', 'Company name'], ['sales_amount', 'Sales amount'], ['partner_type', 'Partner type'],
      ['email', 'Email'], ['frequency', 'Frequency'], ['payment_terms', 'Payment terms'],
      ['target_org_id', 'Organization ID'], ['key', 'Key (this computer)'], ['server_id', 'ID on the central system'],
      ['created_locally_at', 'Created here'], ['updated_locally_at', 'Changed here'], ['sync_state', 'Sync state'],
      ['sync_error', 'Sync problem'],
    ],
    shown: 6,
  },
  organizations: {
    names: [
      ['name', 'Name'], ['type', 'Type'], ['address', 'Address'], ['address2', 'Address line 2'], ['city', 'City'],
      ['province', 'Province'], ['postal', 'Postal code'], ['country', 'Country'], ['phone', 'Phone'],
      ['billing_email', 'Billing email'], ['office_id', 'Office ID'], ['linked_to', 'Linked to'],
      ['description', 'Description'], ['latitude', 'Latitude'], ['longitude', 'Longitude'],
      ['contacts', 'Contacts (their columns)'], ['key', 'Key (this computer)'],
    ],
    shown: 16,
  },
};

const remembered = (what) => `partnerbook.export.${what === 'partners' ? 'partner' : 'organization'}-columns`;

/** The order and choice from the last export of `what`, or the default. */
function rememberedColumns(what) {
  const { names, shown } = COLUMNS[what];
  try {
    const saved = JSON.parse(localStorage.getItem(remembered(what)) || 'null');
    if (Array.isArray(saved) && saved.length === names.length && saved.every((c) => names.some(([n]) => n === c.name))) return saved;
  } catch (_) { /* a bad value is as good as none */ }
  return names.map(([name], i) => ({ name, on: i < shown }));
}

function fillColumns(what, columns) {
  const labels = new Map(COLUMNS[what].names);
  $('#export-columns').replaceChildren(...columns.map((c, i) => {
    const id = `export-column-${c.name}`;
    const box = el('input', { attrs: { type: 'checkbox', id, 'data-name': c.name, ...(c.on ? { checked: '' } : {}) } });
    const up = el('button', { text: '↑', attrs: { type: 'button', 'aria-label': `Move ${labels.get(c.name)} up`, 'data-move': '-1' } });
    const down = el('button', { text: '↓', attrs: { type: 'button', 'aria-label': `Move ${labels.get(c.name)} down`, 'data-move': '1' } });
    up.disabled = i === 0;
    down.disabled = i === columns.length - 1;
    return el('li', { attrs: { 'data-name': c.name } }, [box, el('label', { text: labels.get(c.name), attrs: { for: id } }), up, down]);
  }));
}

function chosenColumns() {
  return [...document.querySelectorAll('#export-columns li')].map((li) => ({
    name: li.dataset.name, on: li.querySelector('input').checked,
  }));
}

/**
 * Opens the export dialog for `what` ('partners' or 'organizations') with the
 * list's current search and filters, so the file holds what the user sees.
 */
export function openExport(what, query, count) {
  exporting = { what, query };
  $('#export-title').textContent = what === 'partners' ? 'Export partners' : 'Export organizations';
  $('#export-what').textContent = `${count} ${what} as the list shows them now (search and filters applied).`;
  $('#export-contacts-field').hidden = what !== 'organizations';
  fillColumns(what, rememberedColumns(what));
  $('#export-progress').hidden = true;
  $('#export-status').textContent = '';
  $('#export-go').disabled = false;
  $('#export-dialog').showModal();
  $('#export-format').focus();
}

async function runExport(event) {
  event.preventDefault();
  if (!exporting) return;
  if (!chosenColumns().some((c) => c.on)) {
    $('#export-status').textContent = 'Choose at least one column.';
    return;
  }
  const format = $('#export-format').value;
  const path = await chooseSavePath(exporting.what, format).catch((e) => { notice(e.message, true); return null; });
  if (!path) return;
  const options = {
    format: format === 'csv;' ? 'csv' : format,
    semicolon: format === 'csv;',
    bom: format === 'csv;', // Excel in those locales needs the BOM to read accents right
    sync_state: $('#export-sync-state').checked,
  };
  if (exporting.what === 'organizations') options.contacts = $('#export-contacts').value;
  options.columns = chosenColumns().filter((c) => c.on).map((c) => c.name);
  const command = exporting.what === 'partners' ? 'export_partners' : 'export_organizations';
  $('#export-go').disabled = true;
  $('#export-progress').hidden = false;
  $('#export-status').textContent = 'Exporting…';
  const stop = await listen('export-progress', ({ done, total }) => {
    $('#export-progress').max = Math.max(total, 1);
    $('#export-progress').value = done;
    $('#export-status').textContent = `Exporting… ${done.toLocaleString()} of ${total.toLocaleString()}`;
  });
  try {
    const rows = await call(command, { query: { ...exporting.query, limit: 1, offset: 0 }, options, path });
    $('#export-dialog').close();
    notice(`Exported ${rows.toLocaleString()} ${exporting.what} to ${path}.`);
  } catch (error) {
    $('#export-status').textContent = error.kind === 'cancelled' ? 'Export cancelled; no file was written.' : error.message;
    $('#export-go').disabled = false;
  } finally {
    stop();
    $('#export-progress').hidden = true;
  }
}

function cancelExport() {
  if ($('#export-go').disabled) {
    call('cancel_export').catch(() => {});
  } else {
    $('#export-dialog').close();
    exporting = null;
  }
}

let importPath = null;
let afterImport = () => {};

export function openImport(onImported) {
  afterImport = onImported;
  importPath = null;
  $('#import-file').textContent = '';
  $('#import-summary').textContent = '';
  $('#import-problems').replaceChildren();
  $('#import-go').hidden = true;
  $('#import-dialog').showModal();
  $('#import-choose').focus();
}

function describe(report) {
  const parts = [`${report.valid} row${report.valid === 1 ? '' : 's'} ready to import`];
  if (report.invalid) parts.push(`${report.invalid} with errors`);
  if (report.duplicates) parts.push(`${report.duplicates} likely duplicate${report.duplicates === 1 ? '' : 's'}`);
  return parts.join(', ') + '.';
}

function showProblems(report) {
  const problems = report.rows.filter((r) => r.status !== 'ok').slice(0, 200);
  $('#import-problems').replaceChildren(...problems.map((r) => {
    const why = r.status === 'duplicate'
      ? `looks like a duplicate of ${r.duplicate_of}`
      : r.errors.map((e) => e.message).join(' ');
    return el('li', { text: `Row ${r.row}: ${why}` });
  }));
}

async function chooseImport() {
  const path = await call('plugin:dialog|open', {
    options: { multiple: false, directory: false, filters: [{ name: 'CSV or Excel', extensions: ['csv', 'xlsx'] }] },
  }).catch((e) => { notice(e.message, true); return null; });
  if (!path) return;
  importPath = path;
  $('#import-file').textContent = path;
  try {
    const report = await withProgress('Checking', () => call('import_partners', { path, dryRun: true }));
    $('#import-summary').textContent = `Checked: ${describe(report)} Rows with errors or duplicates are left out.`;
    showProblems(report);
    $('#import-go').hidden = report.valid === 0;
    $('#import-go').textContent = `Import ${report.valid} partner${report.valid === 1 ? '' : 's'}`;
  } catch (error) {
    $('#import-summary').textContent = error.kind === 'cancelled' ? 'Stopped; nothing was saved.' : error.message;
  }
}

/**
 * Runs an import call (on its own thread in Rust: the window answers
 * meanwhile) with its progress bar and Stop button.
 */
async function withProgress(doing, run) {
  const bar = $('#import-progress');
  bar.hidden = false;
  bar.value = 0;
  $('#import-cancel').hidden = false;
  $('#import-go').disabled = true;
  $('#import-choose').disabled = true;
  $('#import-summary').textContent = `${doing} the file…`;
  const stop = await listen('import-progress', ({ done, total }) => {
    bar.max = Math.max(total, 1);
    bar.value = done;
    $('#import-summary').textContent = `${doing} the file… ${done.toLocaleString()} of ${total.toLocaleString()} rows`;
  });
  try {
    return await run();
  } finally {
    stop();
    bar.hidden = true;
    $('#import-cancel').hidden = true;
    $('#import-go').disabled = false;
    $('#import-choose').disabled = false;
  }
}

async function runImport() {
  if (!importPath) return;
  try {
    const report = await withProgress('Importing', () => call('import_partners', { path: importPath, dryRun: false }));
    $('#import-dialog').close();
    notice(`Imported ${report.imported} partner${report.imported === 1 ? '' : 's'}; they will be synced.`);
    afterImport();
  } catch (error) {
    $('#import-summary').textContent = error.kind === 'cancelled' ? 'Stopped; nothing was saved.' : error.message;
  }
}

export function initTransfer() {
  // The choice is remembered as it is made, for the next export.
  const remember = (columns) => { if (exporting) localStorage.setItem(remembered(exporting.what), JSON.stringify(columns)); };
  $('#export-columns').addEventListener('change', () => remember(chosenColumns()));
  $('#export-columns').addEventListener('click', (event) => {
    const move = event.target.dataset && Number(event.target.dataset.move);
    if (!move || !exporting) return;
    const columns = chosenColumns();
    const at = columns.findIndex((c) => c.name === event.target.closest('li').dataset.name);
    const to = at + move;
    if (to < 0 || to >= columns.length) return;
    [columns[at], columns[to]] = [columns[to], columns[at]];
    fillColumns(exporting.what, columns);
    remember(columns);
    document.querySelector(`#export-columns li[data-name="${columns[to].name}"] button[data-move="${move}"]`)?.focus();
  });
  $('#export-form').addEventListener('submit', runExport);
  $('#export-cancel').addEventListener('click', cancelExport);
  $('#export-dialog').addEventListener('cancel', (event) => { event.preventDefault(); cancelExport(); });
  $('#import-choose').addEventListener('click', chooseImport);
  $('#import-go').addEventListener('click', runImport);
  $('#import-cancel').addEventListener('click', () => call('cancel_import').catch(() => {}));
  $('#import-close').addEventListener('click', () => {
    // Closing while it runs stops it: nothing half-imported behind a closed dialog.
    if (!$('#import-cancel').hidden) call('cancel_import').catch(() => {});
    $('#import-dialog').close();
  });
}

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

/**
 * Opens the export dialog for `what` ('partners' or 'organizations') with the
 * list's current search and filters, so the file holds what the user sees.
 */
export function openExport(what, query, count) {
  exporting = { what, query };
  $('#export-title').textContent = what === 'partners' ? 'Export partners' : 'Export organizations';
  $('#export-what').textContent = `${count} ${what} as the list shows them now (search and filters applied).`;
  $('#export-contacts-field').hidden = what !== 'organizations';
  $('#export-progress').hidden = true;
  $('#export-status').textContent = '';
  $('#export-go').disabled = false;
  $('#export-dialog').showModal();
  $('#export-format').focus();
}

async function runExport(event) {
  event.preventDefault();
  if (!exporting) return;
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

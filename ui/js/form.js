// What every record form shares: messages next to fields (only for fields the
// user has visited, until Save shows them all), unsaved-change tracking, and
// the keyboard (Enter saves via the form's submit button, Esc cancels).

import { call } from './api.js';
import { $, $$, confirmDialog, el, notice } from './dom.js';

export class RecordForm {
  /**
   * @param {HTMLFormElement} form
   * @param {{errorElement:(field:string)=>HTMLElement|null, inputFor:(field:string)=>HTMLElement|null,
   *          validate:()=>Promise<Array<{field:string,message:string}>>, onCancel:()=>void}} options
   */
  constructor(form, options) {
    Object.assign(this, options);
    this.form = form;
    this.touched = new Set();
    this.showAll = false;
    this.snapshot = '';
    this.draft = () => ({});
    form.addEventListener('focusout', (event) => this.visited(event.target));
    form.addEventListener('change', (event) => this.visited(event.target));
    form.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') {
        event.preventDefault();
        this.cancel();
      }
    });
  }

  /** Opens the form with `draft`-producing state already filled in by the caller. */
  opened(draftFn) {
    this.draft = draftFn;
    this.touched.clear();
    this.showAll = false;
    this.clearErrors();
    this.form.hidden = false;
    this.snapshot = JSON.stringify(this.draft());
  }

  dirty() {
    return JSON.stringify(this.draft()) !== this.snapshot;
  }

  async cancel() {
    if (this.dirty() && !(await confirmDialog('Discard the changes you made?', 'Discard'))) return;
    this.close();
    this.onCancel();
  }

  close() {
    this.form.hidden = true;
    this.clearErrors();
  }

  async visited(target) {
    const field = target && target.dataset ? target.dataset.field : null;
    if (!field || this.form.hidden) return;
    this.touched.add(field);
    try {
      this.show(await this.validate());
    } catch (error) {
      // A failed check is retried on the next field; Save reports real errors.
    }
  }

  clearErrors() {
    for (const node of $$('.field-error', this.form)) node.textContent = '';
    for (const input of $$('[aria-invalid]', this.form)) input.removeAttribute('aria-invalid');
  }

  /** Shows the messages of visited fields (all of them after a Save). */
  show(errors) {
    this.clearErrors();
    for (const error of errors) {
      if (!this.showAll && !this.touched.has(error.field)) continue;
      const node = this.errorElement(error.field);
      if (node) node.textContent = error.message;
      const input = this.inputFor(error.field);
      if (input) input.setAttribute('aria-invalid', 'true');
    }
  }

  /** After a rejected Save: every message, and focus on the first bad field. */
  showAllErrors(errors) {
    this.showAll = true;
    this.show(errors);
    for (const error of errors) {
      const input = this.inputFor(error.field);
      if (input) { input.focus(); break; }
    }
  }
}

/**
 * Runs a save (`action`) for `form`; on success closes it, says `done` and calls
 * `after`; on a validation error shows every field's message.
 */
export async function saveRecord(form, action, done, after) {
  try {
    const saved = await action();
    form.close();
    notice(done);
    await after(saved);
  } catch (error) {
    if (error.kind === 'validation') {
      form.showAllErrors(error.fields);
      notice('Please fix the highlighted fields.', true);
    } else {
      notice(error.message, true);
    }
  }
}

/** Asks first, then deletes like `saveRecord` saves. */
export async function deleteRecord(form, name, action, done, after) {
  const question = `Delete ${name}? It is removed here and, after the next sync, from the central system.`;
  if (!(await confirmDialog(question, 'Delete'))) return;
  try {
    await action();
    form.close();
    notice(done);
    await after();
  } catch (error) {
    notice(error.message, true);
  }
}

/** The sync line inside a form: state, and the server's reason when it refused. */
export function syncInfo(node, record) {
  if (!record) { node.hidden = true; return; }
  const words = {
    pending: 'Saved on this computer; waiting to be sent to the central system.',
    synced: 'Saved and sent to the central system.',
    rejected: 'The central system refused the last change',
    conflict: 'Changed here and on the central system; choose which to keep.',
  };
  let text = words[record.sync_state] || record.sync_state;
  if (record.sync_error && record.sync_error.message) text += `: ${record.sync_error.message}`;
  node.textContent = text;
  node.className = `sync-info sync-${record.sync_state}`;
  node.hidden = false;
  if (record.sync_state === 'pending' && record.key) showWaiting(node, record);
}

/** A change whose answer was lost says so: it is being confirmed, not just waiting. */
async function showWaiting(node, record) {
  const entity = 'company_name' in (record.fields || record) ? 'partner' : 'organization';
  try {
    const [head] = await call('record_changes', { entity, key: record.key });
    if (head && head.last_error && head.last_error.startsWith('Waiting to confirm')) {
      node.textContent = `Saved on this computer. ${head.last_error}`;
    }
  } catch {
    // The plain sentence stays.
  }
}


const LIKENESS = {
  same_email: 'same email',
  same_name: 'same name',
  same_domain_similar_name: 'similar name, same company domain',
  similar_name: 'similar name',
};

/**
 * "Possible duplicate of Acme Corp (buyer@acme.example; same name)", one line
 * per stored record the form may duplicate, each name a link to open it.
 */
export function showDuplicates(box, found) {
  box.replaceChildren(...found.map((d) => el('p', {}, [
    'Possible duplicate of ',
    el('button', { className: 'link', text: d.name, attrs: { type: 'button', 'data-key': d.key } }),
    d.email ? ` (${d.email}; ${LIKENESS[d.likeness] || d.likeness}).` : ` (${LIKENESS[d.likeness] || d.likeness}).`,
  ])));
  box.hidden = found.length === 0;
}

/** A click on a duplicate's name opens it, after asking when something was typed. */
export function onDuplicateChosen(box, form, what, open) {
  box.addEventListener('click', async (event) => {
    const key = event.target.dataset && event.target.dataset.key;
    if (!key) return;
    if (form.dirty() && !(await confirmDialog(`Discard what you typed and open that ${what}?`, 'Open it'))) return;
    open(key);
  });
}

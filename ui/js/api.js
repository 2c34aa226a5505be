// The only door to Rust. Every call resolves with data or rejects with
// {kind, message, fields}. The commands take typed arguments, so Tauri itself
// refuses a value of the wrong shape, with a plain sentence: that is this
// window's bug, not the user's, and is reported as `bad_request`.

const tauri = window.__TAURI__;

export const available = Boolean(tauri && tauri.core && tauri.core.invoke);

export async function call(command, args = {}) {
  if (!available) {
    throw { kind: 'no_backend', message: 'Partnerbook must be opened as the desktop app.', fields: [] };
  }
  try {
    return await tauri.core.invoke(command, args);
  } catch (error) {
    if (error && typeof error === 'object' && 'message' in error) {
      return Promise.reject({ kind: error.kind || 'error', message: error.message, fields: error.fields || [] });
    }
    return Promise.reject({ kind: 'bad_request', message: String(error), fields: [] });
  }
}

/** Subscribes to an event from Rust; resolves with a function that unsubscribes. */
export async function listen(event, handler) {
  if (!available || !tauri.event) return () => {};
  return tauri.event.listen(event, (e) => handler(e.payload));
}

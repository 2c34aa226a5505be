//! An import as a user starts it: on its own connection to the database, so
//! the window's store stays free (a search or opening a record answers while
//! a large file is checked and written), with progress, and stopped when the
//! progress callback says so (then nothing is saved).

use std::path::Path;

use crate::ErrorBody;
use crate::export::Progress;
use crate::import::{self, ImportReport};
use crate::store::Store;

/// Checks (and unless `dry_run`, imports) `path` on a connection of its own to `db`.
pub fn run(
    db: &Path,
    path: &Path,
    dry_run: bool,
    progress: impl FnMut(Progress) -> bool + Send,
) -> Result<ImportReport, ErrorBody> {
    let mut store = Store::open(db)?;
    Ok(import::import_partners_with(&mut store, path, dry_run, None, progress)?)
}

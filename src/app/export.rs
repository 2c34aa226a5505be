//! An export as a user starts it: on its own connection to the database (so
//! the window's store stays free), with progress, and stopped when the
//! progress callback says so (it then leaves no file behind).

use std::path::{Path, PathBuf};

use crate::ErrorBody;
use crate::export::{self, ExportOptions, OrganizationExportOptions, Progress};
use crate::store::{OrganizationQuery, PartnerQuery, Store};

/// What to export, and where to.
#[derive(Debug, Clone)]
pub enum ExportJob {
    Partners { query: PartnerQuery, options: ExportOptions, path: PathBuf },
    Organizations { query: OrganizationQuery, options: OrganizationExportOptions, path: PathBuf },
}

impl ExportJob {
    pub fn path(&self) -> &Path {
        match self {
            ExportJob::Partners { path, .. } | ExportJob::Organizations { path, .. } => path,
        }
    }
}

/// Runs `job` on a connection of its own to `db`; `progress` returns false
/// to stop. Returns the rows written.
pub fn run(db: &Path, job: &ExportJob, mut progress: impl FnMut(Progress) -> bool) -> Result<u64, ErrorBody> {
    let store = Store::open(db)?;
    let rows = match job {
        ExportJob::Partners { query, options, path } => {
            export::export_partners(&store, query, options, path, &mut progress)?
        }
        ExportJob::Organizations { query, options, path } => {
            export::export_organizations(&store, query, options, path, &mut progress)?
        }
    };
    Ok(rows)
}

//! Where an export or a rejects file may be written: never over the live
//! database (or its WAL, shared-memory or journal file), and, for a file
//! named on the command line, never through a symbolic link. A file is
//! written beside its target and renamed over it, after an fsync of the file
//! and, once renamed, of the folder, so a crash leaves the old file or the
//! new one, never half of either.

use std::io;
use std::path::{Path, PathBuf};

/// Why `target` may not be written while `database` is open, if it may not.
pub fn refusal(target: &Path, database: &Path, allow_symlink: bool) -> Option<String> {
    if !allow_symlink && std::fs::symlink_metadata(target).is_ok_and(|m| m.file_type().is_symlink()) {
        return Some(format!("{} is a symbolic link; name the file itself", target.display()));
    }
    let resolved = resolve(target)?;
    let db = resolve(database)?;
    let db_name = db.file_name()?.to_string_lossy().into_owned();
    let siblings = ["", "-wal", "-shm", "-journal"].map(|suffix| db.with_file_name(format!("{db_name}{suffix}")));
    siblings.contains(&resolved).then(|| {
        format!("{} is Partnerbook's own database (or one of its files); choose another file", target.display())
    })
}

/// The path as the file system means it: the file resolved if it exists,
/// else its folder resolved and its name added.
fn resolve(path: &Path) -> Option<PathBuf> {
    if let Ok(real) = std::fs::canonicalize(path) {
        return Some(real);
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    Some(std::fs::canonicalize(parent).ok()?.join(path.file_name()?))
}

/// Flushes the folder's entry for a file just renamed into it (a no-op where
/// folders cannot be opened, as on Windows).
pub fn sync_folder(of: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let dir = of.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = of;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_and_its_files_are_refused_by_any_name() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("book.db");
        std::fs::write(&db, b"").unwrap();
        for name in ["book.db", "book.db-wal", "book.db-shm", "book.db-journal"] {
            assert!(refusal(&dir.path().join(name), &db, true).is_some(), "{name}");
        }
        // Reached another way: through `..`, or a link to it.
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        assert!(refusal(&dir.path().join("sub/../book.db"), &db, true).is_some());
        #[cfg(unix)]
        {
            let link = dir.path().join("innocent.csv");
            std::os::unix::fs::symlink(&db, &link).unwrap();
            assert!(refusal(&link, &db, true).is_some(), "a link to the database");
            assert!(refusal(&link, &db, false).unwrap().contains("symbolic link"));
        }
        assert_eq!(refusal(&dir.path().join("partners.csv"), &db, false), None);
    }
}

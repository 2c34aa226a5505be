//! One drainer per database: an OS lock on a file beside the database, held
//! while a process sends that database's changes.
//!
//! Two processes pushing one outbox at once (the window and a cron job, two
//! windows) race: both claim, one searches while the other's create is still
//! in flight, and a lost race is a duplicate on the server. The atomic claim
//! ([`crate::store::Outbox::begin_attempts_by`]) still decides who reconciles; the lock makes the
//! race impossible. It is an advisory lock of the OS (`flock` on Unix,
//! `LockFileEx` on Windows): it goes with its process, even one killed with
//! SIGKILL, so a crash never leaves the queue locked. A process stopped with
//! SIGSTOP keeps it: the other waits rather than sends twice. Locks on network
//! filesystems are not reliable, so neither is this there (see the README).
//!
//! Only the push holds it, and a pull for each page's short transaction that
//! may adopt a lost create (see `Store::pull_page_adopting`): a long pull in
//! one process never keeps another's just-saved record from going out.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Held while this process sends the database's changes; released on drop.
#[derive(Debug)]
pub struct SendingLock {
    /// `None` for an in-memory database: no file, one process, always free.
    _file: Option<File>,
}

/// The lock file of the database at `db`.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".sending");
    PathBuf::from(name)
}

impl SendingLock {
    /// Takes the lock if no other process holds it.
    pub fn try_take(db: &Path) -> std::io::Result<Option<SendingLock>> {
        if db == Path::new(":memory:") {
            return Ok(Some(SendingLock { _file: None }));
        }
        let file = OpenOptions::new().create(true).truncate(false).write(true).open(lock_path(db))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(SendingLock { _file: Some(file) })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }

    /// Takes the lock, waiting up to `patience` for another process to let it go.
    pub async fn take_within(db: &Path, patience: Duration) -> std::io::Result<Option<SendingLock>> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            if let Some(lock) = SendingLock::try_take(db)? {
                return Ok(Some(lock));
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_free_again_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        let first = SendingLock::try_take(&db).unwrap().expect("free");
        assert!(SendingLock::try_take(&db).unwrap().is_none(), "held (a second open file is a second holder)");
        drop(first);
        assert!(SendingLock::try_take(&db).unwrap().is_some(), "free again");
    }
}

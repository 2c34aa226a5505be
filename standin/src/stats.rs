//! Request counters, so a test can assert what the server actually saw (faults hit, writes, replays).

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// How many requests got each fault.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultCounts {
    /// Requests delayed by `latency_ms`.
    pub latency: u64,
    pub server_error: u64,
    pub rate_limit: u64,
    pub reset_before: u64,
    pub reset_after: u64,
    pub timeout: u64,
    pub timeout_after_write: u64,
    pub malformed: u64,
}

/// A snapshot of the counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// API requests received (the token endpoint included, `/_admin` excluded).
    pub requests: u64,
    /// Creates, updates and deletes committed through the API (idempotent replays excluded).
    pub writes: u64,
    /// Creates, updates and deletes done through `/_admin` or the library handle.
    pub admin_writes: u64,
    /// Mutating requests answered from the idempotency store instead of being done again.
    pub idempotent_replays: u64,
    pub faults: FaultCounts,
}

#[derive(Default)]
pub(crate) struct Counters {
    requests: AtomicU64,
    writes: AtomicU64,
    admin_writes: AtomicU64,
    idempotent_replays: AtomicU64,
    faults: FaultCounters,
}

#[derive(Default)]
pub(crate) struct FaultCounters {
    pub latency: AtomicU64,
    pub server_error: AtomicU64,
    pub rate_limit: AtomicU64,
    pub reset_before: AtomicU64,
    pub reset_after: AtomicU64,
    pub timeout: AtomicU64,
    pub timeout_after_write: AtomicU64,
    pub malformed: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

fn read(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

impl Counters {
    pub fn count_request(&self) {
        bump(&self.requests);
    }

    pub fn count_write(&self) {
        bump(&self.writes);
    }

    pub fn count_admin_write(&self) {
        bump(&self.admin_writes);
    }

    pub fn count_replay(&self) {
        bump(&self.idempotent_replays);
    }

    pub fn count_fault(&self, which: impl FnOnce(&FaultCounters) -> &AtomicU64) {
        bump(which(&self.faults));
    }

    pub fn snapshot(&self) -> Stats {
        let f = &self.faults;
        Stats {
            requests: read(&self.requests),
            writes: read(&self.writes),
            admin_writes: read(&self.admin_writes),
            idempotent_replays: read(&self.idempotent_replays),
            faults: FaultCounts {
                latency: read(&f.latency),
                server_error: read(&f.server_error),
                rate_limit: read(&f.rate_limit),
                reset_before: read(&f.reset_before),
                reset_after: read(&f.reset_after),
                timeout: read(&f.timeout),
                timeout_after_write: read(&f.timeout_after_write),
                malformed: read(&f.malformed),
            },
        }
    }

    /// Zeroes every counter (between phases of a test).
    pub fn reset(&self) {
        let f = &self.faults;
        for counter in [
            &self.requests,
            &self.writes,
            &self.admin_writes,
            &self.idempotent_replays,
            &f.latency,
            &f.server_error,
            &f.rate_limit,
            &f.reset_before,
            &f.reset_after,
            &f.timeout,
            &f.timeout_after_write,
            &f.malformed,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
    }
}

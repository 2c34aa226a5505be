//! When to read the central system, for APIs without a change feed.
//!
//! Neither API says what changed since a time, so a full pull is a paged scan
//! of every record: 1,000 list requests at 100,000 partners. The first
//! version pulled on start, after every save and every minute: some 60,000
//! requests an hour from one idle laptop. This schedule keeps a save's push
//! immediate and spends reads where they can find something:
//!
//! - a full pull on start, on "Sync now", and a few minutes after the network
//!   comes back (debounced: a flapping link pulls once);
//! - otherwise every 15 minutes, backing off to 30, 60, 120 and 240 while
//!   scans find nothing new and the window is unfocused; focus or activity
//!   brings it back to 15; each wait has ±10% jitter so laptops that woke
//!   together do not scan together;
//! - between full pulls, a one-item list request per list reads its total
//!   (`total_items`, `total`) every few minutes: an add or a delete there
//!   brings the full pull forward;
//! - a 429 with `Retry-After` holds every read until it has passed.
//!
//! Pure: the caller passes the time, so a day can be simulated in a test.

use std::time::Duration;

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CadencePolicy {
    /// The wait between full pulls while something is found or the user is here.
    pub interval: Duration,
    /// The longest wait while nothing is found and the window is unfocused.
    pub longest: Duration,
    /// How often the totals are read between full pulls.
    pub probe_every: Duration,
    /// How long the network must stay back before a full pull.
    pub network_settle: Duration,
    /// The shortest hold after a 429 without `Retry-After`.
    pub rate_limit_hold: Duration,
}

impl Default for CadencePolicy {
    fn default() -> Self {
        CadencePolicy {
            interval: Duration::from_secs(15 * 60),
            longest: Duration::from_secs(4 * 3600),
            probe_every: Duration::from_secs(5 * 60),
            network_settle: Duration::from_secs(3 * 60),
            rate_limit_hold: Duration::from_secs(60),
        }
    }
}

/// What a run should read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// Every list, page by page.
    Full,
    /// One-item requests for the lists' totals; a full pull only where one changed.
    Totals,
    /// Nothing: push only.
    Nothing,
}

/// The schedule's state. Not persisted: a restart pulls in full anyway.
#[derive(Debug, Clone)]
pub struct Cadence {
    policy: CadencePolicy,
    /// When the next full pull is due.
    full_at: DateTime<Utc>,
    /// When the next totals probe is due.
    probe_at: DateTime<Utc>,
    /// No read before this (a 429).
    hold_until: Option<DateTime<Utc>>,
    /// The network came back at this time; a full pull once it has settled.
    back_since: Option<DateTime<Utc>>,
    /// Full pulls in a row that found nothing new.
    quiet: u32,
    focused: bool,
    /// Changes saved here and not yet pushed.
    push_due: bool,
    /// "Sync now" asked for a full read that has not started yet (one asked
    /// for while a run goes is not answered by that run).
    full_requested: bool,
}

fn after(now: DateTime<Utc>, wait: Duration) -> DateTime<Utc> {
    let wait = wait.min(Duration::from_secs(366 * 24 * 3600));
    now + chrono::Duration::from_std(wait).expect("a year fits")
}

impl Cadence {
    /// On start: a full pull is due at once.
    pub fn new(policy: CadencePolicy, now: DateTime<Utc>) -> Cadence {
        Cadence {
            policy,
            full_at: now,
            probe_at: after(now, policy.probe_every),
            hold_until: None,
            back_since: None,
            quiet: 0,
            focused: true,
            push_due: false,
            full_requested: false,
        }
    }

    /// What a run now should do: whether to push, and what to read.
    pub fn due(&self, now: DateTime<Utc>) -> (bool, Read) {
        let held = self.hold_until.is_some_and(|until| now < until);
        let settled = self.back_since.is_some_and(|since| now >= after(since, self.policy.network_settle));
        let read = if held {
            Read::Nothing
        } else if now >= self.full_at || settled || self.full_requested {
            Read::Full
        } else if now >= self.probe_at {
            Read::Totals
        } else {
            Read::Nothing
        };
        (self.push_due, read)
    }

    /// When something next comes due (the caller may sleep until then).
    pub fn next_wake(&self) -> DateTime<Utc> {
        let mut at = self.full_at.min(self.probe_at);
        if let Some(since) = self.back_since {
            at = at.min(after(since, self.policy.network_settle));
        }
        if let Some(until) = self.hold_until {
            at = at.max(until);
        }
        at
    }

    /// A save: its push goes at once; nothing is read for it.
    pub fn saved(&mut self) {
        self.push_due = true;
    }

    /// "Sync now": a full pull at once (a 429's hold still stands).
    pub fn sync_now(&mut self) {
        self.full_requested = true;
        self.push_due = true;
    }

    /// The network is back: a full pull once it has stayed back a while.
    /// Called again while waiting (a flap), the wait starts over.
    pub fn network_back(&mut self, now: DateTime<Utc>) {
        self.back_since = Some(now);
        self.push_due = true;
    }

    pub fn network_lost(&mut self) {
        self.back_since = None;
    }

    /// The window gained or lost focus. Focus is activity: the wait shrinks back.
    pub fn focus(&mut self, focused: bool, now: DateTime<Utc>) {
        self.focused = focused;
        if focused {
            self.activity(now);
        }
    }

    /// The user did something: the next full pull is at most one interval away.
    pub fn activity(&mut self, now: DateTime<Utc>) {
        self.quiet = 0;
        self.full_at = self.full_at.min(after(now, self.policy.interval));
    }

    /// A run that reads as `read` is starting: it pushes what was saved so
    /// far, and a full read answers the requests for one made so far (a save,
    /// "Sync now" or the network's return after this needs a run of its own).
    pub fn starting(&mut self, read: Read) {
        self.push_due = false;
        if read == Read::Full {
            self.full_requested = false;
            self.back_since = None;
        }
    }

    /// A full pull ended; `found` is whether it brought anything new.
    pub fn pulled_in_full(&mut self, now: DateTime<Utc>, found: bool) {
        self.quiet = if found || self.focused { 0 } else { self.quiet.saturating_add(1) };
        self.full_at = after(now, self.jittered(self.wait()));
        self.probe_at = after(now, self.policy.probe_every);
    }

    /// The totals were read; `changed`: one differs from what is here, so a full pull goes now.
    pub fn probed(&mut self, now: DateTime<Utc>, changed: bool) {
        self.probe_at = after(now, self.policy.probe_every);
        if changed {
            self.full_at = now;
        }
    }

    /// A read failed for a passing reason: try again at the next probe time.
    pub fn read_failed(&mut self, now: DateTime<Utc>) {
        self.full_at = self.full_at.max(after(now, self.policy.probe_every));
        self.probe_at = after(now, self.policy.probe_every);
    }

    /// The server said to slow down: no read before `retry_after` (or the
    /// policy's hold) has passed, and the full pull that was cut goes after it.
    pub fn rate_limited(&mut self, now: DateTime<Utc>, retry_after: Option<Duration>) {
        let until = after(now, retry_after.unwrap_or(self.policy.rate_limit_hold).max(self.policy.rate_limit_hold));
        self.hold_until = Some(until);
        self.full_at = self.full_at.max(until);
    }

    /// What a run that was asked to `read` did, as its report says: a full
    /// read ended (found something or not) or failed, totals were read, the
    /// server asked to slow down. The one place a run's outcome moves the schedule.
    pub fn ran(&mut self, now: DateTime<Utc>, read: Read, report: &super::SyncReport) {
        if read == Read::Totals {
            self.probed(now, false);
        }
        if report.full_reads > 0 {
            match report.read_in_full {
                true => self.pulled_in_full(now, report.found_news()),
                false => self.read_failed(now),
            }
        }
        if let Some(secs) = report.slow_down_secs {
            self.rate_limited(now, Some(Duration::from_secs(secs)));
        }
    }

    /// The wait before the next full pull: the interval, doubled for each
    /// quiet scan while unfocused, up to the longest.
    fn wait(&self) -> Duration {
        let doubled = self.policy.interval.saturating_mul(1u32 << self.quiet.saturating_sub(1).min(16));
        doubled.min(self.policy.longest.max(self.policy.interval))
    }

    fn jittered(&self, wait: Duration) -> Duration {
        wait.mul_f64(0.9 + fastrand::f64() * 0.2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: f64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
            + chrono::Duration::milliseconds((minutes * 60_000.0) as i64)
    }

    /// What a window would do over a simulated day, a tick a minute: the
    /// requests it makes (`pages` per full pull, one per list for a probe).
    struct Day {
        cadence: Cadence,
        full_pulls: Vec<f64>,
        probes: u32,
        pushes: u32,
    }

    impl Day {
        fn new() -> Day {
            Day { cadence: Cadence::new(CadencePolicy::default(), at(0.0)), full_pulls: vec![], probes: 0, pushes: 0 }
        }

        /// One tick at minute `m`; `news`: whether a full pull finds anything.
        fn tick(&mut self, m: f64, news: bool) {
            let (push, read) = self.cadence.due(at(m));
            if push {
                self.pushes += 1;
            }
            self.cadence.starting(read);
            match read {
                Read::Full => {
                    self.full_pulls.push(m);
                    self.cadence.pulled_in_full(at(m), news);
                }
                Read::Totals => {
                    self.probes += 1;
                    self.cadence.probed(at(m), false);
                }
                Read::Nothing => {}
            }
        }
    }

    #[test]
    fn an_idle_unfocused_day_backs_off_to_four_hours() {
        let mut day = Day::new();
        day.cadence.focus(false, at(0.0));
        for m in 0..24 * 60 {
            day.tick(m as f64, false);
        }
        // 0, ~15, ~45, ~105, ~225, then every ~240 minutes.
        let n = day.full_pulls.len();
        assert!((8..=10).contains(&n), "{:?}", day.full_pulls);
        let gaps: Vec<f64> = day.full_pulls.windows(2).map(|w| w[1] - w[0]).collect();
        for (gap, want) in gaps.iter().zip([15.0, 30.0, 60.0, 120.0, 240.0, 240.0]) {
            assert!((gap - want).abs() <= want * 0.1 + 1.0, "{gaps:?}");
        }
        // Probes every 5 minutes between: 288 a day at most.
        assert!(day.probes <= 288, "{}", day.probes);
        // At 100,000 partners (1,000 pages a full pull) and two lists to probe:
        let requests = n as u32 * 1_000 + day.probes * 2;
        assert!(requests / 24 <= 1_000, "{requests} requests a day, {} an hour", requests / 24);
    }

    #[test]
    fn focus_and_news_keep_it_at_fifteen_minutes() {
        let mut day = Day::new();
        for m in 0..4 * 60 {
            day.tick(m as f64, m % 2 == 0);
        }
        let gaps: Vec<f64> = day.full_pulls.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.iter().all(|g| (13.0..=17.0).contains(g)), "{gaps:?}");
        // Unfocused and quiet it grows; focus brings the next pull within 15 minutes.
        day.cadence.focus(false, at(240.0));
        for m in 240..600 {
            day.tick(m as f64, false);
        }
        let last = *day.full_pulls.last().unwrap();
        day.cadence.focus(true, at(600.0));
        assert!(day.cadence.next_wake() <= at(615.0));
        assert!(last < 600.0);
    }

    #[test]
    fn saves_push_at_once_and_read_nothing() {
        let mut c = Cadence::new(CadencePolicy::default(), at(0.0));
        c.pulled_in_full(at(0.0), false);
        c.saved();
        assert_eq!(c.due(at(1.0)), (true, Read::Nothing));
        c.starting(Read::Nothing);
        assert_eq!(c.due(at(1.0)), (false, Read::Nothing));
        assert_eq!(c.due(at(5.0)), (false, Read::Totals));
    }

    #[test]
    fn a_flapping_network_pulls_once_it_has_settled() {
        let mut c = Cadence::new(CadencePolicy::default(), at(0.0));
        c.pulled_in_full(at(0.0), false);
        c.probed(at(0.0), false);
        for m in [1.0, 2.0, 3.5] {
            c.network_lost();
            c.network_back(at(m));
            assert_eq!(c.due(at(m + 1.0)).1, Read::Nothing, "not while it flaps");
        }
        assert_eq!(c.due(at(6.5)).1, Read::Full);
        c.starting(Read::Full);
        c.pulled_in_full(at(6.5), false);
        assert_ne!(c.due(at(7.0)).1, Read::Full, "once");
    }

    #[test]
    fn a_429_with_retry_after_holds_every_read_until_it_has_passed() {
        let mut c = Cadence::new(CadencePolicy::default(), at(0.0));
        c.rate_limited(at(0.0), Some(Duration::from_secs(600)));
        for m in 0..10 {
            c.sync_now();
            assert_eq!(c.due(at(m as f64)).1, Read::Nothing, "a read at minute {m} during Retry-After");
        }
        assert_eq!(c.due(at(10.0)).1, Read::Full);
        assert!(c.next_wake() >= at(10.0));
        // A huge Retry-After is held to a year, not an overflow.
        c.rate_limited(at(10.0), Some(Duration::from_secs(u64::MAX)));
        assert_eq!(c.due(at(11.0)).1, Read::Nothing);
    }

    /// "Sync now" pressed while a full read goes is answered by a full read
    /// after it, not by the one already under way.
    #[test]
    fn sync_now_during_a_run_gets_a_full_read_of_its_own() {
        let mut c = Cadence::new(CadencePolicy::default(), at(0.0));
        c.starting(Read::Full);
        c.sync_now(); // pressed mid-run
        c.pulled_in_full(at(1.0), false);
        assert_eq!(c.due(at(1.0)), (true, Read::Full));
        c.starting(Read::Full);
        c.pulled_in_full(at(2.0), false);
        assert_eq!(c.due(at(2.0)), (false, Read::Nothing));
    }

    /// A working day, a tick a minute: saves while the user is here, lunch
    /// with the window in the background, a flapping network, a restart, and
    /// a 429 with `Retry-After: 600`. Every save is pushed the minute it is
    /// made; no read goes during the hold; a flap reads once it has settled.
    #[test]
    fn a_simulated_day_of_saves_flaps_a_restart_and_a_429() {
        fastrand::seed(7); // the jitter, the same in every run (the assertions hold for any)
        let mut c = Cadence::new(CadencePolicy::default(), at(0.0));
        c.focus(false, at(0.0)); // the night: the window open, nobody at it
        let (mut reads, mut pushes_late, mut read_minutes) = (0, 0, Vec::new());
        let mut saved_at: Option<u32> = None;
        for m in 0..24 * 60u32 {
            let now = at(m as f64);
            match m {
                // Work: focus from 8:00 to 12:00 and 13:00 to 17:00, a save every 10 minutes.
                480 | 780 => c.focus(true, now),
                720 | 1020 => c.focus(false, now),
                600 => c = Cadence::new(CadencePolicy::default(), now), // a restart
                850 => c.rate_limited(now, Some(Duration::from_secs(600))), // 14:10
                905 | 906 | 908 => c.network_lost(),
                _ => {}
            }
            if matches!(m, 905 | 906 | 908) {
                c.network_back(now);
            }
            let working = (480..720).contains(&m) || (780..1020).contains(&m);
            if working && m % 10 == 0 {
                c.saved();
                c.activity(now);
                saved_at = Some(m);
            }
            let (push, read) = c.due(now);
            if push {
                if saved_at.is_some_and(|s| s != m) {
                    pushes_late += 1;
                }
                saved_at = None;
            }
            c.starting(read);
            match read {
                Read::Full => {
                    reads += 1;
                    read_minutes.push(m);
                    c.pulled_in_full(now, false);
                }
                Read::Totals => c.probed(now, false),
                Read::Nothing => {}
            }
        }
        assert_eq!(pushes_late, 0, "a save waited past its minute");
        assert!(read_minutes.iter().all(|m| !(850..860).contains(m)), "a read during Retry-After: {read_minutes:?}");
        assert!(read_minutes.iter().any(|m| (860..=866).contains(m)), "reads resume after the hold: {read_minutes:?}");
        assert!(read_minutes.contains(&600), "a restart reads in full: {read_minutes:?}");
        // The network came back for good at 908: a full read once it settled (911, or the
        // timer's own if it fell from 908 on), not one per flap.
        assert!(read_minutes.iter().any(|m| (908..=911).contains(m)), "{read_minutes:?}");
        let around: Vec<_> = read_minutes.iter().filter(|m| (905..=912).contains(*m)).collect();
        assert!(around.len() <= 2, "{read_minutes:?}");
        // Focused hours read about every 15 minutes, the night and lunch back off: 8 focused hours
        // make about 32, the rest a dozen; the first version read 1,440 times.
        let night = read_minutes.iter().filter(|m| **m < 480).count();
        assert!(night <= 7, "the night backs off to 4 hours: {read_minutes:?}");
        assert!((30..=60).contains(&reads), "{reads} full reads: {read_minutes:?}");
    }

    #[test]
    fn a_changed_total_brings_the_full_pull_forward_and_a_restart_pulls_in_full() {
        let mut c = Cadence::new(CadencePolicy::default(), at(0.0));
        assert_eq!(c.due(at(0.0)).1, Read::Full, "on start");
        c.pulled_in_full(at(0.0), false);
        assert_eq!(c.due(at(5.0)).1, Read::Totals);
        c.probed(at(5.0), true);
        assert_eq!(c.due(at(5.0)).1, Read::Full);
    }
}

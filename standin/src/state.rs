//! The state every handler shares, and the record operations the admin API and library handle share.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use uuid::Uuid;

use crate::Error;
use crate::auth::Auth;
use crate::db::Db;
use crate::envelope::Detail;
use crate::faults::{Decision, Faults};
use crate::model::organization::{self, FieldErrors, Organization};
use crate::model::partner::Partner;
use crate::stats::Counters;

pub(crate) type AppState = Arc<Shared>;

/// `(requester, target)` organization pairs.
pub(crate) type Connections = HashSet<(Uuid, Uuid)>;

pub(crate) struct Shared {
    pub db: Db,
    pub auth: Auth,
    pub stats: Counters,
    /// Canonical partners prefix (`/v1-beta`, or empty).
    pub prefix: String,
    /// `(requester, target)` pairs allowed to read across organizations.
    pub connections: HashSet<(Uuid, Uuid)>,
    /// `(requester, target)` pairs allowed to change and delete the target's partners too.
    pub writable_connections: HashSet<(Uuid, Uuid)>,
    assumed_partner_ops: AtomicBool,
    faults: Mutex<FaultState>,
    /// Idempotency keys whose first request is still running (see `idempotency`).
    pub in_flight: Mutex<HashSet<String>>,
    /// The last filtered, sorted partner list and what it was for (target, query without paging,
    /// partners version), so paging through a large list does not sort it again for every page.
    pub partner_list_cache: Mutex<Option<(String, Arc<Vec<Partner>>)>>,
}

struct FaultState {
    faults: Faults,
    rng: fastrand::Rng,
}

/// Locks a std mutex, ignoring poisoning: the guarded data stays consistent (plain values).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn detail_text(details: Vec<Detail>) -> Error {
    let parts: Vec<String> = details
        .iter()
        .map(|d| {
            let field = d.loc.iter().skip(1).map(|l| l.to_string().trim_matches('"').to_owned()).collect::<Vec<_>>();
            format!("{}: {}", field.join("."), d.msg)
        })
        .collect();
    Error::Invalid(parts.join("; "))
}

fn field_text(errors: FieldErrors) -> Error {
    let parts: Vec<String> =
        errors.iter().map(|(field, messages)| format!("{field}: {}", messages.join(" "))).collect();
    Error::Invalid(parts.join("; "))
}

impl Shared {
    pub fn new(
        db: Db,
        auth: Auth,
        prefix: String,
        (connections, writable_connections): (Connections, Connections),
        assumed_partner_ops: bool,
        faults: Faults,
        seed: u64,
    ) -> Self {
        Self {
            db,
            auth,
            stats: Counters::default(),
            prefix,
            connections,
            writable_connections,
            assumed_partner_ops: AtomicBool::new(assumed_partner_ops),
            faults: Mutex::new(FaultState { faults, rng: fastrand::Rng::with_seed(seed) }),
            in_flight: Mutex::new(HashSet::new()),
            partner_list_cache: Mutex::new(None),
        }
    }

    pub fn faults(&self) -> Faults {
        lock(&self.faults).faults.clone()
    }

    /// Replaces the faults; `expire_tokens_now` is carried out here and not kept.
    pub fn set_faults(&self, mut faults: Faults) {
        if faults.expire_tokens_now {
            self.auth.expire_all();
            faults.expire_tokens_now = false;
        }
        lock(&self.faults).faults = faults;
    }

    /// The faults in force and this request's draw, taken under one lock so draws stay in sequence.
    pub fn draw_faults(&self, token_route: bool) -> (Faults, Decision) {
        let mut state = lock(&self.faults);
        let FaultState { faults, rng } = &mut *state;
        let decision = Decision::draw(faults, rng, token_route);
        (faults.clone(), decision)
    }

    /// The token lifetime for tokens issued now: the fault override, else the configured one.
    pub fn token_ttl(&self) -> u64 {
        lock(&self.faults).faults.token_ttl_secs.unwrap_or(self.auth.default_ttl)
    }

    pub fn assumed_partner_ops(&self) -> bool {
        self.assumed_partner_ops.load(Ordering::Relaxed)
    }

    pub fn set_assumed_partner_ops(&self, on: bool) {
        self.assumed_partner_ops.store(on, Ordering::Relaxed);
    }

    pub fn all_partners(&self) -> Result<Vec<Value>, Error> {
        Ok(self.db.partners(None)?.iter().map(Partner::admin_json).collect())
    }

    pub fn all_organizations(&self) -> Result<Vec<Value>, Error> {
        Ok(self.db.organizations()?.iter().map(Organization::json).collect())
    }

    /// Another user's edit of a partner; `Ok(None)` when there is no such partner.
    pub fn edit_partner(&self, id: Uuid, changes: &Value) -> Result<Option<Value>, Error> {
        let Some(mut partner) = self.db.partner(id)? else { return Ok(None) };
        partner.apply_changes(changes).map_err(detail_text)?;
        if !self.db.update_partner(&mut partner)? {
            return Ok(None);
        }
        self.stats.count_admin_write();
        Ok(Some(partner.admin_json()))
    }

    pub fn delete_partner(&self, id: Uuid) -> Result<bool, Error> {
        let deleted = self.db.delete_partner(id)?;
        if deleted {
            self.stats.count_admin_write();
        }
        Ok(deleted)
    }

    /// Another user's create: the six body fields, optionally `invitation_status`/`guest_organization_id`.
    pub fn insert_partner(&self, org_id: Uuid, fields: &Value) -> Result<Value, Error> {
        let mut partner = Partner::from_admin(org_id, fields).map_err(detail_text)?;
        self.db.insert_partner(&mut partner)?;
        self.stats.count_admin_write();
        Ok(partner.admin_json())
    }

    pub fn edit_organization(&self, id: &str, changes: &Value) -> Result<Option<Value>, Error> {
        let Some(mut org) = self.db.organization(id)? else { return Ok(None) };
        org.apply_changes(changes).map_err(field_text)?;
        if !self.db.update_organization(&mut org)? {
            return Ok(None);
        }
        self.stats.count_admin_write();
        Ok(Some(org.json()))
    }

    pub fn delete_organization(&self, id: &str) -> Result<bool, Error> {
        let deleted = self.db.delete_organization(id)?;
        if deleted {
            self.stats.count_admin_write();
        }
        Ok(deleted)
    }

    /// Another user's create, with a POST body (`id` included); `linkedTo` may be given too.
    pub fn insert_organization(&self, body: &Value) -> Result<Value, Error> {
        let (id, fields) = organization::validate_create(body).map_err(field_text)?;
        let mut org = Organization::new(id, fields);
        org.linked_to = body.get("linkedTo").and_then(Value::as_str).map(str::to_owned);
        if !self.db.insert_organization(&mut org)? {
            return Err(Error::Invalid(format!("id: organization {:?} already exists", org.id)));
        }
        self.stats.count_admin_write();
        Ok(org.json())
    }
}

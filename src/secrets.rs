//! Credentials (client secret, API key) live in the OS keychain, never in
//! SQLite, logs or exports. A small trait so tests and keychain-less machines
//! use an in-memory store instead.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

/// The secrets Partnerbook keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretName {
    /// OAuth2 client secret for the partners API.
    PartnersClientSecret,
    /// `apiKey` for the organizations API.
    OrganizationsApiKey,
}

impl SecretName {
    pub fn as_str(self) -> &'static str {
        match self {
            SecretName::PartnersClientSecret => "partners-client-secret",
            SecretName::OrganizationsApiKey => "organizations-api-key",
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum SecretError {
    #[error(
        "No keychain is available on this computer ({0}). Secrets cannot be saved; Partnerbook keeps working offline."
    )]
    Unavailable(String),
    #[error("The keychain refused the request: {0}")]
    Keychain(String),
}

/// Whether secrets can be kept, in words for the settings screen.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Availability {
    pub available: bool,
    pub message: String,
}

pub trait SecretStore: Send + Sync {
    fn get(&self, name: SecretName) -> Result<Option<String>, SecretError>;
    fn set(&self, name: SecretName, value: &str) -> Result<(), SecretError>;
    fn delete(&self, name: SecretName) -> Result<(), SecretError>;
    fn availability(&self) -> Availability;
}

/// Secrets in memory only: for tests, and for a session on a machine without a keychain.
#[derive(Default)]
pub struct MemorySecrets {
    values: Mutex<HashMap<SecretName, String>>,
}

impl fmt::Debug for MemorySecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MemorySecrets(..)") // never print the values
    }
}

impl SecretStore for MemorySecrets {
    fn get(&self, name: SecretName) -> Result<Option<String>, SecretError> {
        Ok(self.values.lock().expect("not poisoned").get(&name).cloned())
    }
    fn set(&self, name: SecretName, value: &str) -> Result<(), SecretError> {
        self.values.lock().expect("not poisoned").insert(name, value.to_string());
        Ok(())
    }
    fn delete(&self, name: SecretName) -> Result<(), SecretError> {
        self.values.lock().expect("not poisoned").remove(&name);
        Ok(())
    }
    fn availability(&self) -> Availability {
        Availability { available: true, message: "Secrets are kept in memory for this session only.".into() }
    }
}

/// Any secret store, read once: the window's status bar asks for the sync
/// settings every few seconds, and a locked keyring answers a read with an
/// unlock prompt, so reading it each time prompted every 5 s. A value (or
/// the keychain's refusal) is kept until a save or removal through this
/// store, or [`CachedSecrets::forget`] (Settings opened or saved).
pub struct CachedSecrets<S> {
    inner: S,
    values: Mutex<HashMap<SecretName, Result<Option<String>, SecretError>>>,
    availability: Mutex<Option<Availability>>,
}

impl<S> fmt::Debug for CachedSecrets<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CachedSecrets(..)") // never print the values
    }
}

impl<S: SecretStore> CachedSecrets<S> {
    pub fn new(inner: S) -> Self {
        CachedSecrets { inner, values: Mutex::default(), availability: Mutex::default() }
    }

    /// Reads everything afresh at the next use.
    pub fn forget(&self) {
        self.values.lock().unwrap_or_else(|e| e.into_inner()).clear();
        *self.availability.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl<S: SecretStore> SecretStore for CachedSecrets<S> {
    fn get(&self, name: SecretName) -> Result<Option<String>, SecretError> {
        let mut values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        values.entry(name).or_insert_with(|| self.inner.get(name)).clone()
    }
    fn set(&self, name: SecretName, value: &str) -> Result<(), SecretError> {
        let outcome = self.inner.set(name, value);
        self.forget();
        outcome
    }
    fn delete(&self, name: SecretName) -> Result<(), SecretError> {
        let outcome = self.inner.delete(name);
        self.forget();
        outcome
    }
    fn availability(&self) -> Availability {
        let mut known = self.availability.lock().unwrap_or_else(|e| e.into_inner());
        known.get_or_insert_with(|| self.inner.availability()).clone()
    }
}

/// The OS keychain (Secret Service on Linux, Keychain on macOS, Credential Manager on Windows).
#[cfg(feature = "keychain")]
#[derive(Debug)]
pub struct KeychainSecrets {
    /// The keychain's service name: the app's identifier (tests use one of their own).
    service: String,
}

#[cfg(feature = "keychain")]
impl Default for KeychainSecrets {
    fn default() -> Self {
        KeychainSecrets::for_service(crate::paths::APP_IDENTIFIER)
    }
}

#[cfg(feature = "keychain")]
impl KeychainSecrets {
    /// Secrets under another service name than the app's, so a test never touches the user's.
    pub fn for_service(service: &str) -> Self {
        KeychainSecrets { service: service.to_string() }
    }

    fn entry(&self, name: SecretName) -> Result<keyring::Entry, SecretError> {
        keyring::Entry::new(&self.service, name.as_str()).map_err(Self::map)
    }

    fn map(e: keyring::Error) -> SecretError {
        match e {
            keyring::Error::NoStorageAccess(_)
            | keyring::Error::PlatformFailure(_)
            | keyring::Error::NoDefaultStore => SecretError::Unavailable(e.to_string()),
            other => SecretError::Keychain(other.to_string()),
        }
    }
}

#[cfg(feature = "keychain")]
impl SecretStore for KeychainSecrets {
    fn get(&self, name: SecretName) -> Result<Option<String>, SecretError> {
        match self.entry(name)?.get_password() {
            Ok(v) => Ok(Some(v)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(Self::map(e)),
        }
    }
    fn set(&self, name: SecretName, value: &str) -> Result<(), SecretError> {
        self.entry(name)?.set_password(value).map_err(Self::map)
    }
    fn delete(&self, name: SecretName) -> Result<(), SecretError> {
        match self.entry(name)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(Self::map(e)),
        }
    }
    fn availability(&self) -> Availability {
        // A read shows whether a keychain service actually answers (on Linux the
        // store can initialise while no Secret Service daemon runs).
        match keyring::Entry::store_status()
            .as_ref()
            .map_err(|e| e.to_string())
            .and_then(|_| self.get(SecretName::PartnersClientSecret).map_err(|e| e.to_string()))
        {
            Ok(_) => Availability { available: true, message: "Secrets are kept in the system keychain.".into() },
            Err(reason) => Availability {
                available: false,
                message: format!(
                    "No system keychain is available ({reason}). Secrets cannot be saved, so sync stays off; \
                     everything else works offline."
                ),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts the reads that reach the store behind the cache.
    #[derive(Default)]
    struct Counting {
        inner: MemorySecrets,
        reads: std::sync::atomic::AtomicUsize,
    }

    impl SecretStore for Counting {
        fn get(&self, name: SecretName) -> Result<Option<String>, SecretError> {
            self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.inner.get(name)
        }
        fn set(&self, name: SecretName, value: &str) -> Result<(), SecretError> {
            self.inner.set(name, value)
        }
        fn delete(&self, name: SecretName) -> Result<(), SecretError> {
            self.inner.delete(name)
        }
        fn availability(&self) -> Availability {
            self.get(SecretName::PartnersClientSecret).ok();
            self.inner.availability()
        }
    }

    #[test]
    fn the_keychain_is_read_once_until_a_save_or_forget() {
        let cached = CachedSecrets::new(Counting::default());
        let reads = |c: &CachedSecrets<Counting>| c.inner.reads.load(std::sync::atomic::Ordering::SeqCst);
        for _ in 0..100 {
            assert_eq!(cached.get(SecretName::PartnersClientSecret).unwrap(), None);
            cached.availability();
        }
        assert_eq!(reads(&cached), 2, "one read for the value, one for the availability check");
        cached.set(SecretName::PartnersClientSecret, "s3cret").unwrap();
        assert_eq!(cached.get(SecretName::PartnersClientSecret).unwrap().as_deref(), Some("s3cret"));
        assert_eq!(reads(&cached), 3, "a save is read back afresh");
        cached.forget();
        cached.get(SecretName::PartnersClientSecret).unwrap();
        assert_eq!(reads(&cached), 4);
        assert!(!format!("{cached:?}").contains("s3cret"));
    }

    #[test]
    fn memory_secrets_round_trip_and_never_print() {
        let s = MemorySecrets::default();
        assert_eq!(s.get(SecretName::OrganizationsApiKey).unwrap(), None);
        s.set(SecretName::OrganizationsApiKey, "k-123").unwrap();
        assert_eq!(s.get(SecretName::OrganizationsApiKey).unwrap().as_deref(), Some("k-123"));
        assert!(!format!("{s:?}").contains("k-123"));
        s.delete(SecretName::OrganizationsApiKey).unwrap();
        assert_eq!(s.get(SecretName::OrganizationsApiKey).unwrap(), None);
    }

    /// The platform's real keychain (Credential Manager, macOS Keychain),
    /// under a service name of the test's own: a secret is kept, read back,
    /// replaced and removed. Built where the release workflow runs the core's
    /// tests on those systems; Linux's Secret Service needs a desktop
    /// session's daemon, which the test machines here do not run.
    #[cfg(all(feature = "keychain", any(target_os = "windows", target_os = "macos")))]
    #[test]
    fn the_platform_keychain_keeps_replaces_and_removes_a_secret() {
        let service = format!("{}.test-{}", crate::paths::APP_IDENTIFIER, uuid::Uuid::now_v7());
        let keychain = KeychainSecrets::for_service(&service);
        let name = SecretName::OrganizationsApiKey;
        assert!(keychain.availability().available, "{:?}", keychain.availability());
        assert_eq!(keychain.get(name).unwrap(), None);
        keychain.set(name, "first-key").unwrap();
        assert_eq!(keychain.get(name).unwrap().as_deref(), Some("first-key"));
        keychain.set(name, "second-key ünïcode").unwrap();
        assert_eq!(keychain.get(name).unwrap().as_deref(), Some("second-key ünïcode"));
        keychain.delete(name).unwrap();
        assert_eq!(keychain.get(name).unwrap(), None);
        keychain.delete(name).unwrap();
    }
}

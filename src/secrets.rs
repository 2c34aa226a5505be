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

#[derive(Debug, thiserror::Error)]
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

/// The OS keychain (Secret Service on Linux, Keychain on macOS, Credential Manager on Windows).
#[cfg(feature = "keychain")]
#[derive(Debug, Default)]
pub struct KeychainSecrets;

#[cfg(feature = "keychain")]
impl KeychainSecrets {
    const SERVICE: &'static str = crate::paths::APP_IDENTIFIER;

    fn entry(name: SecretName) -> Result<keyring::Entry, SecretError> {
        keyring::Entry::new(Self::SERVICE, name.as_str()).map_err(Self::map)
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
        match Self::entry(name)?.get_password() {
            Ok(v) => Ok(Some(v)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(Self::map(e)),
        }
    }
    fn set(&self, name: SecretName, value: &str) -> Result<(), SecretError> {
        Self::entry(name)?.set_password(value).map_err(Self::map)
    }
    fn delete(&self, name: SecretName) -> Result<(), SecretError> {
        match Self::entry(name)?.delete_credential() {
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
}

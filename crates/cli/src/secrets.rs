//! The access key's secret lives in the OS keyring (macOS Keychain, Windows Credential Manager, the Secret
//! Service on a Linux desktop). Where there is none (a headless Linux box, WSL, a container) it goes to a
//! file readable by its owner only and encrypted (crate::vault), and the person is told so.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store;
use crate::vault::{self, Vault};

const SERVICE: &str = "onboarding";

#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessKey {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AccessKey({}, <redacted>)", self.access_key_id)
    }
}

/// Where a secret was put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    Keyring,
    File(PathBuf),
}

pub struct KeyStore {
    entry: Option<keyring::Entry>,
    file: PathBuf,
    legacy_file: Option<PathBuf>,
    vault: Vault,
}

impl KeyStore {
    /// The store for one profile: keyring entry `onboarding`/`<profile>`, fallback file `keys/<profile>`
    /// in the state directory (`keys/<profile>.json` in the config directory before the vault).
    pub fn open(profile: &str) -> Result<KeyStore> {
        Ok(KeyStore {
            legacy_file: Some(store::path(&format!("keys/{profile}.json"))?),
            ..KeyStore::with_entry(
                keyring::Entry::new(SERVICE, profile).ok(),
                store::state_path(&format!("keys/{profile}"))?,
                vault::this_process()?,
            )
        })
    }

    /// A store over a given entry (tests give one from keyring's mock builder), fallback file and vault.
    pub fn with_entry(entry: Option<keyring::Entry>, file: PathBuf, vault: Vault) -> KeyStore {
        KeyStore {
            entry,
            file,
            legacy_file: None,
            vault,
        }
    }

    pub fn save(&self, key: &AccessKey) -> Result<Stored> {
        let json = serde_json::to_string(key).map_err(|e| Error::Input(e.to_string()))?;
        if let Some(entry) = &self.entry {
            match entry.set_password(&json) {
                Ok(()) => {
                    // A secret from an earlier fallback must not shadow the new one.
                    store::remove(&self.file)?;
                    if let Some(legacy) = &self.legacy_file {
                        store::remove(legacy)?;
                    }
                    return Ok(Stored::Keyring);
                }
                Err(keyring::Error::NoStorageAccess(_) | keyring::Error::PlatformFailure(_)) => {}
                Err(e) => return Err(Error::Input(format!("keyring: {e}"))),
            }
        }
        self.vault.write(&self.file, key)?;
        Ok(Stored::File(self.file.clone()))
    }

    pub fn load(&self) -> Result<Option<AccessKey>> {
        let in_file = match &self.legacy_file {
            Some(legacy) => self.vault.read_or_move(&self.file, legacy)?,
            None => self.vault.read(&self.file)?,
        };
        if let Some(key) = in_file {
            return Ok(Some(key));
        }
        let Some(entry) = &self.entry else {
            return Ok(None);
        };
        match entry.get_password() {
            Ok(json) => serde_json::from_str(&json)
                .map(Some)
                .map_err(|e| Error::Corrupt {
                    path: PathBuf::from(format!("keyring entry {SERVICE}")),
                    message: e.to_string(),
                }),
            Err(
                keyring::Error::NoEntry
                | keyring::Error::NoStorageAccess(_)
                | keyring::Error::PlatformFailure(_),
            ) => Ok(None),
            Err(e) => Err(Error::Input(format!("keyring: {e}"))),
        }
    }

    /// Removes the secret wherever it is; returns whether there was one.
    pub fn delete(&self) -> Result<bool> {
        let in_legacy_file = match &self.legacy_file {
            Some(legacy) => store::remove(legacy)?,
            None => false,
        };
        let in_file = store::remove(&self.file)? || in_legacy_file;
        let in_keyring = self
            .entry
            .as_ref()
            .is_some_and(|e| e.delete_credential().is_ok());
        Ok(in_file || in_keyring)
    }
}

/// The identity a new secret is encrypted to on its way here (`encrypt_to`): made for one request and
/// never stored, so the secret is readable only by this process, whatever sits between it and the API.
pub struct Receiver(#[allow(deprecated)] age::x25519::Identity);

impl Default for Receiver {
    fn default() -> Receiver {
        #[allow(deprecated)]
        // X25519: the kind `encrypt_to` takes (the page's JavaScript makes no other)
        Receiver(age::x25519::Identity::generate())
    }
}

impl Receiver {
    /// What the request's `encrypt_to` names.
    pub fn recipient(&self) -> String {
        self.0.to_public().to_string()
    }

    /// The access key in an answer (`/access_key`): its sealed secret opened. `None` when the answer holds
    /// no secret (a replay).
    pub fn key_in(&self, answer: &serde_json::Value) -> Result<Option<AccessKey>> {
        let key = |field: &str| {
            answer
                .pointer(&format!("/access_key/{field}"))
                .and_then(serde_json::Value::as_str)
        };
        let (Some(id), Some(sealed)) = (key("access_key_id"), key("secret_access_key_age")) else {
            return Ok(None);
        };
        let refused = |message: String| Error::Protocol("the API".into(), message);
        let decryptor = age::Decryptor::new(age::armor::ArmoredReader::new(sealed.as_bytes()))
            .map_err(|e| refused(format!("secret_access_key_age is not an age file: {e}")))?;
        let mut reader = decryptor
            .decrypt(std::iter::once(&self.0 as &dyn age::Identity))
            .map_err(|e| {
                refused(format!(
                    "secret_access_key_age is not for this request: {e}"
                ))
            })?;
        let mut secret = String::new();
        std::io::Read::read_to_string(&mut reader, &mut secret)
            .map_err(|e| refused(format!("secret_access_key_age: {e}")))?;
        Ok(Some(AccessKey {
            access_key_id: id.to_string(),
            secret_access_key: secret,
        }))
    }
}

//! Secrets at rest: the sign-in tokens, the day's MFA session, role sessions and, where there is no OS
//! keyring, the access key's secret. Each is a file encrypted with age to one key per person on this
//! machine, "the file key" (age's hybrid post-quantum kind, which age 0.13 makes its default: these files
//! may sit in a backup for years). The file key lives in the OS keyring; where there is none (a headless
//! Linux box, WSL, a container) it is itself a file, encrypted with a passphrase (age's scrypt), as
//! aws-vault's `file` backend: `ONBOARDING_FILE_PASSPHRASE`, or asked on the terminal. Plaintext only with
//! `--insecure-plaintext-store`, which the person states on every run and is warned about on every run.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use age::pq;
use age::secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::store;

pub const PASSPHRASE_VARIABLE: &str = "ONBOARDING_FILE_PASSPHRASE";
const KEYRING_SERVICE: &str = "onboarding";
const KEYRING_FILE_KEY: &str = "file-key";
/// How every age file begins; anything else is a plaintext file.
const AGE_HEADER: &[u8] = b"age-encryption.org/v1\n";
/// scrypt's cost for the passphrase-wrapped file key, N = 2^17 (128 MiB, about 0.3 s here): paid once per
/// command, by every `credential_process` call. age's own default aims at a second, which Terraform's
/// parallel providers would each wait for.
const PASSPHRASE_WORK_FACTOR: u8 = 17;
/// The most scrypt work a key file may ask of us: a planted file cannot make a command run for hours.
const MAX_WORK_FACTOR: u8 = 20;

/// Where secrets go, and how. Cheap to clone; the file key is unlocked once, at first use.
#[derive(Clone)]
pub struct Vault(Arc<Inner>);

struct Inner {
    plaintext: bool,
    key_file: PathBuf,
    use_keyring: bool,
    passphrase: Option<SecretString>,
    file_key: Mutex<Option<pq::Identity>>,
}

static PLAINTEXT: OnceLock<bool> = OnceLock::new();
static THIS_PROCESS: OnceLock<Vault> = OnceLock::new();

/// Chooses, once, how this process stores secrets; `main` calls it with `--insecure-plaintext-store`.
/// Nothing is opened until a secret is read or written (`completions` needs no home directory).
pub fn choose(plaintext: bool) {
    if plaintext {
        eprintln!(
            "warning: --insecure-plaintext-store: sign-in tokens, sessions and (without a keyring) the \
             access key's secret are written unencrypted"
        );
    }
    let _ = PLAINTEXT.set(plaintext);
}

/// The vault this process chose; encrypted when nothing chose.
pub fn this_process() -> Result<Vault> {
    if let Some(vault) = THIS_PROCESS.get() {
        return Ok(vault.clone());
    }
    let vault = Vault::for_this_user(PLAINTEXT.get().copied().unwrap_or(false))?;
    Ok(THIS_PROCESS.get_or_init(|| vault).clone())
}

impl Vault {
    /// The person's vault: the file key in the OS keyring, else in `<state dir>/file-key.age`.
    pub fn for_this_user(plaintext: bool) -> Result<Vault> {
        Ok(Vault::new(
            plaintext,
            store::state_path("file-key.age")?,
            true,
            None,
        ))
    }

    /// A vault whose file key is in `key_file` under `passphrase`, as on a machine without a keyring.
    pub fn with_passphrase(key_file: PathBuf, passphrase: &str) -> Vault {
        Vault::new(false, key_file, false, Some(passphrase.to_string().into()))
    }

    fn new(
        plaintext: bool,
        key_file: PathBuf,
        use_keyring: bool,
        passphrase: Option<SecretString>,
    ) -> Vault {
        Vault(Arc::new(Inner {
            plaintext,
            key_file,
            use_keyring,
            passphrase,
            file_key: Mutex::new(None),
        }))
    }

    pub fn is_plaintext(&self) -> bool {
        self.0.plaintext
    }

    pub fn write<T: Serialize>(&self, path: &Path, value: &T) -> Result<()> {
        let json = serde_json::to_vec(value).map_err(|e| Error::Corrupt {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        if self.0.plaintext {
            return store::write_private(path, &json);
        }
        let sealed = age::encrypt(&self.file_key()?.to_public(), &json)
            .map_err(|e| Error::Input(format!("encrypting {}: {e}", path.display())))?;
        store::write_private(path, &sealed)
    }

    /// `None` when there is no file. A plaintext file (from an older CLI, or a run with
    /// `--insecure-plaintext-store`) is read and, unless this run is plaintext too, encrypted in place.
    pub fn read<T: Serialize + DeserializeOwned>(&self, path: &Path) -> Result<Option<T>> {
        let Some(bytes) = store::read_bytes(path)? else {
            return Ok(None);
        };
        if bytes.starts_with(AGE_HEADER) {
            let json = age::decrypt(&self.file_key()?, &bytes).map_err(|e| Error::Corrupt {
                path: path.to_path_buf(),
                message: format!(
                    "it cannot be decrypted with this machine's file key ({e}); `onboarding logout` \
                     removes it"
                ),
            })?;
            return parse(path, &json).map(Some);
        }
        let value: T = parse(path, &bytes)?;
        if !self.0.plaintext {
            self.write(path, &value)?;
        }
        Ok(Some(value))
    }

    /// [`Vault::read`] of `path`, else of `legacy` (where an older CLI kept it, in plaintext), which is
    /// then moved to `path`, encrypted.
    pub fn read_or_move<T: Serialize + DeserializeOwned>(
        &self,
        path: &Path,
        legacy: &Path,
    ) -> Result<Option<T>> {
        if let Some(value) = self.read(path)? {
            return Ok(Some(value));
        }
        let Some(value) = self.read::<T>(legacy)? else {
            return Ok(None);
        };
        self.write(path, &value)?;
        store::remove(legacy)?;
        Ok(Some(value))
    }

    /// The file key: unlocked once per process. One process at a time makes it, so that two first
    /// commands run together (Terraform's providers) never make two keys and lose each other's files.
    fn file_key(&self) -> Result<pq::Identity> {
        let mut unlocked = self
            .0
            .file_key
            .lock()
            .map_err(|_| Error::Input("the file key's lock was poisoned".into()))?;
        if let Some(key) = unlocked.as_ref() {
            return Ok(key.clone());
        }
        let _one_at_a_time = store::lock(&self.0.key_file.with_extension("lock"))?;
        let key = if self.0.key_file.exists() {
            self.unwrap_key_file()?
        } else if let Some(key) = self.keyring_key()? {
            key
        } else {
            self.new_key_file()?
        };
        *unlocked = Some(key.clone());
        Ok(key)
    }

    /// The key in the OS keyring, made there if absent; `None` when there is no keyring to hold it.
    fn keyring_key(&self) -> Result<Option<pq::Identity>> {
        if !self.0.use_keyring {
            return Ok(None);
        }
        let Ok(entry) = keyring::Entry::new(KEYRING_SERVICE, KEYRING_FILE_KEY) else {
            return Ok(None);
        };
        match entry.get_password() {
            Ok(text) => text
                .trim()
                .parse::<pq::Identity>()
                .map(Some)
                .map_err(|e| Error::Corrupt {
                    path: PathBuf::from(format!(
                        "keyring entry {KEYRING_SERVICE}/{KEYRING_FILE_KEY}"
                    )),
                    message: e.to_string(),
                }),
            Err(keyring::Error::NoEntry) => {
                let key = pq::Identity::generate();
                match entry.set_password(key.to_string().expose_secret()) {
                    Ok(()) => Ok(Some(key)),
                    Err(e) if no_keyring(&e) => Ok(None),
                    Err(e) => Err(Error::Input(format!("keyring: {e}"))),
                }
            }
            Err(e) if no_keyring(&e) => Ok(None),
            Err(e) => Err(Error::Input(format!("keyring: {e}"))),
        }
    }

    fn unwrap_key_file(&self) -> Result<pq::Identity> {
        let path = &self.0.key_file;
        let sealed = store::read_bytes(path)?.unwrap_or_default();
        let mut identity = age::scrypt::Identity::new(self.passphrase(false)?);
        identity.set_max_work_factor(MAX_WORK_FACTOR);
        let text = age::decrypt(&identity, &sealed).map_err(|e| match e {
            age::DecryptError::DecryptionFailed | age::DecryptError::NoMatchingKeys => {
                Error::WrongPassphrase(path.clone())
            }
            other => Error::Corrupt {
                path: path.clone(),
                message: other.to_string(),
            },
        })?;
        String::from_utf8_lossy(&text)
            .trim()
            .parse()
            .map_err(|e: &str| Error::Corrupt {
                path: path.clone(),
                message: e.to_string(),
            })
    }

    fn new_key_file(&self) -> Result<pq::Identity> {
        eprintln!(
            "No OS keyring here: onboarding's files are encrypted with a passphrase you choose \
             ({PASSPHRASE_VARIABLE}, or typed here)."
        );
        let mut recipient = age::scrypt::Recipient::new(self.passphrase(true)?);
        recipient.set_work_factor(PASSPHRASE_WORK_FACTOR);
        let key = pq::Identity::generate();
        let sealed = age::encrypt(&recipient, key.to_string().expose_secret().as_bytes())
            .map_err(|e| Error::Input(format!("encrypting the file key: {e}")))?;
        store::write_private(&self.0.key_file, &sealed)?;
        Ok(key)
    }

    /// The passphrase: given, from `ONBOARDING_FILE_PASSPHRASE`, or typed (twice when it is new).
    fn passphrase(&self, new: bool) -> Result<SecretString> {
        if let Some(passphrase) = &self.0.passphrase {
            return Ok(passphrase.clone());
        }
        if let Ok(passphrase) = std::env::var(PASSPHRASE_VARIABLE)
            && !passphrase.is_empty()
        {
            return Ok(passphrase.into());
        }
        let asked = if new {
            "A passphrase for onboarding's files: "
        } else {
            "The passphrase for onboarding's files: "
        };
        let Ok(passphrase) = rpassword::prompt_password(asked) else {
            return Err(Error::NoPassphrase);
        };
        if passphrase.is_empty() {
            return Err(Error::Input("an empty passphrase protects nothing".into()));
        }
        if new && rpassword::prompt_password("The same again: ").ok() != Some(passphrase.clone()) {
            return Err(Error::Input("the two passphrases differ".into()));
        }
        Ok(passphrase.into())
    }
}

/// A keyring that cannot be reached (no Secret Service on a headless box) rather than one that refused.
fn no_keyring(e: &keyring::Error) -> bool {
    matches!(
        e,
        keyring::Error::NoStorageAccess(_) | keyring::Error::PlatformFailure(_)
    )
}

fn parse<T: DeserializeOwned>(path: &Path, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::Corrupt {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

//! `encrypt_to`: a caller may name an age X25519 recipient (`age1…`), and the new access key's secret is
//! then answered encrypted to it (ASCII-armored) instead of in plain text, so that it is readable only
//! where the matching identity lives: a browser tab that made one for this request, or the CLI. TLS
//! still protects the answer; this keeps the secret out of everything between the function and that
//! holder (a TLS-terminating proxy, a browser extension reading responses, a HAR file).

use std::str::FromStr;

use crate::error::{Error, Result};
use crate::secret::Secret;

/// X25519, the kind the page makes with the age JavaScript library and `age-keygen` prints; age
/// 0.13 marks it deprecated in favour of its post-quantum hybrid, which those clients do not all make yet.
#[derive(Clone)]
#[allow(deprecated)]
pub struct SecretRecipient(age::x25519::Recipient);

impl std::fmt::Debug for SecretRecipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretRecipient({})", self.0)
    }
}

impl SecretRecipient {
    /// Checked with the request, before any AWS call: a recipient nobody could decrypt for would make a
    /// secret that reaches nobody.
    #[allow(deprecated)]
    pub fn parse(text: &str) -> Result<SecretRecipient> {
        age::x25519::Recipient::from_str(text.trim())
            .map(SecretRecipient)
            .map_err(|reason| {
                Error::InvalidRecipient(format!(
                    "encrypt_to must be an age X25519 recipient (age1…): {reason}"
                ))
            })
    }

    /// The secret, age-encrypted to this recipient and armored (`-----BEGIN AGE ENCRYPTED FILE-----`).
    pub fn seal(&self, secret: &Secret) -> Result<String> {
        age::encrypt_and_armor(&self.0, secret.expose().as_bytes())
            .map_err(|error| Error::aws("age::encrypt", error, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_with_the_recipients_identity() {
        #[allow(deprecated)] // the page's identities are X25519: the age JavaScript library's kind
        let identity = age::x25519::Identity::generate();
        let recipient = SecretRecipient::parse(&identity.to_public().to_string()).unwrap();
        let sealed = recipient
            .seal(&Secret::new("wJalrXUtnFEMI/K7MDENG"))
            .unwrap();
        assert!(sealed.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
        assert!(!sealed.contains("wJalrXUtnFEMI"));
        let armored = age::armor::ArmoredReader::new(sealed.as_bytes());
        let decryptor = age::Decryptor::new(armored).unwrap();
        let mut reader = decryptor
            .decrypt(std::iter::once(&identity as &dyn age::Identity))
            .unwrap();
        let mut opened = String::new();
        std::io::Read::read_to_string(&mut reader, &mut opened).unwrap();
        assert_eq!(opened, "wJalrXUtnFEMI/K7MDENG");
    }

    #[test]
    fn anything_but_an_x25519_recipient_is_refused() {
        for text in [
            "",
            "age1",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
            "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ",
        ] {
            let refused = SecretRecipient::parse(text).unwrap_err();
            assert_eq!(refused.code(), "invalid_recipient", "{text:?}");
        }
    }
}

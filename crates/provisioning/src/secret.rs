//! Secrets (an access key's secret, an MFA seed and what encodes it) in a type that cannot be logged by
//! accident: `Debug` prints a placeholder, and there is no `Display`. The one way out is the response
//! body, through `Serialize`, or `expose()` where the value is used.

use std::fmt;

use serde::{Serialize, Serializer};

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Only response bodies are serialised with a secret in them; logs and events are built from other types.
impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_and_serialize_exposes() {
        let secret = Secret::new("wJalrXUtnFEMI/K7MDENG");
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
        assert_eq!(
            format!("{:?}", Some(vec![secret.clone()])),
            "Some([Secret(<redacted>)])"
        );
        assert_eq!(
            serde_json::to_string(&secret).unwrap(),
            "\"wJalrXUtnFEMI/K7MDENG\""
        );
    }
}

//! The bearer JWT check of API Gateway's HTTP API JWT authorizer: the signing key is found by `kid` in
//! the JWKS the issuer's discovery document names; the algorithm is RSA (the only family API Gateway
//! accepts); `iss` is the configured issuer; `aud`, or `client_id` when there is no `aud`, is one of the
//! configured audiences; `exp` is after now, `nbf` and `iat` (when present) not after now. `token_use`,
//! which Cognito puts in its tokens, must be `id` or `access` where present.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::sync::RwLock;

/// The claims of an accepted token, as the token holds them.
pub type Claims = Map<String, Value>;

/// Why a request was refused. The caller sees only API Gateway's `{"message":"Unauthorized"}`; the code
/// goes to the log and the `WWW-Authenticate` header, so that a client can tell an expired token (sign in
/// again or refresh) from a misconfiguration.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    #[error("no bearer token in the Authorization header")]
    MissingToken,
    #[error("the token is not a JWT")]
    Malformed,
    #[error("the token's algorithm is not an RSA signature")]
    UnsupportedAlgorithm,
    #[error("the token's kid names no key of the issuer")]
    UnknownKey,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued in the future")]
    IssuedInFuture,
    #[error("the token is from another issuer")]
    WrongIssuer,
    #[error("the token is for another audience")]
    WrongAudience,
    #[error("the token's token_use is neither id nor access")]
    WrongTokenUse,
    #[error("the issuer's keys could not be read: {0}")]
    KeysUnavailable(String),
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::MissingToken => "missing_token",
            Refusal::Malformed => "malformed_token",
            Refusal::UnsupportedAlgorithm => "unsupported_algorithm",
            Refusal::UnknownKey => "unknown_key",
            Refusal::BadSignature => "bad_signature",
            Refusal::Expired => "expired",
            Refusal::NotYetValid => "not_yet_valid",
            Refusal::IssuedInFuture => "issued_in_future",
            Refusal::WrongIssuer => "wrong_issuer",
            Refusal::WrongAudience => "wrong_audience",
            Refusal::WrongTokenUse => "wrong_token_use",
            Refusal::KeysUnavailable(_) => "keys_unavailable",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("could not read {url}: {source}")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the discovery document names issuer {found:?}, not {expected:?}")]
    IssuerMismatch { expected: String, found: String },
}

#[derive(Deserialize)]
struct DiscoveryDocument {
    issuer: String,
    jwks_uri: String,
}

struct Keys {
    set: JwkSet,
    fetched: Instant,
}

pub struct Authorizer {
    issuer: String,
    audiences: Vec<String>,
    jwks_uri: String,
    http: reqwest::Client,
    keys: RwLock<Keys>,
}

/// A token naming a kid the cached JWKS lacks makes the keys be read again (the issuer may have rotated),
/// but no more often than this: random kids must not turn the API into a flood of requests to the issuer.
const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(10);

/// How long the issuer may take to answer: start-up fails, or one request is refused, after this.
const ISSUER_TIMEOUT: Duration = Duration::from_secs(10);

impl Authorizer {
    /// Reads the issuer's discovery document and keys once, so that a wrong issuer URL fails the start-up
    /// instead of every request.
    pub async fn discover(issuer: &str, audiences: Vec<String>) -> Result<Self, DiscoveryError> {
        let http = reqwest::Client::builder()
            .timeout(ISSUER_TIMEOUT)
            .build()
            .map_err(|source| DiscoveryError::Http {
                url: issuer.to_string(),
                source,
            })?;
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let document: DiscoveryDocument = get_json(&http, &url).await?;
        if document.issuer != issuer {
            return Err(DiscoveryError::IssuerMismatch {
                expected: issuer.to_string(),
                found: document.issuer,
            });
        }
        let set: JwkSet = get_json(&http, &document.jwks_uri).await?;
        Ok(Authorizer {
            issuer: issuer.to_string(),
            audiences,
            jwks_uri: document.jwks_uri,
            http,
            keys: RwLock::new(Keys {
                set,
                fetched: Instant::now(),
            }),
        })
    }

    /// The claims of the bearer token in `authorization` (the header's value), or why it is refused.
    pub async fn authorize(&self, authorization: Option<&str>) -> Result<Claims, Refusal> {
        let token = bearer_token(authorization)?;
        let header = jsonwebtoken::decode_header(token).map_err(|_| Refusal::Malformed)?;
        if !matches!(
            header.alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        ) {
            return Err(Refusal::UnsupportedAlgorithm);
        }
        let kid = header.kid.ok_or(Refusal::UnknownKey)?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(header.alg);
        // API Gateway allows no clock skew; neither does this.
        validation.leeway = 0;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        // Checked below: API Gateway accepts client_id when there is no aud, which jsonwebtoken does not.
        validation.validate_aud = false;
        validation.required_spec_claims = ["exp", "iss"].into_iter().map(String::from).collect();
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|error| match error.kind() {
                ErrorKind::InvalidSignature => Refusal::BadSignature,
                ErrorKind::ExpiredSignature => Refusal::Expired,
                ErrorKind::ImmatureSignature => Refusal::NotYetValid,
                ErrorKind::InvalidIssuer => Refusal::WrongIssuer,
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                    Refusal::UnsupportedAlgorithm
                }
                _ => Refusal::Malformed,
            })?
            .claims;
        self.check_audience(&claims)?;
        check_issued_at(&claims)?;
        match claims.get("token_use") {
            None => {}
            Some(Value::String(used)) if used == "id" || used == "access" => {}
            Some(_) => return Err(Refusal::WrongTokenUse),
        }
        Ok(claims)
    }

    fn check_audience(&self, claims: &Claims) -> Result<(), Refusal> {
        let accepted = |value: &Value| {
            value
                .as_str()
                .is_some_and(|audience| self.audiences.iter().any(|a| a == audience))
        };
        let ok = match (claims.get("aud"), claims.get("client_id")) {
            (Some(Value::Array(audiences)), _) => audiences.iter().any(accepted),
            (Some(audience), _) => accepted(audience),
            (None, Some(client_id)) => accepted(client_id),
            (None, None) => false,
        };
        if ok {
            Ok(())
        } else {
            Err(Refusal::WrongAudience)
        }
    }

    /// The RSA key with this kid, reading the JWKS again if it is not there (see `MIN_REFRESH_INTERVAL`).
    async fn key(&self, kid: &str) -> Result<DecodingKey, Refusal> {
        {
            let keys = self.keys.read().await;
            if let Some(key) = rsa_key(&keys.set, kid) {
                return key;
            }
            if keys.fetched.elapsed() < MIN_REFRESH_INTERVAL {
                return Err(Refusal::UnknownKey);
            }
        }
        let mut keys = self.keys.write().await;
        // Another request may have refreshed them while this one waited for the lock.
        if keys.fetched.elapsed() >= MIN_REFRESH_INTERVAL {
            let set = get_json(&self.http, &self.jwks_uri)
                .await
                .map_err(|error| Refusal::KeysUnavailable(error.to_string()))?;
            *keys = Keys {
                set,
                fetched: Instant::now(),
            };
        }
        rsa_key(&keys.set, kid).unwrap_or(Err(Refusal::UnknownKey))
    }
}

/// Only RSA keys are used: an `oct` entry would turn a published value into an HMAC secret.
fn rsa_key(set: &JwkSet, kid: &str) -> Option<Result<DecodingKey, Refusal>> {
    let jwk = set.find(kid)?;
    Some(match &jwk.algorithm {
        AlgorithmParameters::RSA(params) => {
            DecodingKey::from_rsa_components(&params.n, &params.e).map_err(|_| Refusal::UnknownKey)
        }
        _ => Err(Refusal::UnsupportedAlgorithm),
    })
}

/// API Gateway takes the header's value as the token, with or without the `Bearer ` prefix.
fn bearer_token(authorization: Option<&str>) -> Result<&str, Refusal> {
    let value = authorization.map(str::trim).unwrap_or_default();
    if value.eq_ignore_ascii_case("bearer") {
        return Err(Refusal::MissingToken);
    }
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => value,
    };
    if token.is_empty() {
        Err(Refusal::MissingToken)
    } else {
        Ok(token)
    }
}

fn check_issued_at(claims: &Claims) -> Result<(), Refusal> {
    let Some(iat) = claims.get("iat") else {
        return Ok(());
    };
    let iat = iat.as_f64().ok_or(Refusal::Malformed)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    if iat > now {
        Err(Refusal::IssuedInFuture)
    } else {
        Ok(())
    }
}

async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, DiscoveryError> {
    let failed = |source| DiscoveryError::Http {
        url: url.to_string(),
        source,
    };
    http.get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(failed)?
        .json()
        .await
        .map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_prefix_is_optional_and_case_insensitive() {
        assert_eq!(bearer_token(Some("Bearer abc")), Ok("abc"));
        assert_eq!(bearer_token(Some("bearer  abc ")), Ok("abc"));
        assert_eq!(bearer_token(Some("abc")), Ok("abc"));
        assert_eq!(bearer_token(Some("Bearer ")), Err(Refusal::MissingToken));
        assert_eq!(bearer_token(None), Err(Refusal::MissingToken));
    }
}

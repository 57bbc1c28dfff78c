//! The IAM and STS clients, the SDK settings every function uses, and the counts of IAM calls and retries.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use super::errors::aws_error;
use crate::account::Account;
use crate::config::{CatalogRole, Config};
use crate::error::{Error, Result};

#[derive(Clone, Debug)]
pub struct Iam {
    /// The IAM client of the account this value acts in: the hub's, or a spoke's (`at_home_of`).
    pub(super) iam: aws_sdk_iam::Client,
    pub(super) sts: aws_sdk_sts::Client,
    pub(super) sdk_config: SdkConfig,
    calls: Arc<AtomicUsize>,
    /// IAM attempts repeated after a failure (the SDK's retries and the wait for a new principal): the
    /// functions report them as a metric, a sign of throttling before it becomes an error.
    pub(super) retries: Arc<AtomicUsize>,
    hub: aws_sdk_iam::Client,
    spokes: Arc<Spokes>,
    /// The spoke account `iam` acts in; `None`: the hub.
    acting_in: Option<String>,
}

/// The catalog roles that live in other accounts, and the IAM clients that reach those accounts once a
/// request has assumed their spoke roles (`reach_spokes`).
#[derive(Debug, Default)]
struct Spokes {
    role_name: String,
    /// Catalog role name → the account it lives in.
    homes: BTreeMap<String, String>,
    /// Account → a client acting there as its spoke role.
    clients: BTreeMap<String, aws_sdk_iam::Client>,
    /// Account → why its spoke role could not be assumed, for a request that goes on without it.
    left_out: BTreeMap<String, String>,
}

/// Counts IAM operations (the drift check reports them, and its cost must grow with pages of results, not
/// with users) and, apart, the SDK's retry attempts.
#[derive(Debug)]
struct CountCalls {
    calls: Arc<AtomicUsize>,
    retries: Arc<AtomicUsize>,
}

impl Intercept for CountCalls {
    fn name(&self) -> &'static str {
        "CountIamCalls"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        if cfg
            .load::<RequestAttempts>()
            .is_some_and(|attempts| attempts.attempts() > 1)
        {
            self.retries.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// The SDK settings every function uses; `load_sdk_config` adds the environment (credentials, region,
/// `AWS_ENDPOINT_URL`), tests add moto's endpoint.
///
/// Standard retry mode: throttling, 5xx and dropped connections are retried with jittered exponential
/// backoff. An attempt that hangs is cut off so it can be retried; the invocation's deadline bounds the
/// whole (see the functions' `runtime`).
pub fn sdk_config_loader() -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(6))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .build(),
        )
}

/// A spoke session serves one request; IAM's minimum is 15 minutes.
const SPOKE_SESSION_SECONDS: i32 = 900;

/// STS session names allow `[\w+=,.@-]`, 2 to 64 of them; a request id may hold other characters.
fn session_name(request_id: &str) -> String {
    let mut name: String = request_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    while name.len() < 2 {
        name.push('-');
    }
    name
}

/// IAM answers in well under a second; a page of GetAccountAuthorizationDetails for a large account in
/// a few. Longer than this, the attempt is presumed lost and retried.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

pub async fn load_sdk_config() -> SdkConfig {
    sdk_config_loader().load().await
}

impl Iam {
    pub fn new(sdk_config: &SdkConfig) -> Self {
        let calls = Arc::new(AtomicUsize::new(0));
        let retries = Arc::new(AtomicUsize::new(0));
        let iam_config = aws_sdk_iam::config::Builder::from(sdk_config)
            .interceptor(CountCalls {
                calls: calls.clone(),
                retries: retries.clone(),
            })
            .build();
        let iam = aws_sdk_iam::Client::from_conf(iam_config);
        Iam {
            hub: iam.clone(),
            iam,
            sts: aws_sdk_sts::Client::new(sdk_config),
            sdk_config: sdk_config.clone(),
            calls,
            retries,
            spokes: Arc::default(),
            acting_in: None,
        }
    }

    /// Learns which catalog roles live in accounts other than `hub`, so that no call on them can reach
    /// the hub. An entry naming the hub's own account is a hub role.
    pub fn with_catalog(self, config: &Config, hub: &Account) -> Self {
        let homes = config
            .spoke_roles()
            .filter_map(|role| Some((role.name.clone(), role.account.clone()?)))
            .filter(|(_, account)| *account != hub.id)
            .collect();
        Iam {
            spokes: Arc::new(Spokes {
                role_name: config.spoke_role_name.clone(),
                homes,
                clients: BTreeMap::new(),
                left_out: BTreeMap::new(),
            }),
            ..self
        }
    }

    /// This client, able to act in the accounts of `roles` besides the hub: each account's spoke role is
    /// assumed once, with `session` (the request id) as the session name, so CloudTrail in the spoke names
    /// the request. An account that cannot be reached is refused before anything is changed anywhere.
    pub async fn reach_spokes<'a>(
        &self,
        hub: &Account,
        roles: impl IntoIterator<Item = &'a CatalogRole>,
        session: &str,
    ) -> Result<Iam> {
        let accounts = member_accounts(hub, roles);
        let mut clients = self.spokes.clients.clone();
        for account in accounts {
            if !clients.contains_key(account) {
                clients.insert(
                    account.to_string(),
                    self.assume_spoke(hub, account, session).await?,
                );
            }
        }
        Ok(self.with_spokes(clients, BTreeMap::new()))
    }

    /// [`Self::reach_spokes`] for a request no member account may block (offboarding): an account whose
    /// spoke role cannot be assumed is left out, and [`Self::left_out`] says why, instead of failing the
    /// whole request.
    pub async fn reach_spokes_leaving_out<'a>(
        &self,
        hub: &Account,
        roles: impl IntoIterator<Item = &'a CatalogRole>,
        session: &str,
    ) -> Iam {
        let accounts = member_accounts(hub, roles);
        let mut clients = self.spokes.clients.clone();
        let mut left_out = BTreeMap::new();
        for account in accounts {
            if clients.contains_key(account) {
                continue;
            }
            match self.assume_spoke(hub, account, session).await {
                Ok(client) => {
                    clients.insert(account.to_string(), client);
                }
                Err(error) => {
                    tracing::warn!(account, error = %error, "member account left out");
                    left_out.insert(account.to_string(), error.to_string());
                }
            }
        }
        self.with_spokes(clients, left_out)
    }

    fn with_spokes(
        &self,
        clients: BTreeMap<String, aws_sdk_iam::Client>,
        left_out: BTreeMap<String, String>,
    ) -> Iam {
        Iam {
            spokes: Arc::new(Spokes {
                role_name: self.spokes.role_name.clone(),
                homes: self.spokes.homes.clone(),
                clients,
                left_out,
            }),
            ..self.clone()
        }
    }

    /// Why the account `role` lives in was left out of this request, when it was.
    pub fn left_out(&self, role: &str) -> Option<(&str, &str)> {
        let account = self.spokes.homes.get(role)?;
        self.spokes
            .left_out
            .get(account)
            .map(|why| (account.as_str(), why.as_str()))
    }

    async fn assume_spoke(
        &self,
        hub: &Account,
        account: &str,
        session: &str,
    ) -> Result<aws_sdk_iam::Client> {
        let role_arn = format!(
            "arn:{}:iam::{account}:role/{}",
            hub.partition, self.spokes.role_name
        );
        let unreachable = |detail: String| Error::AccountUnreachable {
            account: account.to_string(),
            role: self.spokes.role_name.clone(),
            detail,
        };
        let assumed = self
            .sts
            .assume_role()
            .role_arn(&role_arn)
            .role_session_name(session_name(session))
            .duration_seconds(SPOKE_SESSION_SECONDS)
            .send()
            .await
            .map_err(|e| unreachable(aws_error("AssumeRole", e).to_string()))?;
        let credentials = assumed
            .credentials()
            .ok_or_else(|| unreachable("AssumeRole returned no credentials".to_string()))?;
        let credentials = aws_credential_types::Credentials::new(
            credentials.access_key_id(),
            credentials.secret_access_key(),
            Some(credentials.session_token().to_string()),
            SystemTime::try_from(*credentials.expiration()).ok(),
            "spoke-role",
        );
        let spoke_config = self
            .sdk_config
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .build();
        let iam_config = aws_sdk_iam::config::Builder::from(&spoke_config)
            .interceptor(CountCalls {
                calls: self.calls.clone(),
                retries: self.retries.clone(),
            })
            .build();
        Ok(aws_sdk_iam::Client::from_conf(iam_config))
    }

    /// The account this client acts in: `hub`, or the spoke `at_home_of` chose.
    pub(super) fn acting_account(&self, hub: &Account) -> Account {
        match &self.acting_in {
            Some(id) => Account {
                id: id.clone(),
                partition: hub.partition.clone(),
            },
            None => hub.clone(),
        }
    }

    /// This client acting in `account`, a member account this request has reached.
    pub(super) fn in_account(&self, account: &str) -> Result<Iam> {
        let iam =
            self.spokes
                .clients
                .get(account)
                .cloned()
                .ok_or_else(|| Error::AccountUnreachable {
                    account: account.to_string(),
                    role: self.spokes.role_name.clone(),
                    detail: "the account was not reached".to_string(),
                })?;
        Ok(Iam {
            iam,
            acting_in: Some(account.to_string()),
            ..self.clone()
        })
    }

    /// The member account `role` lives in; `None` for a hub role.
    pub fn home_of(&self, role: &str) -> Option<&str> {
        self.spokes.homes.get(role).map(String::as_str)
    }

    /// This client acting in the account `role` lives in. A spoke role whose account this request has not
    /// reached is refused, never looked for in the hub.
    pub(super) fn at_home_of(&self, role: &str) -> Result<Cow<'_, Iam>> {
        let home = self.spokes.homes.get(role);
        if home == self.acting_in.as_ref() {
            return Ok(Cow::Borrowed(self));
        }
        let iam = match home {
            None => self.hub.clone(),
            Some(account) => self.spokes.clients.get(account).cloned().ok_or_else(|| {
                Error::AccountUnreachable {
                    account: account.clone(),
                    role: self.spokes.role_name.clone(),
                    detail: format!("role {role} was used before its account was reached"),
                }
            })?,
        };
        Ok(Cow::Owned(Iam {
            iam,
            acting_in: home.cloned(),
            ..self.clone()
        }))
    }

    /// IAM operations made through this client since it was built.
    pub fn iam_calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }

    /// IAM attempts repeated after a failure through this client (and every client made from it) since
    /// it was built.
    pub fn iam_retries(&self) -> usize {
        self.retries.load(Ordering::Relaxed)
    }

    pub async fn account(&self) -> Result<Account> {
        let identity = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| aws_error("GetCallerIdentity", e))?;
        identity.arn().and_then(Account::from_arn).ok_or_else(|| {
            Error::aws(
                "GetCallerIdentity",
                "the caller identity has no usable ARN",
                false,
            )
        })
    }

    /// The SDK settings this client was built from: the publishing ports beside it use the same.
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.sdk_config
    }

    /// A client that answers from `client` (a mock in unit tests).
    #[cfg(test)]
    pub(crate) fn with_client(client: aws_sdk_iam::Client) -> Self {
        let sdk_config = SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        Iam {
            hub: client.clone(),
            iam: client,
            sts: aws_sdk_sts::Client::new(&sdk_config),
            sdk_config,
            calls: Default::default(),
            retries: Default::default(),
            spokes: Arc::default(),
            acting_in: None,
        }
    }
}

/// The accounts besides the hub that `roles` live in, once each.
fn member_accounts<'a>(
    hub: &Account,
    roles: impl IntoIterator<Item = &'a CatalogRole>,
) -> BTreeSet<&'a str> {
    roles
        .into_iter()
        .filter_map(|role| role.account.as_deref())
        .filter(|account| *account != hub.id)
        .collect()
}

#[cfg(test)]
mod session_name_tests {
    use super::session_name;

    #[test]
    fn a_request_id_becomes_a_session_name_sts_accepts() {
        assert_eq!(session_name("Ab3=x.y@z-_,+"), "Ab3=x.y@z-_,+");
        assert_eq!(session_name("a b/c"), "a-b-c");
        assert_eq!(session_name("x"), "x-");
        assert_eq!(session_name(&"r".repeat(100)).len(), 64);
    }
}

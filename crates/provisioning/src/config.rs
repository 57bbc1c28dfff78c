//! Configuration, read once from the environment when a function starts. Every value is validated here,
//! so a bad deployment fails its init with the variable's name instead of failing later on a request.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::names::is_valid_iam_name;

const DEFAULT_SPOKE_ROLE_NAME: &str = "OnboardingSpokeRole";

/// samconfig.toml's stack name: what local runs (the demo, the local API, tests) call themselves.
const DEFAULT_STACK_NAME: &str = "iam-onboarding";

const DEFAULT_ROLE_CATALOG: &str = r#"[{"name":"ResourceCreatorRole","managed_policy_arns":["arn:aws:iam::aws:policy/PowerUserAccess"],"self_service":true}]"#;

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {variable}: {reason}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub reason: String,
}

fn invalid(variable: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        reason: reason.into(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogRole {
    pub name: String,
    #[serde(default)]
    pub managed_policy_arns: Vec<String>,
    #[serde(default)]
    pub inline_policy: Option<Value>,
    #[serde(default)]
    pub self_service: bool,
    #[serde(default)]
    pub max_session_duration: Option<i32>,
    #[serde(default)]
    pub description: Option<String>,
    /// Take over a role of this name that exists without the ownership tag (made by hand, or before the
    /// stack): tag it and bring it to its desired state. Without it such a role is never touched.
    #[serde(default)]
    pub adopt: bool,
    /// The account the role lives in, when not the hub (where the stack runs): the functions reach it
    /// through that account's spoke role (`SPOKE_ROLE_NAME`).
    #[serde(default)]
    pub account: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustMode {
    /// The account root is the principal; an `ArnLike aws:PrincipalArn` condition limits it to managed users.
    Account,
    /// Each onboarded user's ARN is listed as a principal (the seed's literal shape).
    Users,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantMode {
    /// Membership of `onboarding-<Role>`, which holds `Assume<Role>`.
    Group,
    /// `Assume<Role>` as an inline policy on the user.
    Inline,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub catalog: Vec<CatalogRole>,
    pub user_path: String,
    pub trust_mode: TrustMode,
    pub grant_mode: GrantMode,
    pub mfa_max_age_seconds: Option<u64>,
    /// `REQUIRE_SOURCE_IDENTITY` (default true): catalog roles admit only sessions whose source identity is
    /// the caller's own user name.
    pub require_source_identity: bool,
    pub permissions_boundary_arn: Option<String>,
    /// The permissions boundary of every catalog role (the stack's own policy that keeps the people it
    /// onboards away from the stack); `None` when the deployment sets none, as in local runs.
    pub catalog_role_boundary_arn: Option<String>,
    pub username_claim: String,
    pub groups_claim: String,
    pub admin_group: String,
    /// The role each spoke account's `spoke.yaml` creates for the hub's functions to assume.
    pub spoke_role_name: String,
    /// Who may use the self-service routes at all.
    pub eligibility: Eligibility,
    /// `STACK_NAME`: the deployment's CloudFormation stack, written on every user and catalog role it
    /// manages (`onboarding:stack`) so that a second stack in the account never changes them.
    pub stack_name: String,
}

/// Who may onboard at all: every verified person of the identity provider is not the same as every person
/// the platform team means, so the default admits nobody. Admins are always eligible.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Eligibility {
    /// `ELIGIBLE_GROUPS`: a member of any of these groups (the groups claim) is eligible.
    pub groups: Vec<String>,
    /// `ELIGIBLE_EMAIL_DOMAINS`, lower case: a person whose verified email is at exactly one of these
    /// domains is eligible (`example.com` admits neither `a.example.com` nor `evil-example.com`).
    pub email_domains: Vec<String>,
    /// `ELIGIBLE_EVERYONE=true`: every verified person of the issuer, said explicitly, never by omission.
    pub everyone: bool,
}

/// The variables a deployment must set for the self-service routes to serve anyone.
pub const ELIGIBILITY_VARIABLES: &str = "ELIGIBLE_GROUPS, ELIGIBLE_EMAIL_DOMAINS";

impl Eligibility {
    fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
        username_claim: &str,
    ) -> Result<Self, ConfigError> {
        let groups = json_list(get("ELIGIBLE_GROUPS"), "ELIGIBLE_GROUPS")?;
        let email_domains = json_list(get("ELIGIBLE_EMAIL_DOMAINS"), "ELIGIBLE_EMAIL_DOMAINS")?
            .into_iter()
            .map(|domain| {
                let domain = domain.trim().to_lowercase();
                if is_domain(&domain) {
                    Ok(domain)
                } else {
                    Err(invalid(
                        "ELIGIBLE_EMAIL_DOMAINS",
                        format!(
                            "{domain:?} is not a domain name (such as example.com: no @, no *)"
                        ),
                    ))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        // Only the email claim is vouched for (email_verified): a domain read from any other claim is
        // whatever the person typed into their profile.
        if !email_domains.is_empty() && username_claim != "email" {
            return Err(invalid(
                "ELIGIBLE_EMAIL_DOMAINS",
                format!(
                    "needs USERNAME_CLAIM=email (the only claim whose address the identity provider \
                     verifies), not {username_claim:?}; use ELIGIBLE_GROUPS instead"
                ),
            ));
        }
        let everyone = match get("ELIGIBLE_EVERYONE").as_deref().map(str::trim) {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(invalid(
                    "ELIGIBLE_EVERYONE",
                    format!("{other:?} is not true or false"),
                ));
            }
        };
        Ok(Eligibility {
            groups,
            email_domains,
            everyone,
        })
    }

    /// Whether any rule is set. Without one the self-service functions refuse to start: a deployment
    /// that names nobody must not serve everybody.
    pub fn require_a_rule(&self) -> Result<(), ConfigError> {
        if self.everyone || !self.groups.is_empty() || !self.email_domains.is_empty() {
            Ok(())
        } else {
            Err(invalid(
                ELIGIBILITY_VARIABLES,
                "both are empty, so nobody may onboard: name the groups (JSON array) or the email \
                 domains (JSON array) whose people may, or set ELIGIBLE_EVERYONE=true to admit every \
                 verified person of the identity provider",
            ))
        }
    }
}

/// A JSON array of non-empty strings; unset or empty is the empty list.
fn json_list(value: Option<String>, variable: &'static str) -> Result<Vec<String>, ConfigError> {
    let Some(text) = value else {
        return Ok(Vec::new());
    };
    let items: Vec<String> = serde_json::from_str(&text).map_err(|_| {
        invalid(
            variable,
            format!("{text:?} is not a JSON array of strings, such as [\"a\", \"b\"]"),
        )
    })?;
    if items.iter().any(|item| item.trim().is_empty()) {
        return Err(invalid(variable, "an entry is empty"));
    }
    Ok(items)
}

/// CloudFormation's own rule for stack names.
fn is_stack_name(name: &str) -> bool {
    name.len() <= 128
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// Letters, digits and hyphens in dot-separated labels, at least two of them: a host name, not a pattern.
fn is_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    domain.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// `lookup` returns a variable's value; empty values count as unset, as SAM passes empty parameters.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());

        let catalog_json = get("ROLE_CATALOG").unwrap_or_else(|| DEFAULT_ROLE_CATALOG.to_string());
        let catalog = parse_catalog(&catalog_json)?;
        catalog_within_parameters(&catalog, &get)?;

        let user_path = get("USER_PATH").unwrap_or_else(|| "/onboarded/".to_string());
        validate_path(&user_path)?;

        let trust_mode = match get("TRUST_MODE").as_deref() {
            None | Some("account") => TrustMode::Account,
            Some("users") => TrustMode::Users,
            Some(other) => {
                return Err(invalid(
                    "TRUST_MODE",
                    format!("{other:?} is not one of account, users"),
                ));
            }
        };
        let grant_mode = match get("GRANT_MODE").as_deref() {
            None | Some("group") => GrantMode::Group,
            Some("inline") => GrantMode::Inline,
            Some(other) => {
                return Err(invalid(
                    "GRANT_MODE",
                    format!("{other:?} is not one of group, inline"),
                ));
            }
        };
        let mfa_max_age_seconds = match get("MFA_MAX_AGE_SECONDS") {
            None => None,
            Some(text) => match text.trim().parse::<u64>() {
                Ok(seconds) if seconds > 0 => Some(seconds),
                _ => {
                    return Err(invalid(
                        "MFA_MAX_AGE_SECONDS",
                        format!("{text:?} is not a positive number of seconds"),
                    ));
                }
            },
        };
        let require_source_identity = match get("REQUIRE_SOURCE_IDENTITY").as_deref() {
            None | Some("true") => true,
            Some("false") => false,
            Some(other) => {
                return Err(invalid(
                    "REQUIRE_SOURCE_IDENTITY",
                    format!("{other:?} is not one of true, false"),
                ));
            }
        };
        let policy_arn = |variable: &'static str| match get(variable) {
            Some(arn) if !is_policy_arn(&arn) => Err(invalid(
                variable,
                format!("{arn:?} is not a managed policy ARN"),
            )),
            other => Ok(other),
        };
        let permissions_boundary_arn = policy_arn("PERMISSIONS_BOUNDARY_ARN")?;
        let catalog_role_boundary_arn = policy_arn("CATALOG_ROLE_BOUNDARY_ARN")?;
        let spoke_role_name =
            get("SPOKE_ROLE_NAME").unwrap_or_else(|| DEFAULT_SPOKE_ROLE_NAME.to_string());
        if !is_valid_iam_name(&spoke_role_name, 64) {
            return Err(invalid(
                "SPOKE_ROLE_NAME",
                format!("{spoke_role_name:?} is not a valid IAM role name"),
            ));
        }

        let stack_name = get("STACK_NAME").unwrap_or_else(|| DEFAULT_STACK_NAME.to_string());
        if !is_stack_name(&stack_name) {
            return Err(invalid(
                "STACK_NAME",
                format!(
                    "{stack_name:?} is not a CloudFormation stack name (a letter, then letters, digits and hyphens, at most 128)"
                ),
            ));
        }

        let username_claim = get("USERNAME_CLAIM").unwrap_or_else(|| "email".to_string());
        let eligibility = Eligibility::from_lookup(get, &username_claim)?;

        Ok(Config {
            catalog,
            user_path,
            trust_mode,
            grant_mode,
            mfa_max_age_seconds,
            require_source_identity,
            permissions_boundary_arn,
            catalog_role_boundary_arn,
            username_claim,
            groups_claim: get("GROUPS_CLAIM").unwrap_or_else(|| "cognito:groups".to_string()),
            admin_group: get("ADMIN_GROUP").unwrap_or_else(|| "onboarding-admins".to_string()),
            spoke_role_name,
            eligibility,
            stack_name,
        })
    }

    /// The catalog roles that live in accounts other than the hub.
    pub fn spoke_roles(&self) -> impl Iterator<Item = &CatalogRole> {
        self.catalog.iter().filter(|role| role.account.is_some())
    }

    pub fn catalog_role(&self, name: &str) -> Option<&CatalogRole> {
        self.catalog.iter().find(|role| role.name == name)
    }
}

/// Settings of the drift check only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftSettings {
    pub mfa_grace_days: u64,
    pub access_key_max_age_days: u64,
    pub access_key_max_unused_days: u64,
    /// Apply the repairs marked `automatic`.
    pub remediate: bool,
    /// Also deactivate old or unused access keys (a repair that can break someone's scripts).
    pub remediate_keys: bool,
    pub alert_topic_arn: Option<String>,
    /// Also import every finding into Security Hub, and archive those that are gone.
    pub security_hub: bool,
    /// `REPORT_BUCKET`: where an organisation run keeps each account's report and its summary.
    pub report_bucket: Option<String>,
    /// `ORGANIZATION_ACCOUNTS=true`: an organisation run asks Organizations which accounts are active;
    /// otherwise `SPOKE_ACCOUNT_IDS` says which are.
    pub organization_accounts: bool,
    /// `SPOKE_ACCOUNT_IDS`: the member accounts whose spoke role the hub's functions may assume.
    pub spoke_account_ids: BTreeSet<String>,
    /// `DRIFT_MAX_CONCURRENCY`: accounts an organisation run checks at once.
    pub max_concurrency: u32,
    /// `DRIFT_TOLERATED_FAILURE_PERCENTAGE`: the share of accounts whose check may fail (after retries)
    /// before the run stops.
    pub tolerated_failure_percentage: u32,
}

/// The documented defaults: report only, 7 days to enrol MFA, keys 90 days old or 45 days unused.
impl Default for DriftSettings {
    fn default() -> Self {
        DriftSettings {
            mfa_grace_days: 7,
            access_key_max_age_days: 90,
            access_key_max_unused_days: 45,
            remediate: false,
            remediate_keys: false,
            alert_topic_arn: None,
            security_hub: false,
            report_bucket: None,
            organization_accounts: false,
            spoke_account_ids: BTreeSet::new(),
            max_concurrency: 10,
            tolerated_failure_percentage: 10,
        }
    }
}

impl DriftSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let days = |variable: &'static str, default: u64| match get(variable) {
            None => Ok(default),
            Some(text) => text
                .trim()
                .parse::<u64>()
                .map_err(|_| invalid(variable, format!("{text:?} is not a whole number of days"))),
        };
        let flag = |variable: &'static str| match get(variable).as_deref().map(str::trim) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(invalid(variable, format!("{other:?} is not true or false"))),
        };
        let alert_topic_arn = get("ALERT_TOPIC_ARN");
        if let Some(arn) = &alert_topic_arn
            && !(arn.starts_with("arn:") && arn.split(':').nth(2) == Some("sns"))
        {
            return Err(invalid(
                "ALERT_TOPIC_ARN",
                format!("{arn:?} is not an SNS topic ARN"),
            ));
        }
        let bounded =
            |variable: &'static str, default: u32, range: std::ops::RangeInclusive<u32>| match get(
                variable,
            ) {
                None => Ok(default),
                Some(text) => text
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|value| range.contains(value))
                    .ok_or_else(|| {
                        invalid(
                            variable,
                            format!(
                                "{text:?} is not a whole number from {} to {}",
                                range.start(),
                                range.end()
                            ),
                        )
                    }),
            };
        let spoke_account_ids = get("SPOKE_ACCOUNT_IDS")
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|id| !id.is_empty())
                    .map(|id| {
                        if id.len() == 12 && id.chars().all(|c| c.is_ascii_digit()) {
                            Ok(id.to_string())
                        } else {
                            Err(invalid(
                                "SPOKE_ACCOUNT_IDS",
                                format!("{id:?} is not a 12-digit account id"),
                            ))
                        }
                    })
                    .collect::<Result<BTreeSet<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        let defaults = DriftSettings::default();
        Ok(DriftSettings {
            mfa_grace_days: days("MFA_GRACE_DAYS", defaults.mfa_grace_days)?,
            access_key_max_age_days: days(
                "ACCESS_KEY_MAX_AGE_DAYS",
                defaults.access_key_max_age_days,
            )?,
            access_key_max_unused_days: days(
                "ACCESS_KEY_MAX_UNUSED_DAYS",
                defaults.access_key_max_unused_days,
            )?,
            remediate: flag("REMEDIATE")?,
            remediate_keys: flag("REMEDIATE_KEYS")?,
            alert_topic_arn,
            security_hub: flag("SECURITY_HUB")?,
            report_bucket: get("REPORT_BUCKET").map(|bucket| bucket.trim().to_string()),
            organization_accounts: flag("ORGANIZATION_ACCOUNTS")?,
            spoke_account_ids,
            // Step Functions' own bounds: a Distributed Map runs at most 10,000 children at once.
            max_concurrency: bounded(
                "DRIFT_MAX_CONCURRENCY",
                defaults.max_concurrency,
                1..=10_000,
            )?,
            tolerated_failure_percentage: bounded(
                "DRIFT_TOLERATED_FAILURE_PERCENTAGE",
                defaults.tolerated_failure_percentage,
                0..=100,
            )?,
        })
    }
}

fn is_policy_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    parts.len() == 6 && parts[0] == "arn" && parts[2] == "iam" && parts[5].starts_with("policy/")
}

/// What CloudFormation must be told about a catalog, since it cannot read one: the parameters that scope
/// the functions' IAM permissions to the catalog's roles and policies, and the accounts its roles live in.
/// `onboarding-admin catalog check` prints them, so that they are derived and never typed in step by hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CatalogParameters {
    pub role_names: Vec<String>,
    pub managed_policy_arns: Vec<String>,
    pub spoke_account_ids: Vec<String>,
}

impl CatalogParameters {
    pub fn of(catalog: &[CatalogRole]) -> CatalogParameters {
        fn once(items: impl Iterator<Item = String>) -> Vec<String> {
            let mut seen = Vec::new();
            for item in items {
                if !seen.contains(&item) {
                    seen.push(item);
                }
            }
            seen
        }
        CatalogParameters {
            role_names: once(catalog.iter().map(|role| role.name.clone())),
            managed_policy_arns: once(
                catalog
                    .iter()
                    .flat_map(|role| role.managed_policy_arns.iter().cloned()),
            ),
            spoke_account_ids: once(catalog.iter().filter_map(|role| role.account.clone())),
        }
    }
}

/// `CATALOG_ROLE_NAMES` and `CATALOG_MANAGED_POLICY_ARNS` (the stack's `CatalogRoleNames` and
/// `CatalogManagedPolicyArns`, comma-separated) bound what the functions' IAM permissions allow. A catalog
/// naming a role or policy outside them would first show as `AccessDenied` on someone's request: it is
/// refused at init instead, naming the entry. Unset (local runs, tests), nothing is bounded.
fn catalog_within_parameters(
    catalog: &[CatalogRole],
    get: &impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    let list = |variable: &str| {
        get(variable).map(|text| {
            text.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
    };
    if let Some(names) = list("CATALOG_ROLE_NAMES")
        && let Some(role) = catalog.iter().find(|role| !names.contains(&role.name))
    {
        return Err(invalid(
            "ROLE_CATALOG",
            format!(
                "role {:?} is not in CATALOG_ROLE_NAMES (the stack's CatalogRoleNames), so the functions \
                 may not manage it: deploy with the parameters `onboarding-admin catalog check` prints",
                role.name
            ),
        ));
    }
    if let Some(arns) = list("CATALOG_MANAGED_POLICY_ARNS") {
        for role in catalog {
            if let Some(arn) = role
                .managed_policy_arns
                .iter()
                .find(|arn| !arns.contains(arn))
            {
                return Err(invalid(
                    "ROLE_CATALOG",
                    format!(
                        "role {:?}: {arn:?} is not in CATALOG_MANAGED_POLICY_ARNS (the stack's \
                         CatalogManagedPolicyArns), so the functions may not attach it: deploy with the \
                         parameters `onboarding-admin catalog check` prints",
                        role.name
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// IAM's limits on what a catalog entry makes (IAM and STS quotas): an entry past them would fail at
/// CreateRole or PutRolePolicy on someone's request, so it is refused with the catalog.
const MAX_MANAGED_POLICIES_PER_ROLE: usize = 20;
const MAX_ROLE_INLINE_POLICY_CHARS: usize = 10_240;
const MAX_ROLE_DESCRIPTION_CHARS: usize = 1_000;

/// A catalog as JSON (`ROLE_CATALOG`, the SSM parameter, or `onboarding-admin`'s file), checked entry by
/// entry; an error names the entry.
pub fn parse_catalog(json: &str) -> Result<Vec<CatalogRole>, ConfigError> {
    const VAR: &str = "ROLE_CATALOG";
    let catalog: Vec<CatalogRole> = serde_json::from_str(json)
        .map_err(|error| invalid(VAR, format!("not a JSON list of roles: {error}")))?;
    if catalog.is_empty() {
        return Err(invalid(VAR, "the catalog is empty"));
    }
    for (index, role) in catalog.iter().enumerate() {
        // "onboarding-" (11) and "Assume" (6) prefixes must still fit IAM's 128-character name limits,
        // and IAM role names stop at 64.
        if !is_valid_iam_name(&role.name, 64) {
            return Err(invalid(
                VAR,
                format!("role {index}: {:?} is not a valid IAM role name", role.name),
            ));
        }
        if catalog[..index]
            .iter()
            .any(|earlier| earlier.name == role.name)
        {
            return Err(invalid(
                VAR,
                format!("role {:?} is listed twice", role.name),
            ));
        }
        if let Some(arn) = role
            .managed_policy_arns
            .iter()
            .find(|arn| !is_policy_arn(arn))
        {
            return Err(invalid(
                VAR,
                format!("role {:?}: {arn:?} is not a managed policy ARN", role.name),
            ));
        }
        if let Some(document) = &role.inline_policy {
            let has_statement = document
                .get("Statement")
                .is_some_and(|s| s.is_array() || s.is_object());
            if !has_statement {
                return Err(invalid(
                    VAR,
                    format!("role {:?}: inline_policy has no Statement", role.name),
                ));
            }
            // IAM counts the document without its whitespace.
            let size = document.to_string().len();
            if size > MAX_ROLE_INLINE_POLICY_CHARS {
                return Err(invalid(
                    VAR,
                    format!(
                        "role {:?}: inline_policy is {size} characters, over IAM's \
                         {MAX_ROLE_INLINE_POLICY_CHARS} for a role's inline policies",
                        role.name
                    ),
                ));
            }
        }
        if role.managed_policy_arns.len() > MAX_MANAGED_POLICIES_PER_ROLE {
            return Err(invalid(
                VAR,
                format!(
                    "role {:?}: {} managed policies, over IAM's {MAX_MANAGED_POLICIES_PER_ROLE} per role",
                    role.name,
                    role.managed_policy_arns.len()
                ),
            ));
        }
        if let Some(description) = &role.description
            && (description.chars().count() > MAX_ROLE_DESCRIPTION_CHARS
                || description.chars().any(char::is_control))
        {
            return Err(invalid(
                VAR,
                format!(
                    "role {:?}: description must be at most {MAX_ROLE_DESCRIPTION_CHARS} characters, \
                     without control characters",
                    role.name
                ),
            ));
        }
        if role.managed_policy_arns.is_empty() && role.inline_policy.is_none() {
            return Err(invalid(
                VAR,
                format!(
                    "role {:?} grants nothing: give managed_policy_arns or inline_policy",
                    role.name
                ),
            ));
        }
        if let Some(account) = &role.account
            && !(account.len() == 12 && account.chars().all(|c| c.is_ascii_digit()))
        {
            return Err(invalid(
                VAR,
                format!(
                    "role {:?}: account {account:?} is not a 12-digit AWS account id",
                    role.name
                ),
            ));
        }
        if let Some(seconds) = role.max_session_duration
            && !(3600..=43200).contains(&seconds)
        {
            return Err(invalid(
                VAR,
                format!(
                    "role {:?}: max_session_duration must be 3600..=43200",
                    role.name
                ),
            ));
        }
    }
    Ok(catalog)
}

fn validate_path(path: &str) -> Result<(), ConfigError> {
    let well_formed = path.len() <= 512
        && path.starts_with('/')
        && path.ends_with('/')
        && path.len() > 1
        && path
            .split('/')
            .filter(|segment| !segment.is_empty())
            .count()
            == path.trim_matches('/').split('/').count()
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/+=,.@_-".contains(c));
    if well_formed {
        Ok(())
    } else {
        Err(invalid(
            "USER_PATH",
            format!(
                "{path:?} must look like /onboarded/: start and end with '/', no empty segment, not just '/'"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_match_the_seed() {
        let config = config(&[]).unwrap();
        assert_eq!(config.catalog.len(), 1);
        assert_eq!(config.catalog[0].name, "ResourceCreatorRole");
        assert_eq!(
            config.catalog[0].managed_policy_arns,
            vec!["arn:aws:iam::aws:policy/PowerUserAccess"]
        );
        assert!(config.catalog[0].self_service);
        assert_eq!(config.user_path, "/onboarded/");
        assert_eq!(config.trust_mode, TrustMode::Account);
        assert_eq!(config.grant_mode, GrantMode::Group);
        assert_eq!(config.username_claim, "email");
        assert_eq!(config.groups_claim, "cognito:groups");
        assert_eq!(config.admin_group, "onboarding-admins");
        assert_eq!(config.mfa_max_age_seconds, None);
        assert_eq!(config.catalog_role_boundary_arn, None);
        assert!(!config.catalog[0].adopt);
    }

    #[test]
    fn the_catalog_role_boundary_and_adopt_are_read() {
        let boundary = "arn:aws:iam::123456789012:policy/stack-CatalogRoleBoundary-ABC";
        let config = config(&[
            ("CATALOG_ROLE_BOUNDARY_ARN", boundary),
            (
                "ROLE_CATALOG",
                r#"[{"name":"R","managed_policy_arns":["arn:aws:iam::aws:policy/A"],"adopt":true}]"#,
            ),
        ])
        .unwrap();
        assert_eq!(config.catalog_role_boundary_arn.as_deref(), Some(boundary));
        assert!(config.catalog[0].adopt);
        // The template always sets it; empty means none.
        let none = self::config(&[("CATALOG_ROLE_BOUNDARY_ARN", "")]).unwrap();
        assert_eq!(none.catalog_role_boundary_arn, None);
    }

    #[test]
    fn the_stack_name_is_read_and_must_be_a_stack_name() {
        assert_eq!(config(&[]).unwrap().stack_name, "iam-onboarding");
        let named = config(&[("STACK_NAME", "iam-onboarding-dev")]).unwrap();
        assert_eq!(named.stack_name, "iam-onboarding-dev");
        for bad in ["1stack", "my_stack", "a/b", &"a".repeat(129)] {
            let error = config(&[("STACK_NAME", bad)]).unwrap_err();
            assert_eq!(error.variable, "STACK_NAME", "{bad}");
        }
    }

    #[test]
    fn a_catalog_role_may_live_in_another_account_reached_through_its_spoke_role() {
        let config = config(&[(
            "ROLE_CATALOG",
            r#"[{"name":"Hub","managed_policy_arns":["arn:aws:iam::aws:policy/A"]},
                {"name":"Spoke","managed_policy_arns":["arn:aws:iam::aws:policy/A"],"account":"111122223333"}]"#,
        )])
        .unwrap();
        assert_eq!(config.catalog[0].account, None);
        assert_eq!(config.catalog[1].account.as_deref(), Some("111122223333"));
        assert_eq!(config.spoke_role_name, "OnboardingSpokeRole");
        let named = self::config(&[("SPOKE_ROLE_NAME", "HubAccess")]).unwrap();
        assert_eq!(named.spoke_role_name, "HubAccess");
    }

    #[test]
    fn every_invalid_value_names_its_variable() {
        let cases: &[(&str, &str)] = &[
            ("ROLE_CATALOG", "not json"),
            ("ROLE_CATALOG", "[]"),
            (
                "ROLE_CATALOG",
                r#"[{"name":"bad name","managed_policy_arns":["arn:aws:iam::aws:policy/ReadOnlyAccess"]}]"#,
            ),
            (
                "ROLE_CATALOG",
                r#"[{"name":"R","managed_policy_arns":["PowerUserAccess"]}]"#,
            ),
            ("ROLE_CATALOG", r#"[{"name":"R"}]"#),
            (
                "ROLE_CATALOG",
                r#"[{"name":"R","managed_policy_arns":["arn:aws:iam::aws:policy/A"],"surprise":1}]"#,
            ),
            (
                "ROLE_CATALOG",
                r#"[{"name":"R","inline_policy":{"Version":"2012-10-17"}}]"#,
            ),
            (
                "ROLE_CATALOG",
                r#"[{"name":"R","managed_policy_arns":["arn:aws:iam::aws:policy/A"],"max_session_duration":60}]"#,
            ),
            (
                "ROLE_CATALOG",
                r#"[{"name":"R","managed_policy_arns":["arn:aws:iam::aws:policy/A"]},{"name":"R","managed_policy_arns":["arn:aws:iam::aws:policy/A"]}]"#,
            ),
            ("USER_PATH", "onboarded"),
            ("USER_PATH", "/"),
            ("USER_PATH", "/a//b/"),
            ("TRUST_MODE", "everyone"),
            ("GRANT_MODE", "direct"),
            ("MFA_MAX_AGE_SECONDS", "-5"),
            ("MFA_MAX_AGE_SECONDS", "an hour"),
            ("PERMISSIONS_BOUNDARY_ARN", "PowerUserAccess"),
            ("CATALOG_ROLE_BOUNDARY_ARN", "CatalogRoleBoundary"),
            (
                "CATALOG_ROLE_BOUNDARY_ARN",
                "arn:aws:iam::123456789012:role/ResourceCreatorRole",
            ),
            (
                "ROLE_CATALOG",
                r#"[{"name":"R","managed_policy_arns":["arn:aws:iam::aws:policy/A"],"adopt":"yes"}]"#,
            ),
            (
                "ROLE_CATALOG",
                r#"[{"name":"R","managed_policy_arns":["arn:aws:iam::aws:policy/A"],"account":"1111-2222-3333"}]"#,
            ),
            (
                "ROLE_CATALOG",
                r#"[{"name":"R","managed_policy_arns":["arn:aws:iam::aws:policy/A"],"account":"11112222333"}]"#,
            ),
            (
                "ROLE_CATALOG",
                r#"[{"name":"R","managed_policy_arns":["arn:aws:iam::aws:policy/A"],"account":111122223333}]"#,
            ),
            ("SPOKE_ROLE_NAME", "spoke role"),
        ];
        for (variable, value) in cases {
            let error = config(&[(variable, value)])
                .expect_err(&format!("{variable}={value} must be refused"));
            assert_eq!(error.variable, *variable, "{value}");
            assert!(error.to_string().contains(variable));
        }
    }

    #[test]
    fn a_catalog_outside_the_stacks_parameters_is_refused_naming_the_entry() {
        let catalog = r#"[{"name":"Reader","managed_policy_arns":["arn:aws:iam::aws:policy/ReadOnlyAccess"]},
                          {"name":"Builder","managed_policy_arns":["arn:aws:iam::aws:policy/PowerUserAccess"],
                           "account":"111122223333"}]"#;
        let with = |names: &'static str, arns: &'static str| {
            Config::from_lookup(move |name| match name {
                "ROLE_CATALOG" => Some(catalog.to_string()),
                "CATALOG_ROLE_NAMES" => Some(names.to_string()),
                "CATALOG_MANAGED_POLICY_ARNS" => Some(arns.to_string()),
                _ => None,
            })
        };
        let both =
            "arn:aws:iam::aws:policy/ReadOnlyAccess, arn:aws:iam::aws:policy/PowerUserAccess";
        assert!(with("Reader,Builder", both).is_ok());
        // Unset or empty (SAM passes empty parameters): nothing to bound by.
        assert!(with("", "").is_ok());
        let refused = with("Reader", both).unwrap_err();
        assert_eq!(refused.variable, "ROLE_CATALOG");
        assert!(
            refused
                .reason
                .contains(r#"role "Builder" is not in CATALOG_ROLE_NAMES"#),
            "{refused}"
        );
        let refused = with("Reader,Builder", "arn:aws:iam::aws:policy/ReadOnlyAccess").unwrap_err();
        assert!(
            refused.reason.contains(r#"role "Builder": "arn:aws:iam::aws:policy/PowerUserAccess" is not in CATALOG_MANAGED_POLICY_ARNS"#),
            "{refused}"
        );

        let parsed = parse_catalog(catalog).unwrap();
        assert_eq!(
            CatalogParameters::of(&parsed),
            CatalogParameters {
                role_names: vec!["Reader".into(), "Builder".into()],
                managed_policy_arns: vec![
                    "arn:aws:iam::aws:policy/ReadOnlyAccess".into(),
                    "arn:aws:iam::aws:policy/PowerUserAccess".into()
                ],
                spoke_account_ids: vec!["111122223333".into()],
            }
        );
    }

    #[test]
    fn a_catalog_entry_past_iams_limits_is_refused() {
        let big_statement = format!(
            r#"{{"Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":[{}]}}]}}"#,
            (0..400)
                .map(|i| format!(r#""arn:aws:s3:::bucket-number-{i}/*""#))
                .collect::<Vec<_>>()
                .join(",")
        );
        let many: Vec<String> = (0..21)
            .map(|i| format!(r#""arn:aws:iam::123456789012:policy/p{i}""#))
            .collect();
        for (catalog, expected) in [
            (
                format!(r#"[{{"name":"R","inline_policy":{big_statement}}}]"#),
                "over IAM's 10240",
            ),
            (
                format!(
                    r#"[{{"name":"R","managed_policy_arns":[{}]}}]"#,
                    many.join(",")
                ),
                "21 managed policies, over IAM's 20",
            ),
            (
                format!(
                    r#"[{{"name":"R","managed_policy_arns":["arn:aws:iam::aws:policy/ReadOnlyAccess"],"description":"{}"}}]"#,
                    "x".repeat(1001)
                ),
                "description must be at most 1000",
            ),
        ] {
            let refused = parse_catalog(&catalog).unwrap_err();
            assert!(refused.reason.contains(expected), "{refused}");
        }
    }

    #[test]
    fn drift_settings_defaults_and_refusals() {
        let defaults = DriftSettings::from_lookup(|_| None).unwrap();
        assert_eq!(defaults, DriftSettings::default());
        assert_eq!(
            (
                defaults.mfa_grace_days,
                defaults.access_key_max_age_days,
                defaults.access_key_max_unused_days
            ),
            (7, 90, 45)
        );
        assert!(
            !defaults.remediate && !defaults.remediate_keys && defaults.alert_topic_arn.is_none()
        );
        for (variable, value) in [
            ("MFA_GRACE_DAYS", "a week"),
            ("ACCESS_KEY_MAX_AGE_DAYS", "-1"),
            ("REMEDIATE", "yes"),
            ("REMEDIATE_KEYS", "1"),
            ("ALERT_TOPIC_ARN", "arn:aws:sqs:us-east-1:123456789012:q"),
            ("SPOKE_ACCOUNT_IDS", "111122223333,12345"),
            ("ORGANIZATION_ACCOUNTS", "yes"),
            ("DRIFT_MAX_CONCURRENCY", "0"),
            ("DRIFT_MAX_CONCURRENCY", "10001"),
            ("DRIFT_TOLERATED_FAILURE_PERCENTAGE", "101"),
        ] {
            let error =
                DriftSettings::from_lookup(|name| (name == variable).then(|| value.to_string()))
                    .unwrap_err();
            assert_eq!(error.variable, variable);
        }
    }

    #[test]
    fn accepts_a_custom_catalog_and_modes() {
        let config = config(&[
            ("ROLE_CATALOG", r#"[{"name":"Ec2Launcher","inline_policy":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:RunInstances","Resource":"*"}]},"max_session_duration":7200,"description":"runs instances"}]"#),
            ("USER_PATH", "/people/dev/"),
            ("TRUST_MODE", "users"),
            ("GRANT_MODE", "inline"),
            ("MFA_MAX_AGE_SECONDS", "3600"),
            ("PERMISSIONS_BOUNDARY_ARN", "arn:aws:iam::123456789012:policy/Boundary"),
            ("USERNAME_CLAIM", ""),
        ])
        .unwrap();
        assert_eq!(config.catalog[0].max_session_duration, Some(7200));
        assert_eq!(config.user_path, "/people/dev/");
        assert_eq!(config.trust_mode, TrustMode::Users);
        assert_eq!(config.grant_mode, GrantMode::Inline);
        assert_eq!(config.mfa_max_age_seconds, Some(3600));
        assert_eq!(
            config.username_claim, "email",
            "an empty SAM parameter means the default"
        );
    }

    #[test]
    fn no_eligibility_rule_is_a_refusal_to_serve_naming_both_variables() {
        let closed = config(&[]).unwrap();
        assert_eq!(closed.eligibility, Eligibility::default());
        let error = closed.eligibility.require_a_rule().unwrap_err();
        assert_eq!(error.variable, "ELIGIBLE_GROUPS, ELIGIBLE_EMAIL_DOMAINS");
        assert!(error.reason.contains("ELIGIBLE_EVERYONE=true"), "{error}");
        // Empty values are SAM's empty parameters: still no rule.
        let empty = config(&[
            ("ELIGIBLE_GROUPS", ""),
            ("ELIGIBLE_EMAIL_DOMAINS", "[]"),
            ("ELIGIBLE_EVERYONE", "false"),
        ])
        .unwrap();
        assert!(empty.eligibility.require_a_rule().is_err());
        for rule in [
            ("ELIGIBLE_GROUPS", r#"["engineering"]"#),
            ("ELIGIBLE_EMAIL_DOMAINS", r#"["Example.COM"]"#),
            ("ELIGIBLE_EVERYONE", "true"),
        ] {
            let open = config(&[rule]).unwrap();
            assert!(open.eligibility.require_a_rule().is_ok(), "{rule:?}");
        }
        let domains = config(&[(
            "ELIGIBLE_EMAIL_DOMAINS",
            r#"["Example.COM", "corp.example.org"]"#,
        )])
        .unwrap();
        assert_eq!(
            domains.eligibility.email_domains,
            vec!["example.com", "corp.example.org"]
        );
    }

    #[test]
    fn eligibility_lists_are_json_arrays_of_names_and_domains_are_exact_host_names() {
        let cases = [
            ("ELIGIBLE_GROUPS", "engineering", "ELIGIBLE_GROUPS"),
            ("ELIGIBLE_GROUPS", r#"["a", ""]"#, "ELIGIBLE_GROUPS"),
            ("ELIGIBLE_GROUPS", r#"{"a": 1}"#, "ELIGIBLE_GROUPS"),
            (
                "ELIGIBLE_EMAIL_DOMAINS",
                "example.com",
                "ELIGIBLE_EMAIL_DOMAINS",
            ),
            (
                "ELIGIBLE_EMAIL_DOMAINS",
                r#"["@example.com"]"#,
                "ELIGIBLE_EMAIL_DOMAINS",
            ),
            (
                "ELIGIBLE_EMAIL_DOMAINS",
                r#"["*.example.com"]"#,
                "ELIGIBLE_EMAIL_DOMAINS",
            ),
            (
                "ELIGIBLE_EMAIL_DOMAINS",
                r#"["localhost"]"#,
                "ELIGIBLE_EMAIL_DOMAINS",
            ),
            (
                "ELIGIBLE_EMAIL_DOMAINS",
                r#"["example..com"]"#,
                "ELIGIBLE_EMAIL_DOMAINS",
            ),
            ("ELIGIBLE_EVERYONE", "yes", "ELIGIBLE_EVERYONE"),
        ];
        for (variable, value, named) in cases {
            let error = config(&[(variable, value)]).unwrap_err();
            assert_eq!(error.variable, named, "{variable}={value}");
        }
        // A domain vouches for nothing when the username is not the verified email claim.
        let error = config(&[
            ("USERNAME_CLAIM", "preferred_username"),
            ("ELIGIBLE_EMAIL_DOMAINS", r#"["example.com"]"#),
        ])
        .unwrap_err();
        assert_eq!(error.variable, "ELIGIBLE_EMAIL_DOMAINS");
    }
}

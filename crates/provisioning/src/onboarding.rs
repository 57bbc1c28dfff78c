//! Onboarding one user: observe, plan, apply. Every step is idempotent, so a request that failed half-way
//! is finished by sending it again.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::access::{MfaChoice, OnboardingOrder};
use crate::account::Account;
use crate::config::{CatalogRole, Config, TrustMode};
use crate::desired::granted_roles;
use crate::desired::{
    DesiredRole, DesiredUser, UserSpec, desired_role, desired_user, entitled_roles, grant,
    kept_trust_principals,
};
use crate::error::{Error, Result};
use crate::iam::{Applied, Iam, NewAccessKey, NewMfaDevice, Reading};
use crate::mfa::MfaView;
use crate::names::{KEY_SHOWN_TAG, ROLE_INLINE_POLICY_NAME};
use crate::plan::{Change, UnownedRole, in_apply_order, plan_grant_group, plan_role, plan_user};
use crate::policy::{policy_size, trusted_aws_principals};
use crate::secret::Secret;
use crate::state::{ObservedGroup, ObservedRole, ObservedUser};
pub use crate::timestamps::{parse_timestamp, rfc3339};

/// IAM's documented propagation time for a new access key.
pub const KEY_USABLE_AFTER_SECONDS: u64 = 15;
/// Below the functions' 29 s timeout (API Gateway gives up at 30 s): a key created by a request that
/// timed out would be a secret nobody ever receives.
pub(crate) const KEY_WAIT_LIMIT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Serialize)]
pub struct Named {
    pub name: String,
    pub arn: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct AccessKeyView {
    pub access_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usable_after_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usable: Option<bool>,
    /// On a replay: the key exists, but no response ever carried its secret (the request that created it
    /// died or timed out before answering). `recover_with` replaces it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub secret_lost: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recover_with: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OnboardingResult {
    /// True when this call created a secret (the user's key, or an MFA seed): the response is the only
    /// place it will ever appear.
    #[serde(skip)]
    pub created_secret: bool,
    pub user: Named,
    pub access_key: AccessKeyView,
    pub roles: Vec<Named>,
    pub mfa: MfaView,
    pub aws_cli_config: String,
}

pub async fn onboard(
    iam: &Iam,
    config: &Config,
    account: &Account,
    order: &OnboardingOrder,
    now: SystemTime,
) -> Result<OnboardingResult> {
    let secrets = if order.issue_secrets {
        Secrets::Issue
    } else {
        Secrets::Withhold
    };
    if let Pass::Done(result) = onboard_once(iam, config, account, order, now, secrets).await? {
        return Ok(*result);
    }
    // A concurrent request created the user between our read and our CreateUser. That request hands out
    // the key and the MFA seed; this one finishes whatever else it asked for, as a replay would.
    match onboard_once(iam, config, account, order, now, Secrets::Withhold).await? {
        Pass::Done(result) => Ok(*result),
        Pass::LostTheRace => Err(Error::aws(
            "CreateUser",
            format!("{} was created and deleted while we looked", order.username),
            true,
        )),
    }
}

/// How one onboarding pass ended.
enum Pass {
    Done(Box<OnboardingResult>),
    /// CreateUser found the user made since it was observed: a concurrent request won.
    LostTheRace,
}

/// Whether this pass hands out secrets (the access key, the MFA seed). A pass that lost the race to
/// create the user does not: the winner answers with them, and this one cannot tell a lost secret from
/// one about to be answered.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Secrets {
    Issue,
    Withhold,
}

/// One observe → plan → apply pass.
async fn onboard_once(
    iam: &Iam,
    config: &Config,
    account: &Account,
    order: &OnboardingOrder,
    now: SystemTime,
    secrets: Secrets,
) -> Result<Pass> {
    let requested_at = rfc3339(now);
    let observed = managed_or_absent(
        iam.observe_user(&order.username).await?,
        config,
        &order.username,
    )?;
    let granted = roles_to_grant(order, observed.as_ref(), config);
    let desired = desired_user(
        UserSpec {
            name: &order.username,
            roles: &granted,
            virtual_mfa: order.mfa == MfaChoice::Virtual,
            requested_by: &order.requested_by,
            requested_at: &requested_at,
        },
        config,
        account,
    );

    let grants = observe_grants(iam, config, account, &order.roles, false).await?;
    let plan = plan_onboarding(
        config,
        account,
        &desired,
        observed.as_ref(),
        &order.roles,
        &grants,
    );
    // Someone else's role: refused before anything is made for the user.
    if let Some(role) = plan.unowned_roles.into_iter().next() {
        return Err(Error::RoleExistsUnmanaged(role));
    }
    let (mut changes, roles) = (plan.changes, plan.roles);
    if secrets == Secrets::Withhold {
        changes.retain(|change| {
            !matches!(
                change,
                Change::CreateAccessKey { .. } | Change::EnsureVirtualMfaDevice { .. }
            )
        });
    }
    let mut quota = None;
    if config.trust_mode == TrustMode::Users {
        // Refused before anything is created; checked again under the lock, against a fresh read.
        quota = refuse_oversized_trust_policies(iam, &changes, None).await?;
        changes.retain(|change| !matches!(change, Change::UpdateTrustPolicy { .. }));
    }

    // A device left by an earlier request that died before answering (no key's secret was ever shown)
    // holds a seed nobody received: it is issued again, so this answer can carry one.
    let seed_never_shown = observed
        .as_ref()
        .is_some_and(|user| !user.tags.contains_key(KEY_SHOWN_TAG));
    let creates_device = changes
        .iter()
        .any(|change| matches!(change, Change::EnsureVirtualMfaDevice { .. }));
    if seed_never_shown && creates_device {
        iam.delete_virtual_mfa_device(&account.mfa_serial(&config.user_path, &order.username))
            .await?;
    }

    // The key comes last: a request that fails before it has created no secret, and one that fails
    // after it has nothing left to do but answer.
    let creates_key = changes
        .iter()
        .any(|change| matches!(change, Change::CreateAccessKey { .. }));
    changes.retain(|change| !matches!(change, Change::CreateAccessKey { .. }));
    let mut new_device = None;
    for change in in_apply_order(changes) {
        match iam.apply(&change).await? {
            Applied::UserAlreadyExists => return Ok(Pass::LostTheRace),
            Applied::VirtualMfaDevice(device) => new_device = device,
            Applied::AccessKey(_) | Applied::Done => {}
        }
    }
    if config.trust_mode == TrustMode::Users {
        for role in &order.roles {
            add_principal_to_trust_policy(iam, config, account, role, &desired.arn, quota).await?;
        }
    }
    let new_key = if creates_key {
        Some(iam.create_access_key(&order.username, 0).await?)
    } else {
        None
    };

    let observed_after = observed.as_ref();
    let usable = match (&new_key, order.wait_until_usable) {
        // The secret exists now and must reach the person: a failed check says "not yet usable".
        (Some(key), true) => Some(
            iam.wait_until_key_usable(key, KEY_WAIT_LIMIT)
                .await
                .inspect_err(|error| tracing::warn!(user = %order.username, error = %error, "could not check the new key with STS"))
                .unwrap_or(false),
        ),
        _ => None,
    };
    // The record says "this key's secret reached the person", so it is written last, after the wait
    // (bounded by the invocation's deadline): a request that dies before here leaves the key unrecorded,
    // and the replay reports the secret lost instead of believing it was shown.
    if let Some(key) = &new_key {
        record_key_shown(iam, &order.username, key).await;
    }
    let mfa = mfa_view(observed_after, new_device.as_ref(), order, config, account)?;
    // A request that lost the race to create the user cannot tell a lost secret from one the winner is
    // about to answer with; it says nothing about it.
    let access_key = access_key_view(observed_after, new_key.as_ref(), usable, secrets);
    Ok(Pass::Done(Box::new(OnboardingResult {
        created_secret: new_key.is_some() || new_device.is_some(),
        aws_cli_config: aws_cli_config(&order.username, &roles, mfa.serial_number.as_deref()),
        user: Named {
            name: desired.name.clone(),
            arn: desired.arn.clone(),
        },
        access_key,
        roles: roles
            .iter()
            .map(|role| Named {
                name: role.name.clone(),
                arn: role.arn.clone(),
            })
            .collect(),
        mfa,
    })))
}

/// The roles an onboarding grants and records: those asked for now, then those the user's record holds.
/// Onboarding takes no grant away, but the record is no entitlement of its own: a recorded role whose
/// grant is gone comes back only if the order may grant it today ([`OnboardingOrder::may_grant`]), and is
/// otherwise dropped from the record too, so that the drift check does not put it back either. Without
/// this, a person's own replay would undo an admin taking them out of a role only admins grant.
pub fn roles_to_grant(
    order: &OnboardingOrder,
    observed: Option<&ObservedUser>,
    config: &Config,
) -> Vec<CatalogRole> {
    let mut granted = order.roles.clone();
    let Some(user) = observed else {
        return granted;
    };
    let held = granted_roles(user, config);
    for role in entitled_roles(user, config) {
        if !granted.contains(role) && (held.contains(&role) || order.may_grant(role)) {
            granted.push(role.clone());
        }
    }
    granted
}

/// Tags the user with the id of the key whose secret is about to be answered, so that a replay can tell a
/// key whose secret was handed out from one whose creating request died before answering. Best effort:
/// the secret in hand matters more than the record, and a missing record only makes a replay advise a
/// rotation that was not needed.
pub(crate) async fn record_key_shown(iam: &Iam, user: &str, key: &NewAccessKey) {
    let change = Change::TagUser {
        user: user.to_string(),
        tags: vec![(KEY_SHOWN_TAG.to_string(), key.id.clone())],
    };
    if let Err(error) = iam.apply(&change).await {
        tracing::warn!(user, access_key_id = %key.id, error = %error, "could not record that the key's secret was shown");
    }
}

/// The catalog roles and grant groups an onboarding plan compares against, read once.
#[derive(Debug, Clone, Default)]
pub struct ObservedGrants {
    pub roles: Vec<ObservedRole>,
    pub groups: Vec<ObservedGroup>,
}

impl ObservedGrants {
    fn role(&self, name: &str) -> Option<&ObservedRole> {
        self.roles.iter().find(|role| role.name == name)
    }

    fn group(&self, name: &str) -> Option<&ObservedGroup> {
        self.groups.iter().find(|group| group.name == name)
    }
}

/// Reads the catalog roles and their grant groups: everything they hold when `complete` (what `status`
/// judges), otherwise only what an onboarding plan compares.
pub async fn observe_grants(
    iam: &Iam,
    config: &Config,
    account: &Account,
    catalog_roles: &[CatalogRole],
    complete: bool,
) -> Result<ObservedGrants> {
    let mut observed = ObservedGrants::default();
    for role in catalog_roles {
        let reading = if complete {
            Reading::Complete
        } else {
            role_reading_for_plan(role)
        };
        observed
            .roles
            .extend(iam.observe_role(&role.name, reading).await?);
        let grant = grant(role, config, account);
        if let Some(group) = &grant.group {
            let reading = if complete {
                Reading::Complete
            } else {
                Reading::ForPlan {
                    inline_policy: Some(&grant.policy_name),
                }
            };
            observed
                .groups
                .extend(iam.observe_group(group, reading).await?);
        }
    }
    Ok(observed)
}

fn role_reading_for_plan(role: &CatalogRole) -> Reading<'static> {
    Reading::ForPlan {
        inline_policy: role
            .inline_policy
            .is_some()
            .then_some(ROLE_INLINE_POLICY_NAME),
    }
}

/// What onboarding one user would change; pure.
#[derive(Debug, Clone, PartialEq)]
pub struct OnboardingPlan {
    pub changes: Vec<Change>,
    pub roles: Vec<DesiredRole>,
    /// Catalog roles that exist without the ownership tag and whose entry does not say `adopt`: nothing
    /// is planned for them, and onboarding refuses before it changes anything.
    pub unowned_roles: Vec<String>,
}

/// The plan of one user and the catalog roles and grant groups it needs.
pub fn plan_onboarding(
    config: &Config,
    account: &Account,
    desired: &DesiredUser,
    observed: Option<&ObservedUser>,
    catalog_roles: &[CatalogRole],
    grants: &ObservedGrants,
) -> OnboardingPlan {
    let mut plan = OnboardingPlan {
        changes: plan_user(desired, observed),
        roles: Vec::new(),
        unowned_roles: Vec::new(),
    };
    for role in catalog_roles {
        let observed_role = grants.role(&role.name);
        let desired_role = role_for(config, account, role, observed_role, &desired.arn);
        match plan_role(&desired_role, observed_role) {
            Ok(changes) => plan.changes.extend(changes),
            Err(UnownedRole(name)) => plan.unowned_roles.push(name),
        }
        let grant = grant(role, config, account);
        if let Some(group) = &grant.group {
            plan.changes
                .extend(plan_grant_group(&grant, grants.group(group)));
        }
        plan.roles.push(desired_role);
    }
    plan
}

/// Refuses a user that exists but is not ours: the one answer that must come before any change.
pub fn managed_or_absent(
    user: Option<ObservedUser>,
    config: &Config,
    name: &str,
) -> Result<Option<ObservedUser>> {
    match user {
        Some(user) if !user.is_managed(config) => Err(Error::UserExistsUnmanaged(name.to_string())),
        other => Ok(other),
    }
}

/// In `users` mode the desired trust policy keeps the managed users it already names and adds this one.
fn role_for(
    config: &Config,
    account: &Account,
    role: &CatalogRole,
    observed: Option<&ObservedRole>,
    user_arn: &str,
) -> DesiredRole {
    let mut principals = Vec::new();
    if config.trust_mode == TrustMode::Users {
        if let Some(current) = observed {
            principals = kept_trust_principals(
                &trusted_aws_principals(&current.trust_policy),
                config,
                account,
            );
        }
        principals.push(user_arn.to_string());
    }
    desired_role(role, config, account, &principals)
}

/// Refuses a trust policy above the account's quota; returns the quota if it had to be read, so that a
/// second check in the same request need not read it again (`known`).
async fn refuse_oversized_trust_policies(
    iam: &Iam,
    changes: &[Change],
    known: Option<usize>,
) -> Result<Option<usize>> {
    let mut quota = known;
    for change in changes {
        let (Change::CreateRole {
            name: role,
            trust_policy,
            ..
        }
        | Change::UpdateTrustPolicy { role, trust_policy }) = change
        else {
            continue;
        };
        let quota = match quota {
            Some(quota) => quota,
            None => *quota.insert(iam.trust_policy_size_quota().await?),
        };
        let size = policy_size(trust_policy);
        if size > quota {
            return Err(Error::TrustPolicyFull {
                role: role.clone(),
                size,
                quota,
            });
        }
    }
    Ok(quota)
}

/// In `users` mode the trust policy lists every holder: adding one is a read-modify-write, done under the
/// role's trust lock so that concurrent onboardings and offboardings never drop each other's principal.
async fn add_principal_to_trust_policy(
    iam: &Iam,
    config: &Config,
    account: &Account,
    role: &CatalogRole,
    user_arn: &str,
    quota: Option<usize>,
) -> Result<()> {
    let reading = role_reading_for_plan(role);
    iam.edit_trust_policy(account, &role.name, reading, async |current| {
        let desired = role_for(config, account, role, current.as_ref(), user_arn);
        // Checked again here: the role may have been replaced since the plan read it.
        let changes = plan_role(&desired, current.as_ref())?;
        refuse_oversized_trust_policies(iam, &changes, quota).await?;
        Ok(changes)
    })
    .await
    .map(drop)
}

fn mfa_view(
    observed: Option<&ObservedUser>,
    new_device: Option<&NewMfaDevice>,
    order: &OnboardingOrder,
    config: &Config,
    account: &Account,
) -> Result<MfaView> {
    if let Some(serial) = observed.and_then(|user| user.mfa_devices.first()) {
        return Ok(MfaView::enabled(serial.clone()));
    }
    match (new_device, order.mfa) {
        (Some(device), _) => MfaView::new_device(device, &order.username, account),
        (None, MfaChoice::Virtual) => Ok(MfaView::pending(
            account.mfa_serial(&config.user_path, &order.username),
        )),
        (None, MfaChoice::None) => Ok(MfaView::none()),
    }
}

fn access_key_view(
    observed: Option<&ObservedUser>,
    new_key: Option<&NewAccessKey>,
    usable: Option<bool>,
    secrets: Secrets,
) -> AccessKeyView {
    if let Some(key) = new_key {
        return AccessKeyView {
            access_key_id: Some(key.id.clone()),
            secret_access_key: Some(key.secret.clone()),
            usable_after_seconds: (usable != Some(true)).then_some(KEY_USABLE_AFTER_SECONDS),
            usable,
            secret_lost: false,
            recover_with: None,
        };
    }
    let Some(user) = observed else {
        return AccessKeyView::default();
    };
    let key = user
        .access_keys
        .iter()
        .find(|key| key.active)
        .or(user.access_keys.first());
    let secret_lost = secrets == Secrets::Issue
        && key.is_some_and(|key| user.tags.get(KEY_SHOWN_TAG) != Some(&key.id));
    AccessKeyView {
        access_key_id: key.map(|key| key.id.clone()),
        secret_lost,
        recover_with: secret_lost.then(|| format!("POST /users/{}/access-keys", user.name)),
        ..AccessKeyView::default()
    }
}

/// The `~/.aws/config` text: the user's own profile holds the long-term key; one profile per role assumes
/// it with MFA, so `aws --profile <user>-<Role> ...` prompts for a code.
pub fn aws_cli_config(username: &str, roles: &[DesiredRole], mfa_serial: Option<&str>) -> String {
    let mut text = format!(
        "# Store the access key with: aws configure --profile {username}\n[profile {username}]\n"
    );
    for role in roles {
        text.push_str(&format!(
            "\n[profile {username}-{}]\nrole_arn = {}\nsource_profile = {username}\n",
            role.name, role.arn
        ));
        if let Some(serial) = mfa_serial {
            text.push_str(&format!("mfa_serial = {serial}\n"));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::ROLES_TAG;

    fn catalog() -> Config {
        Config::from_lookup(|name| match name {
            "ROLE_CATALOG" => Some(
                r#"[{"name":"ResourceCreatorRole","managed_policy_arns":["arn:aws:iam::aws:policy/PowerUserAccess"],"self_service":true},
                    {"name":"ReadOnly","managed_policy_arns":["arn:aws:iam::aws:policy/ReadOnlyAccess"],"self_service":true},
                    {"name":"BreakGlass","managed_policy_arns":["arn:aws:iam::aws:policy/AdministratorAccess"]}]"#
                    .into(),
            ),
            _ => None,
        })
        .unwrap()
    }

    #[test]
    fn a_replay_puts_back_only_what_its_caller_may_ask_for_now() {
        let config = catalog();
        let rcr = "onboarding-ResourceCreatorRole";
        let break_glass = "onboarding-BreakGlass";
        // (case, the record, grant groups held, by an admin, expected roles)
        type Case<'a> = (&'a str, Option<&'a str>, &'a [&'a str], bool, &'a [&'a str]);
        let cases: &[Case] = &[
            (
                "self-service: an admin-only role whose grant was taken away stays away",
                Some("BreakGlass ResourceCreatorRole"),
                &[rcr],
                false,
                &["ResourceCreatorRole"],
            ),
            (
                "self-service: a self-service role whose grant went missing comes back",
                Some("ReadOnly ResourceCreatorRole"),
                &[rcr],
                false,
                &["ReadOnly", "ResourceCreatorRole"],
            ),
            (
                "self-service: an admin-only grant still in place is kept",
                Some("BreakGlass ResourceCreatorRole"),
                &[rcr, break_glass],
                false,
                &["BreakGlass", "ResourceCreatorRole"],
            ),
            (
                "admin: every recorded role comes back",
                Some("BreakGlass ResourceCreatorRole"),
                &[],
                true,
                &["BreakGlass", "ResourceCreatorRole"],
            ),
            (
                "a grant the record does not hold is not recorded by a replay",
                Some("ResourceCreatorRole"),
                &[rcr, break_glass],
                true,
                &["ResourceCreatorRole"],
            ),
            (
                "no record yet: the grants in place are the record",
                None,
                &[break_glass],
                false,
                &["BreakGlass", "ResourceCreatorRole"],
            ),
        ];
        for (case, record, groups, by_admin, expected) in cases {
            let order = OnboardingOrder {
                username: "dev".into(),
                roles: vec![config.catalog[0].clone()],
                mfa: MfaChoice::Virtual,
                wait_until_usable: false,
                requested_by: "dev".into(),
                issue_secrets: true,
                by_admin: *by_admin,
            };
            let user = ObservedUser {
                groups: groups.iter().map(|group| group.to_string()).collect(),
                tags: record
                    .map(|value| (ROLES_TAG.to_string(), value.to_string()))
                    .into_iter()
                    .collect(),
                ..ObservedUser::default()
            };
            let mut names: Vec<String> = roles_to_grant(&order, Some(&user), &config)
                .into_iter()
                .map(|role| role.name)
                .collect();
            names.sort();
            assert_eq!(names, *expected, "{case}");
            let new_user: Vec<String> = roles_to_grant(&order, None, &config)
                .into_iter()
                .map(|role| role.name)
                .collect();
            assert_eq!(new_user, ["ResourceCreatorRole"], "{case}: a new user");
        }
    }

    #[test]
    fn cli_config_has_a_profile_per_role_with_mfa() {
        let config = Config::from_lookup(|_| None).unwrap();
        let account = Account {
            id: "123456789012".into(),
            partition: "aws".into(),
        };
        let role = desired_role(&config.catalog[0], &config, &account, &[]);
        let text = aws_cli_config(
            "developer",
            &[role],
            Some("arn:aws:iam::123456789012:mfa/onboarded/developer"),
        );
        assert_eq!(
            text,
            "# Store the access key with: aws configure --profile developer\n[profile developer]\n\n\
             [profile developer-ResourceCreatorRole]\nrole_arn = arn:aws:iam::123456789012:role/ResourceCreatorRole\n\
             source_profile = developer\nmfa_serial = arn:aws:iam::123456789012:mfa/onboarded/developer\n"
        );
    }
}

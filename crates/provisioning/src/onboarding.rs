//! Onboarding one user: observe, plan, apply. Every step is idempotent, so a request that failed half-way
//! is finished by sending it again.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::Serialize;

use crate::access::{MfaChoice, OnboardingOrder};
use crate::account::Account;
use crate::aws_cli_config::aws_cli_config;
use crate::config::{CatalogRole, Config, TrustMode};
use crate::desired::{DesiredRole, UserSpec, desired_user, entitled_roles, granted_roles};
use crate::error::{Error, Result};
use crate::grants::{observe_grants, role_reading_for_plan};
use crate::iam::{Applied, Iam, NewAccessKey, NewMfaDevice};
use crate::key_handover::{KEY_USABLE_AFTER_SECONDS, KEY_WAIT_LIMIT, record_key_shown};
use crate::mfa::MfaView;
use crate::names::KEY_SHOWN_TAG;
use crate::plan::{Change, in_apply_order, plan_onboarding, plan_role, role_for};
use crate::policy::policy_size;
use crate::state::{AccessKeyInfo, ObservedUser};
use crate::timestamps::rfc3339;
use crate::views::{AccessKeyView, Named};

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
    /// What every session of a catalog role must carry as its source identity (the user name), or `None`
    /// where the deployment does not require one: the CLI sets it, and the person's own tools must.
    pub source_identity: Option<String>,
    pub aws_cli_config: String,
    /// [`ISSUED_TO_A_CONCURRENT_REQUEST`] when another request for the same person, at the same moment
    /// (a double click, a retry, a reload), made the access key and the MFA seed and answers with them:
    /// this answer has neither, and nothing was lost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secrets: Option<&'static str>,
}

pub const ISSUED_TO_A_CONCURRENT_REQUEST: &str = "issued_to_a_concurrent_request";

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
        Pass::Done(mut result) => {
            result.secrets = Some(ISSUED_TO_A_CONCURRENT_REQUEST);
            Ok(*result)
        }
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
    let mut prepared = prepare(iam, config, account, order, now, secrets).await?;

    // The secrets come last, under their own lock: a request that fails before them has created none,
    // and one that fails after has nothing left to do but answer.
    let (secret_changes, changes): (Vec<Change>, Vec<Change>) =
        std::mem::take(&mut prepared.changes)
            .into_iter()
            .partition(makes_a_secret);
    for change in in_apply_order(changes) {
        if let Applied::UserAlreadyExists = iam.apply(&change).await? {
            return Ok(Pass::LostTheRace);
        }
    }
    if config.trust_mode == TrustMode::Users {
        for role in &order.roles {
            let user_arn = &prepared.user.arn;
            add_principal_to_trust_policy(
                iam,
                config,
                account,
                role,
                user_arn,
                prepared.quotas.clone(),
            )
            .await?;
        }
    }
    let observed = prepared.observed.as_ref();
    // A key whose secret no answer has been recorded to carry: lost by a request that died, or being
    // handed over right now by one that holds the lock; the lock tells which.
    let key_unrecorded = secrets == Secrets::Issue
        && observed.is_some_and(|user| {
            current_key(user).is_some_and(|key| user.tags.get(KEY_SHOWN_TAG) != Some(&key.id))
        });
    let issued = if secret_changes.is_empty() && !key_unrecorded {
        Issued::Made(Made::nothing())
    } else {
        iam.with_user_secrets_lock(account, &order.username, async || {
            issue_secrets(iam, config, account, order, observed, &secret_changes).await
        })
        .await?
    };
    let (made, note) = match issued {
        Issued::Made(made) => (made, None),
        Issued::ToAConcurrentRequest => {
            // Described as it is now, with the key the other request made.
            prepared.observed = iam.observe_user(&order.username).await?;
            (Made::nothing(), Some(ISSUED_TO_A_CONCURRENT_REQUEST))
        }
    };
    let secrets = if note.is_some() {
        Secrets::Withhold
    } else {
        secrets
    };
    let mut result = answer(config, account, order, prepared, made, secrets)?;
    result.secrets = note;
    Ok(Pass::Done(Box::new(result)))
}

fn makes_a_secret(change: &Change) -> bool {
    matches!(
        change,
        Change::CreateAccessKey { .. } | Change::EnsureVirtualMfaDevice { .. }
    )
}

/// What issuing a person's secrets came to.
enum Issued {
    Made(Made),
    /// Another request for the same person made a key since this one looked: it answers with the
    /// secrets, and this one makes none.
    ToAConcurrentRequest,
}

/// Makes the access key and the MFA seed the plan asked for, and hands the key over (waits until it is
/// usable if asked, records that its secret is answered), holding the person's secrets lock. What this
/// request saw (`observed`, read before the lock) is checked against the keys and the record there are
/// now: a request that looked while another was between `CreateUser` and handing its key over makes no
/// second key, nor replaces that request's MFA seed, nor calls its secret lost.
async fn issue_secrets(
    iam: &Iam,
    config: &Config,
    account: &Account,
    order: &OnboardingOrder,
    observed: Option<&ObservedUser>,
    changes: &[Change],
) -> Result<Issued> {
    let seen: Vec<&str> = observed
        .map(|user| user.access_keys.iter().map(|key| key.id.as_str()).collect())
        .unwrap_or_default();
    let keys = iam.access_keys(&order.username).await?;
    let record = iam.key_shown_record(&order.username).await?;
    let seen_record = observed.and_then(|user| user.tags.get(KEY_SHOWN_TAG));
    if keys.iter().any(|key| !seen.contains(&key.id.as_str())) || record.as_ref() != seen_record {
        return Ok(Issued::ToAConcurrentRequest);
    }
    // A device left by an earlier request that died before answering (no key's secret was ever shown)
    // holds a seed nobody received: it is issued again, so this answer can carry one.
    let seed_never_shown = observed.is_some_and(|user| !user.tags.contains_key(KEY_SHOWN_TAG));
    let mut new_device = None;
    for change in changes {
        if let Change::EnsureVirtualMfaDevice { .. } = change {
            if seed_never_shown {
                iam.delete_virtual_mfa_device(
                    &account.mfa_serial(&config.user_path, &order.username),
                )
                .await?;
            }
            if let Applied::VirtualMfaDevice(device) = iam.apply(change).await? {
                new_device = device;
            }
        }
    }
    let new_key = if changes
        .iter()
        .any(|change| matches!(change, Change::CreateAccessKey { .. }))
    {
        Some(iam.create_access_key(&order.username, 0).await?)
    } else {
        None
    };
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
    Ok(Issued::Made(Made {
        new_device,
        new_key,
        usable,
    }))
}

/// What a pass read and decided before changing anything.
struct Prepared {
    observed: Option<ObservedUser>,
    user: Named,
    roles: Vec<DesiredRole>,
    changes: Vec<Change>,
    /// The trust policy size quotas the checks so far had to read.
    quotas: TrustQuotas,
}

/// `AssumeRolePolicySizeQuota` by account (`None`: the hub), each read at most once a request.
#[derive(Debug, Clone, Default)]
struct TrustQuotas(BTreeMap<Option<String>, usize>);

impl TrustQuotas {
    async fn of(&mut self, iam: &Iam, role: &str) -> Result<usize> {
        if let Some(quota) = self.0.get(&iam.home_of(role).map(str::to_string)) {
            return Ok(*quota);
        }
        let (home, quota) = iam.trust_policy_size_quota_of(role).await?;
        self.0.insert(home, quota);
        Ok(quota)
    }
}

/// The secrets a pass made, which its answer carries.
struct Made {
    new_device: Option<NewMfaDevice>,
    new_key: Option<NewAccessKey>,
    /// Whether STS accepted the new key, when the order asked to wait for it.
    usable: Option<bool>,
}

impl Made {
    fn nothing() -> Made {
        Made {
            new_device: None,
            new_key: None,
            usable: None,
        }
    }
}

/// Observes the user and its catalog roles, plans, and refuses what must be refused before any change.
async fn prepare(
    iam: &Iam,
    config: &Config,
    account: &Account,
    order: &OnboardingOrder,
    now: SystemTime,
    secrets: Secrets,
) -> Result<Prepared> {
    let requested_at = rfc3339(now);
    let observed = managed_or_absent(iam.observe_user(&order.username).await?, config)?;
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
    if let Some(refused) = plan.refused_roles.into_iter().next() {
        return Err(refused.into());
    }
    let mut changes = plan.changes;
    if secrets == Secrets::Withhold {
        changes.retain(|change| {
            !matches!(
                change,
                Change::CreateAccessKey { .. } | Change::EnsureVirtualMfaDevice { .. }
            )
        });
    }
    let mut quotas = TrustQuotas::default();
    if config.trust_mode == TrustMode::Users {
        // Refused before anything is created; checked again under the lock, against a fresh read.
        refuse_oversized_trust_policies(iam, &changes, &mut quotas).await?;
        changes.retain(|change| !matches!(change, Change::UpdateTrustPolicy { .. }));
    }
    Ok(Prepared {
        observed,
        user: Named {
            name: desired.name,
            arn: desired.arn,
        },
        roles: plan.roles,
        changes,
        quotas,
    })
}

/// The answer of a pass that made what it planned: the user, its key, roles and MFA.
fn answer(
    config: &Config,
    account: &Account,
    order: &OnboardingOrder,
    prepared: Prepared,
    made: Made,
    secrets: Secrets,
) -> Result<OnboardingResult> {
    let Made {
        new_device,
        new_key,
        usable,
    } = made;
    let observed = prepared.observed.as_ref();
    let mfa = mfa_view(observed, new_device.as_ref(), order, config, account)?;
    // A request that lost the race to create the user cannot tell a lost secret from one the winner is
    // about to answer with; it says nothing about it.
    let access_key = access_key_view(observed, new_key.as_ref(), usable, secrets)
        .sealed_to(order.encrypt_to.as_ref())?;
    let roles = &prepared.roles;
    let source_identity = config
        .require_source_identity
        .then(|| order.username.clone());
    Ok(OnboardingResult {
        created_secret: new_key.is_some() || new_device.is_some(),
        source_identity: source_identity.clone(),
        secrets: None,
        aws_cli_config: aws_cli_config(
            &order.username,
            roles,
            mfa.serial_number.as_deref(),
            source_identity.as_deref(),
        ),
        user: prepared.user,
        access_key,
        roles: roles
            .iter()
            .map(|role| Named {
                name: role.name.clone(),
                arn: role.arn.clone(),
            })
            .collect(),
        mfa,
    })
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

/// Refuses a user that exists but is not ours: the one answer that must come before any change.
pub fn managed_or_absent(
    user: Option<ObservedUser>,
    config: &Config,
) -> Result<Option<ObservedUser>> {
    match user {
        Some(user) if !user.is_managed(config) => Err(user.refusal(config)),
        other => Ok(other),
    }
}

/// Refuses a trust policy above the quota of the account its role lives in; `quotas` keeps what was read,
/// so that a second check in the same request need not read it again.
async fn refuse_oversized_trust_policies(
    iam: &Iam,
    changes: &[Change],
    quotas: &mut TrustQuotas,
) -> Result<()> {
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
        let quota = quotas.of(iam, role).await?;
        let size = policy_size(trust_policy);
        if size > quota {
            return Err(Error::TrustPolicyFull {
                role: role.clone(),
                size,
                quota,
            });
        }
    }
    Ok(())
}

/// In `users` mode the trust policy lists every holder: adding one is a read-modify-write, done under the
/// role's trust lock so that concurrent onboardings and offboardings never drop each other's principal.
async fn add_principal_to_trust_policy(
    iam: &Iam,
    config: &Config,
    account: &Account,
    role: &CatalogRole,
    user_arn: &str,
    mut quotas: TrustQuotas,
) -> Result<()> {
    let reading = role_reading_for_plan(role);
    iam.edit_trust_policy(account, &role.name, reading, async |current| {
        let desired = role_for(config, account, role, current.as_ref(), user_arn);
        // Checked again here: the role may have been replaced since the plan read it.
        let changes = plan_role(&desired, current.as_ref())?;
        refuse_oversized_trust_policies(iam, &changes, &mut quotas).await?;
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

/// The key an answer describes: the active one, else the first.
fn current_key(user: &ObservedUser) -> Option<&AccessKeyInfo> {
    user.access_keys
        .iter()
        .find(|key| key.active)
        .or(user.access_keys.first())
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
            ..AccessKeyView::default()
        };
    }
    let Some(user) = observed else {
        return AccessKeyView::default();
    };
    let key = current_key(user);
    let secret_lost = secrets == Secrets::Issue
        && key.is_some_and(|key| user.tags.get(KEY_SHOWN_TAG) != Some(&key.id));
    AccessKeyView {
        access_key_id: key.map(|key| key.id.clone()),
        secret_lost,
        recover_with: secret_lost.then(|| format!("POST /users/{}/access-keys", user.name)),
        ..AccessKeyView::default()
    }
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

    // Long: a table of cases (record, grants held, caller) with the roles each must give.
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
                encrypt_to: None,
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
}

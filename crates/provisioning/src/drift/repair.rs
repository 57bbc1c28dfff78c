//! `run` (the hub) and `run_for_account` (a member account): snapshot → check → with `REMEDIATE=true`,
//! repair what is marked automatic.

use super::*;

/// Applies one repair. In `users` mode a trust policy lists every holder and onboardings edit it while the
/// check runs, so its repair is made under the role's trust lock, against a fresh read: a user onboarded
/// since the snapshot was read is not in the snapshot, and keeps its principal.
pub(super) async fn repair(
    iam: &crate::iam::Iam,
    config: &Config,
    account: &Account,
    snapshot: &AccountSnapshot,
    change: &Change,
    now: SystemTime,
) -> crate::Result<()> {
    let users_mode = config.trust_mode == TrustMode::Users;
    if let Change::PutRolePolicy {
        role, policy_name, ..
    }
    | Change::DeleteRolePolicy { role, policy_name } = change
        && policy_name == REVOKED_SESSIONS
        && let Some(catalog_role) = config.catalog_role(role)
    {
        return prune_revoked_sessions(iam, config, account, catalog_role, now).await;
    }
    let Change::UpdateTrustPolicy { role, trust_policy } = change else {
        return iam.apply(change).await.map(|_| ());
    };
    let Some(catalog_role) = config.catalog_role(role).filter(|_| users_mode) else {
        return iam.apply(change).await.map(|_| ());
    };
    let known: BTreeSet<&str> = snapshot
        .users
        .iter()
        .map(|user| user.arn.as_str())
        .collect();
    let reading = crate::iam::Reading::WITHOUT_INLINE_POLICIES;
    iam.edit_trust_policy(account, role, reading, async |current| {
        // Principals added since the snapshot (a concurrent onboarding) are kept, if their user exists: one
        // whose user is gone (offboarded while this account could not be reached, where IAM has not yet
        // turned its ARN into a bare unique id) is not a newcomer.
        let candidates = current
            .map(|current| {
                kept_trust_principals(
                    &trusted_aws_principals(&current.trust_policy),
                    config,
                    account,
                )
            })
            .unwrap_or_default()
            .into_iter()
            .filter(|principal| !known.contains(principal.as_str()));
        let mut principals =
            kept_trust_principals(&trusted_aws_principals(trust_policy), config, account);
        for candidate in candidates {
            let name = candidate.rsplit('/').next().unwrap_or_default();
            if iam.current_user_arn(name).await?.as_deref() == Some(candidate.as_str()) {
                principals.push(candidate);
            }
        }
        let trust_policy = desired_role(catalog_role, config, account, &principals).trust_policy;
        Ok(vec![Change::UpdateTrustPolicy {
            role: role.clone(),
            trust_policy,
        }])
    })
    .await
    .map(drop)
}

/// The revoked-sessions policy as the finding meant it, from a fresh read under the role's lock: entries an
/// offboarding wrote since the snapshot are kept.
async fn prune_revoked_sessions(
    iam: &crate::iam::Iam,
    config: &Config,
    account: &Account,
    role: &CatalogRole,
    now: SystemTime,
) -> crate::Result<()> {
    let reading = crate::iam::Reading::ForPlan {
        inline_policy: Some(REVOKED_SESSIONS),
    };
    iam.edit_trust_policy(account, &role.name, reading, async |current| {
        let Some(observed) = current.filter(|observed| observed.is_owned(&config.stack_name))
        else {
            return Ok(Vec::new());
        };
        let current = observed.inline_policies.get(REVOKED_SESSIONS);
        let document = RevokedSessionsPolicy::read(current).with(
            None,
            now,
            max_session(role, &observed),
            room_beside(role.inline_policy.as_ref()),
        );
        Ok(write(&role.name, current, document).into_iter().collect())
    })
    .await
    .map(drop)
}

/// The scheduled check: read in bulk, find, and with `REMEDIATE=true` repair what is marked automatic.
/// A repair that fails leaves its finding `remediated: false` and is logged; the others still run.
pub async fn run(
    iam: &crate::iam::Iam,
    config: &Config,
    settings: &DriftSettings,
    account: &Account,
    now: SystemTime,
) -> crate::Result<Report> {
    let calls_before = iam.iam_calls();
    let snapshot = iam.snapshot(config).await?;
    let mut findings = check(&snapshot, config, settings, account, now);
    if settings.remediate {
        remediate(iam, config, account, &snapshot, &mut findings, now).await;
    }
    // Asked once a run, by the hub's own check, and only where the stack reads the Organization anyway.
    if settings.organization_accounts
        && let Some(management) =
            crate::iam::organization::management_account_id(iam.sdk_config()).await?
    {
        findings.extend(management_account_finding(account, &management));
    }
    Ok(Report::new(
        &snapshot,
        config,
        account,
        findings,
        iam.iam_calls() - calls_before,
        now,
    ))
}

/// The check of one member account (`iam` has reached it): the catalog roles living there, judged
/// against the hub's users (`hub_users` when an organisation run has read them already), and repaired
/// there. What the hub holds is the hub check's to report.
pub async fn run_for_account(
    iam: &crate::iam::Iam,
    config: &Config,
    settings: &DriftSettings,
    hub: &Account,
    member: &Account,
    hub_users: Option<Vec<ObservedUser>>,
    now: SystemTime,
) -> crate::Result<Report> {
    let calls_before = iam.iam_calls();
    let snapshot = match hub_users {
        Some(users) => iam.spoke_snapshot_with(config, &member.id, users).await?,
        None => iam.spoke_snapshot(config, &member.id).await?,
    };
    let in_member = format!("arn:{}:iam::{}:", member.partition, member.id);
    let mut findings = check(&snapshot, config, settings, hub, now);
    findings.retain(|finding| finding.resource_arn.starts_with(&in_member));
    if settings.remediate {
        remediate(iam, config, hub, &snapshot, &mut findings, now).await;
    }
    Ok(Report::new(
        &snapshot,
        config,
        member,
        findings,
        iam.iam_calls() - calls_before,
        now,
    ))
}

async fn remediate(
    iam: &crate::iam::Iam,
    config: &Config,
    account: &Account,
    snapshot: &AccountSnapshot,
    findings: &mut [Finding],
    now: SystemTime,
) {
    let mut applied: Vec<Change> = Vec::new();
    for finding in findings
        .iter_mut()
        .filter(|f| f.remediation == Remediation::Automatic)
    {
        let mut repaired = true;
        for change in &finding.repair {
            if applied.contains(change) {
                continue;
            }
            match repair(iam, config, account, snapshot, change, now).await {
                Ok(()) => applied.push(change.clone()),
                Err(error) => {
                    tracing::error!(rule = finding.rule, resource = %finding.resource_arn, error = %error, "repair failed");
                    repaired = false;
                    break;
                }
            }
        }
        finding.remediated = repaired;
    }
}

//! The rules about catalog roles: ownership, boundary, trust policy (MFA, principals, size), policies.

use super::*;

/// The parts of a role's plan that are findings of their own: adopting it (a role of that name that was
/// not tagged, whose catalog entry says `adopt`), and its permissions boundary. Their repairs are the
/// plan's own changes, so onboarding and the drift check cannot disagree about them.
pub(super) fn ownership_and_boundary_findings(
    desired: &DesiredRole,
    observed: &ObservedRole,
    plan: &[Change],
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for change in plan {
        match change {
            Change::TagRole { .. } => findings.push(ROLE_UNOWNED.finding(
                &desired.arn,
                format!(
                    "catalog role {} is not tagged {MANAGED_TAG}=true; its catalog entry says \"adopt\": true, so it is taken over",
                    desired.name
                ),
                json!({MANAGED_TAG: "true"}),
                json!(observed.tags),
                vec![change.clone()],
            )),
            Change::SetRoleBoundary { policy_arn, .. } => findings.push(ROLE_BOUNDARY_DRIFT.finding(
                &desired.arn,
                format!(
                    "catalog role {} does not have the permissions boundary {policy_arn}, which keeps its holders away from the stack",
                    desired.name
                ),
                json!(policy_arn),
                json!(observed.permissions_boundary),
                vec![change.clone()],
            )),
            _ => {}
        }
    }
    findings
}

pub(super) fn role_findings(
    desired: &DesiredRole,
    observed: &ObservedRole,
    config: &Config,
    account: &Account,
    quota: usize,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let trust = &observed.trust_policy;
    let repair_trust = || {
        vec![Change::UpdateTrustPolicy {
            role: desired.name.clone(),
            trust_policy: desired.trust_policy.clone(),
        }]
    };

    let loopholes = mfa_loopholes(trust);
    if !loopholes.is_empty() {
        findings.push(TRUST_MFA.finding(
            &desired.arn,
            format!(
                "{} can be assumed without MFA through {}",
                desired.name,
                loopholes.join(", ")
            ),
            desired.trust_policy.clone(),
            trust.clone(),
            repair_trust(),
        ));
    }

    let principals = allowed_principals(trust);
    let orphaned: Vec<&String> = principals.iter().filter(|p| is_unique_id(p)).collect();
    if !orphaned.is_empty() {
        findings.push(TRUST_ORPHANS.finding(
            &desired.arn,
            format!(
                "{} trusts bare unique ids left by deleted principals: {}",
                desired.name,
                join(&orphaned)
            ),
            json!([]),
            json!(orphaned),
            repair_trust(),
        ));
    }

    let expected_principals: BTreeSet<String> = allowed_principals(&desired.trust_policy)
        .into_iter()
        .collect();
    let mut extra: Vec<String> = principals
        .iter()
        .filter(|p| !is_unique_id(p) && !expected_principals.contains(*p) && **p != account.id)
        .cloned()
        .collect();
    if config.trust_mode == TrustMode::Account && !limited_to_managed_path(trust, config, account) {
        extra.push(format!(
            "every principal of account {} (no aws:PrincipalArn limit to {})",
            account.id, config.user_path
        ));
    }
    if !extra.is_empty() {
        findings.push(TRUST_PRINCIPALS.finding(
            &desired.arn,
            format!(
                "{} trusts more than the managed users: {}",
                desired.name,
                extra.join(", ")
            ),
            json!(expected_principals),
            json!(principals),
            repair_trust(),
        ));
    }

    // What is left: a difference that is neither a loophole nor an extra principal, e.g. a missing
    // MFA age limit. Principals of granted users that are missing are reported on those users.
    let missing_holders_only = {
        let kept: Vec<String> = principals
            .iter()
            .filter(|p| expected_principals.contains(*p))
            .cloned()
            .collect();
        semantically_equal(trust, &crate::policy::trust_policy(config, account, &kept))
    };
    if findings.is_empty()
        && !semantically_equal(trust, &desired.trust_policy)
        && !missing_holders_only
    {
        findings.push(TRUST_DRIFT.finding(
            &desired.arn,
            format!(
                "the trust policy of {} differs from the desired one",
                desired.name
            ),
            desired.trust_policy.clone(),
            trust.clone(),
            repair_trust(),
        ));
    }

    let size = policy_size(trust);
    if size.saturating_mul(10) > quota.saturating_mul(9) {
        findings.push(TRUST_NEAR_QUOTA.finding(
            &desired.arn,
            format!("the trust policy of {} uses {size} of {quota} characters; use TRUST_MODE=account or raise the quota", desired.name),
            json!(quota * 9 / 10),
            json!(size),
            Vec::new(),
        ));
    }

    let mut repair = Vec::new();
    let attached: BTreeSet<&String> = observed.attached_policies.iter().collect();
    let wanted: BTreeSet<&String> = desired.managed_policy_arns.iter().collect();
    for arn in wanted.difference(&attached) {
        repair.push(Change::AttachRolePolicy {
            role: desired.name.clone(),
            policy_arn: (*arn).clone(),
        });
    }
    for arn in attached.difference(&wanted) {
        repair.push(Change::DetachRolePolicy {
            role: desired.name.clone(),
            policy_arn: (*arn).clone(),
        });
    }
    for (name, document) in &observed.inline_policies {
        let wanted_document = desired
            .inline_policy
            .as_ref()
            .filter(|_| name == ROLE_INLINE_POLICY_NAME);
        if wanted_document.is_none() {
            repair.push(Change::DeleteRolePolicy {
                role: desired.name.clone(),
                policy_name: name.clone(),
            });
        } else if wanted_document.is_some_and(|wanted| !semantically_equal(wanted, document)) {
            repair.push(Change::PutRolePolicy {
                role: desired.name.clone(),
                policy_name: name.clone(),
                document: wanted_document.cloned().unwrap_or_default(),
            });
        }
    }
    if let Some(document) = &desired.inline_policy
        && !observed
            .inline_policies
            .contains_key(ROLE_INLINE_POLICY_NAME)
    {
        repair.push(Change::PutRolePolicy {
            role: desired.name.clone(),
            policy_name: ROLE_INLINE_POLICY_NAME.into(),
            document: document.clone(),
        });
    }
    if !repair.is_empty() {
        findings.push(ROLE_POLICY_DRIFT.finding(
            &desired.arn,
            format!("the permission policies of {} differ from the catalog", desired.name),
            json!({"managed_policy_arns": desired.managed_policy_arns, "inline_policies": desired.inline_policy.as_ref().map(|d| json!({ROLE_INLINE_POLICY_NAME: canonical(d)}))}),
            json!({"managed_policy_arns": observed.attached_policies, "inline_policies": observed.inline_policies.iter().map(|(n, d)| (n.clone(), canonical(d))).collect::<BTreeMap<_, _>>()}),
            repair,
        ));
    }
    findings
}

//! The rules about catalog roles: ownership, boundary, trust policy (MFA, principals, size), policies.

use super::*;

/// What the rules make of one catalog role.
pub(super) enum RoleVerdict {
    /// Ours (or missing, which the plan creates): its findings, with their repairs.
    Ours(Vec<Finding>),
    /// Someone else's role: reported, and neither judged nor repaired.
    NotOurs(Box<Finding>),
}

/// The findings about one catalog role, whose desired state is `desired`.
pub(super) fn catalog_role_findings(
    context: &Context,
    role: &CatalogRole,
    desired: &DesiredRole,
) -> RoleVerdict {
    let observed = context
        .snapshot
        .roles
        .iter()
        .find(|observed| observed.name == role.name);
    let Some(observed) = observed else {
        return RoleVerdict::Ours(vec![ROLE_MISSING.finding(
            &desired.arn,
            format!("catalog role {} does not exist", role.name),
            json!(role.name),
            Value::Null,
            // A role that does not exist is nobody's: the plan creates it.
            plan_role(desired, None).unwrap_or_default(),
        )]);
    };
    match plan_role(desired, Some(observed)) {
        Err(RefusedRole::Unowned(_)) => RoleVerdict::NotOurs(Box::new(ROLE_UNOWNED.finding(
            &desired.arn,
            format!(
                "catalog role {} exists but is not tagged {MANAGED_TAG}=true: the stack did not create it and does not change it; \"adopt\": true in its catalog entry takes it over",
                role.name
            ),
            json!({MANAGED_TAG: "true"}),
            json!(observed.tags),
            Vec::new(),
        ))),
        Err(RefusedRole::OtherStack { stack, .. }) => RoleVerdict::NotOurs(Box::new(ROLE_UNOWNED.finding(
            &desired.arn,
            format!(
                "catalog role {} is managed by another onboarding stack, {stack}, whose catalog has a role of the same name: this stack does not change it, and its grant group is that stack's too; take the role out of one of the two catalogs",
                role.name
            ),
            json!({STACK_TAG: context.config.stack_name}),
            json!({STACK_TAG: stack}),
            Vec::new(),
        ))),
        Ok(plan) => {
            let mut findings = ownership_and_boundary_findings(desired, observed, &plan);
            findings.extend(role_findings(context, desired, observed));
            findings.extend(revoked_sessions_drift(context, role, desired, observed));
            RoleVerdict::Ours(findings)
        }
    }
}

/// The parts of a role's plan that are findings of their own: adopting it (a role of that name that was
/// not tagged, whose catalog entry says `adopt`), and its permissions boundary. Their repairs are the
/// plan's own changes, so onboarding and the drift check cannot disagree about them.
fn ownership_and_boundary_findings(
    desired: &DesiredRole,
    observed: &ObservedRole,
    plan: &[Change],
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for change in plan {
        match change {
            Change::TagRole { .. } if observed.lacks_stack_tag() => findings.push(Finding {
                severity: Severity::Low,
                ..ROLE_UNOWNED.finding(
                    &desired.arn,
                    format!(
                        "catalog role {} is managed by the stack from before roles carried the stack's name ({STACK_TAG}): it is tagged now",
                        desired.name
                    ),
                    json!({STACK_TAG: desired.stack()}),
                    json!(observed.tags),
                    vec![change.clone()],
                )
            }),
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

/// The trust policy and permission policy rules of a role that is ours.
fn role_findings(
    context: &Context,
    desired: &DesiredRole,
    observed: &ObservedRole,
) -> Vec<Finding> {
    let principals = allowed_principals(&observed.trust_policy);
    let mut findings: Vec<Finding> = [
        trust_mfa(desired, observed),
        trust_source_identity(context, desired, observed),
        trust_orphans(desired, &principals),
        trust_principals(context, desired, observed, &principals),
    ]
    .into_iter()
    .flatten()
    .collect();
    // Only a difference none of the rules above explains.
    if findings.is_empty() {
        findings.extend(trust_drift(context, desired, observed, &principals));
    }
    findings.extend(trust_near_quota(context, desired, observed));
    findings.extend(role_policy_drift(desired, observed));
    findings
}

/// The revoked-sessions policy holds only what the stack wrote, and only while a session it matches can
/// still be alive. The repair is made under the role's lock against a fresh read (`repair`): an offboarding
/// since the snapshot adds an entry this finding does not know of.
fn revoked_sessions_drift(
    context: &Context,
    role: &CatalogRole,
    desired: &DesiredRole,
    observed: &ObservedRole,
) -> Option<Finding> {
    let current = observed.inline_policies.get(REVOKED_SESSIONS)?;
    let policy = RevokedSessionsPolicy::read(Some(current));
    let foreign = policy.foreign_statements;
    let entries = policy.entries.len();
    let document = policy.with(
        None,
        context.now,
        max_session(role, observed),
        room_beside(role.inline_policy.as_ref()),
    );
    let repair: Vec<Change> = write(&role.name, Some(current), document.clone())
        .into_iter()
        .collect();
    if repair.is_empty() {
        return None;
    }
    let kept = document.as_ref().map_or(0, |d| statements(d).len());
    let mut finding = REVOKED_SESSIONS_DRIFT.finding(
        &desired.arn,
        format!(
            "{REVOKED_SESSIONS} of {}: {foreign} statement(s) the stack did not write (edited by hand), {} entr(ies) no live session can match any more; {kept} kept",
            desired.name,
            entries.saturating_sub(kept)
        ),
        document.unwrap_or(Value::Null),
        current.clone(),
        repair,
    );
    if foreign == 0 {
        // Housekeeping only: every entry removed has outlived the sessions it could end.
        finding.severity = Severity::Low;
    }
    Some(finding)
}

fn repair_trust(desired: &DesiredRole) -> Vec<Change> {
    vec![Change::UpdateTrustPolicy {
        role: desired.name.clone(),
        trust_policy: desired.trust_policy.clone(),
    }]
}

fn trust_mfa(desired: &DesiredRole, observed: &ObservedRole) -> Option<Finding> {
    let loopholes = mfa_loopholes(&observed.trust_policy);
    (!loopholes.is_empty()).then(|| {
        TRUST_MFA.finding(
            &desired.arn,
            format!(
                "{} can be assumed without MFA through {}",
                desired.name,
                loopholes.join(", ")
            ),
            desired.trust_policy.clone(),
            observed.trust_policy.clone(),
            repair_trust(desired),
        )
    })
}

/// Judged only where the deployment requires a source identity (`REQUIRE_SOURCE_IDENTITY`), as the MFA
/// condition is: by what the policy admits, not by its text.
fn trust_source_identity(
    context: &Context,
    desired: &DesiredRole,
    observed: &ObservedRole,
) -> Option<Finding> {
    if !context.config.require_source_identity {
        return None;
    }
    let loopholes = source_identity_loopholes(&observed.trust_policy);
    (!loopholes.is_empty()).then(|| {
        TRUST_SOURCE_IDENTITY.finding(
            &desired.arn,
            format!(
                "{} can be assumed with a source identity other than the caller's user name (or none) through {}: its sessions do not name their person, and offboarding cannot end them",
                desired.name,
                loopholes.join(", ")
            ),
            desired.trust_policy.clone(),
            observed.trust_policy.clone(),
            repair_trust(desired),
        )
    })
}

fn trust_orphans(desired: &DesiredRole, principals: &[String]) -> Option<Finding> {
    let orphaned: Vec<&String> = principals.iter().filter(|p| is_unique_id(p)).collect();
    (!orphaned.is_empty()).then(|| {
        TRUST_ORPHANS.finding(
            &desired.arn,
            format!(
                "{} trusts bare unique ids left by deleted principals: {}",
                desired.name,
                join(&orphaned)
            ),
            json!([]),
            json!(orphaned),
            repair_trust(desired),
        )
    })
}

fn expected_principals(desired: &DesiredRole) -> BTreeSet<String> {
    allowed_principals(&desired.trust_policy)
        .into_iter()
        .collect()
}

fn trust_principals(
    context: &Context,
    desired: &DesiredRole,
    observed: &ObservedRole,
    principals: &[String],
) -> Option<Finding> {
    let Context {
        config, account, ..
    } = *context;
    let expected = expected_principals(desired);
    let mut extra: Vec<String> = principals
        .iter()
        .filter(|p| !is_unique_id(p) && !expected.contains(*p) && **p != account.id)
        .cloned()
        .collect();
    if config.trust_mode == TrustMode::Account
        && !limited_to_managed_path(&observed.trust_policy, config, account)
    {
        extra.push(format!(
            "every principal of account {} (no aws:PrincipalArn limit to {})",
            account.id, config.user_path
        ));
    }
    (!extra.is_empty()).then(|| {
        TRUST_PRINCIPALS.finding(
            &desired.arn,
            format!(
                "{} trusts more than the managed users: {}",
                desired.name,
                extra.join(", ")
            ),
            json!(expected),
            json!(principals),
            repair_trust(desired),
        )
    })
}

/// A difference that is neither a loophole nor an extra principal, e.g. a missing MFA age limit.
/// Principals of granted users that are missing are reported on those users.
fn trust_drift(
    context: &Context,
    desired: &DesiredRole,
    observed: &ObservedRole,
    principals: &[String],
) -> Option<Finding> {
    let trust = &observed.trust_policy;
    let expected = expected_principals(desired);
    let kept: Vec<String> = principals
        .iter()
        .filter(|p| expected.contains(*p))
        .cloned()
        .collect();
    let missing_holders_only = semantically_equal(
        trust,
        &crate::policy::trust_policy(context.config, context.account, &kept),
    );
    (!semantically_equal(trust, &desired.trust_policy) && !missing_holders_only).then(|| {
        TRUST_DRIFT.finding(
            &desired.arn,
            format!(
                "the trust policy of {} differs from the desired one",
                desired.name
            ),
            desired.trust_policy.clone(),
            trust.clone(),
            repair_trust(desired),
        )
    })
}

fn trust_near_quota(
    context: &Context,
    desired: &DesiredRole,
    observed: &ObservedRole,
) -> Option<Finding> {
    let quota = context.snapshot.trust_policy_size_quota;
    let size = policy_size(&observed.trust_policy);
    (size.saturating_mul(10) > quota.saturating_mul(9)).then(|| {
        TRUST_NEAR_QUOTA.finding(
            &desired.arn,
            format!("the trust policy of {} uses {size} of {quota} characters; use TRUST_MODE=account or raise the quota", desired.name),
            json!(quota * 9 / 10),
            json!(size),
            Vec::new(),
        )
    })
}

fn role_policy_drift(desired: &DesiredRole, observed: &ObservedRole) -> Option<Finding> {
    let repair = role_policy_repair(desired, observed);
    (!repair.is_empty()).then(|| {
        ROLE_POLICY_DRIFT.finding(
            &desired.arn,
            format!("the permission policies of {} differ from the catalog", desired.name),
            json!({"managed_policy_arns": desired.managed_policy_arns, "inline_policies": desired.inline_policy.as_ref().map(|d| json!({ROLE_INLINE_POLICY_NAME: canonical(d)}))}),
            json!({"managed_policy_arns": observed.attached_policies, "inline_policies": observed.inline_policies.iter().map(|(n, d)| (n.clone(), canonical(d))).collect::<BTreeMap<_, _>>()}),
            repair,
        )
    })
}

/// The changes that make a role's attached and inline policies the catalog's.
fn role_policy_repair(desired: &DesiredRole, observed: &ObservedRole) -> Vec<Change> {
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
    // The revoked-sessions policy is the stack's own, judged by its own rule.
    for (name, document) in observed
        .inline_policies
        .iter()
        .filter(|(name, _)| *name != crate::revoked_sessions::POLICY_NAME)
    {
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
    repair
}

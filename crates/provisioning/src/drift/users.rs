//! The rules about managed users: grants, extra permissions, console access, MFA, keys, boundary.

use super::*;

/// One user's findings. Long, but one pass over one user's grants, keys and MFA, in the order the rules
/// are listed; the parts share the user's own reads.
pub(super) fn user_findings(
    context: &Context,
    user: &ObservedUser,
    granted: &[&CatalogRole],
    desired_roles: &BTreeMap<&str, DesiredRole>,
) -> Vec<Finding> {
    let Context {
        snapshot,
        config,
        settings,
        account,
        now,
    } = *context;
    let mut findings = Vec::new();
    let name = &user.name;
    let arn = &user.arn;

    for role in granted {
        let grant = grant(role, config, account);
        let mut repair = Vec::new();
        match &grant.group {
            Some(group) if !user.groups.contains(group) => {
                repair.push(Change::AddUserToGroup {
                    user: name.clone(),
                    group: group.clone(),
                });
            }
            None if !user
                .inline_policies
                .get(&grant.policy_name)
                .is_some_and(|d| semantically_equal(d, &grant.document)) =>
            {
                repair.push(Change::PutUserPolicy {
                    user: name.clone(),
                    policy_name: grant.policy_name.clone(),
                    document: grant.document.clone(),
                });
            }
            _ => {}
        }
        if config.trust_mode == TrustMode::Users {
            let user_arn = account.user_arn(&config.user_path, name);
            let trusted = snapshot
                .roles
                .iter()
                .find(|r| r.name == role.name)
                .is_some_and(|r| allowed_principals(&r.trust_policy).contains(&user_arn));
            // No desired role for a catalog role that is not ours: its trust policy is not repaired.
            if let (false, Some(desired)) = (trusted, desired_roles.get(role.name.as_str())) {
                repair.push(Change::UpdateTrustPolicy {
                    role: role.name.clone(),
                    trust_policy: desired.trust_policy.clone(),
                });
            }
        }
        if !repair.is_empty() {
            findings.push(GRANT_MISSING.finding(
                arn,
                format!("{name} was granted {} but the grant is missing or altered", role.name),
                json!({"role": role.name, "policy": grant.policy_name, "group": grant.group}),
                json!({"groups": user.groups, "inline_policies": user.inline_policies.keys().collect::<Vec<_>>()}),
                repair,
            ));
        }
    }

    let allowed_groups: BTreeSet<String> = granted
        .iter()
        .filter_map(|role| grant(role, config, account).group)
        .collect();
    let allowed_inline: BTreeSet<String> = match config.grant_mode {
        GrantMode::Inline => granted
            .iter()
            .map(|role| grant_policy_name(&role.name))
            .collect(),
        GrantMode::Group => BTreeSet::new(),
    };
    let mut extras = Vec::new();
    let mut repair = Vec::new();
    for policy_arn in &user.attached_policies {
        extras.push(format!("attached policy {policy_arn}"));
        repair.push(Change::DetachUserPolicy {
            user: name.clone(),
            policy_arn: policy_arn.clone(),
        });
    }
    for policy_name in user
        .inline_policies
        .keys()
        .filter(|n| !allowed_inline.contains(*n))
    {
        extras.push(format!("inline policy {policy_name}"));
        repair.push(Change::DeleteUserPolicy {
            user: name.clone(),
            policy_name: policy_name.clone(),
        });
    }
    // The grant groups of the whole catalog are ours to change; any other group is not (DESIGN: never
    // touch what the project does not manage), and leaving it could lift a Deny it holds, such as a
    // quarantine an administrator put the person in. Such a membership is reported for a person to judge.
    let grant_groups: BTreeSet<String> = config
        .catalog
        .iter()
        .filter_map(|role| grant(role, config, account).group)
        .collect();
    let mut foreign_groups = Vec::new();
    for group in user.groups.iter().filter(|g| !allowed_groups.contains(*g)) {
        if grant_groups.contains(group) {
            extras.push(format!("group {group}"));
            repair.push(Change::RemoveUserFromGroup {
                user: name.clone(),
                group: group.clone(),
            });
        } else {
            foreign_groups.push(group.clone());
        }
    }
    let expected = json!({"groups": allowed_groups, "inline_policies": allowed_inline, "managed_policy_arns": []});
    let actual = json!({"groups": user.groups, "inline_policies": user.inline_policies.keys().collect::<Vec<_>>(), "managed_policy_arns": user.attached_policies});
    if !extras.is_empty() {
        findings.push(EXTRA_PERMISSIONS.finding(
            arn,
            format!(
                "{name} has permissions beyond its grants: {}",
                extras.join(", ")
            ),
            expected.clone(),
            actual.clone(),
            repair,
        ));
    }
    if !foreign_groups.is_empty() {
        findings.push(EXTRA_PERMISSIONS.finding(
            arn,
            format!(
                "{name} is a member of groups the stack does not manage: {} (remove by hand after checking that none of them holds a Deny)",
                foreign_groups.join(", ")
            ),
            expected,
            actual,
            Vec::new(),
        ));
    }

    if let Some(boundary) = &config.permissions_boundary_arn
        && user.permissions_boundary.as_ref() != Some(boundary)
    {
        findings.push(BOUNDARY_DRIFT.finding(
            arn,
            format!("{name} does not have the configured permissions boundary"),
            json!(boundary),
            json!(user.permissions_boundary),
            vec![Change::SetUserBoundary {
                user: name.clone(),
                policy_arn: boundary.clone(),
            }],
        ));
    }

    let Some(row) = snapshot.credentials.get(name) else {
        return findings;
    };
    if row.password_enabled {
        findings.push(CONSOLE_ACCESS.finding(
            arn,
            format!("{name} has a console password; managed users work through the CLI and assumed roles only"),
            json!(false),
            json!(true),
            vec![Change::DeleteLoginProfile { user: name.clone() }],
        ));
    }
    let grace = DAY * u32::try_from(settings.mfa_grace_days).unwrap_or(u32::MAX);
    if !row.mfa_active
        && row
            .created
            .is_some_and(|created| older_than(created, grace, now))
    {
        findings.push(MFA_MISSING.finding(
            arn,
            format!(
                "{name} has no MFA device {} days after creation: it cannot assume any role",
                settings.mfa_grace_days
            ),
            json!("an enabled virtual MFA device"),
            json!("none"),
            Vec::new(),
        ));
    }
    let other_serials = snapshot.other_mfa_serials.get(name);
    if row.mfa_active
        && !snapshot.users_with_virtual_mfa.contains(name)
        && other_serials.is_some_and(|serials| {
            !serials.is_empty() && serials.iter().all(|s| s.contains(":u2f/"))
        })
    {
        findings.push(MFA_NOT_TOTP.finding(
            arn,
            format!("{name} has only FIDO security keys, which sts:AssumeRole cannot use; enrol a virtual MFA device"),
            json!("a virtual (TOTP) MFA device"),
            json!(other_serials),
            Vec::new(),
        ));
    }

    let max_age = DAY * u32::try_from(settings.access_key_max_age_days).unwrap_or(u32::MAX);
    let max_unused = DAY * u32::try_from(settings.access_key_max_unused_days).unwrap_or(u32::MAX);
    let key_repair = |created: Option<SystemTime>| match (settings.remediate_keys, created) {
        (true, Some(created)) => vec![Change::DeactivateAccessKey {
            user: name.clone(),
            created,
        }],
        _ => Vec::new(),
    };
    for (position, key) in row
        .access_keys
        .iter()
        .enumerate()
        .filter(|(_, key)| key.active)
    {
        let label = format!("access key {} of {name}", position + 1);
        if key
            .created
            .is_some_and(|created| older_than(created, max_age, now))
        {
            findings.push(KEY_TOO_OLD.finding(
                arn,
                format!(
                    "{label} is older than {} days: rotate it with issue-key",
                    settings.access_key_max_age_days
                ),
                json!(format!(
                    "younger than {} days",
                    settings.access_key_max_age_days
                )),
                json!(key.created.map(crate::timestamps::rfc3339)),
                key_repair(key.created),
            ));
        }
        let last_activity = key.last_used.or(key.created);
        if last_activity.is_some_and(|at| older_than(at, max_unused, now)) {
            findings.push(KEY_UNUSED.finding(
                arn,
                format!(
                    "{label} has not been used for {} days",
                    settings.access_key_max_unused_days
                ),
                json!(format!(
                    "used within {} days",
                    settings.access_key_max_unused_days
                )),
                json!(key.last_used.map(crate::timestamps::rfc3339)),
                key_repair(key.created),
            ));
        }
    }
    if row.access_keys.iter().all(|key| key.active) {
        findings.push(TOO_MANY_KEYS.finding(
            arn,
            format!("{name} has two active access keys; deactivate the one no longer in use"),
            json!(1),
            json!(2),
            Vec::new(),
        ));
    }
    findings
}

pub(super) fn older_than(at: SystemTime, limit: Duration, now: SystemTime) -> bool {
    now.duration_since(at).is_ok_and(|age| age > limit)
}

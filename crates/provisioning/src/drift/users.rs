//! The rules about managed users: grants, extra permissions, console access, MFA, keys, boundary.

use super::*;
use crate::state::CredentialRow;

/// One user's findings, in the order the rules are listed.
pub(super) fn user_findings(
    context: &Context,
    user: &ObservedUser,
    granted: &[&CatalogRole],
    desired_roles: &BTreeMap<&str, DesiredRole>,
) -> Vec<Finding> {
    let mut findings: Vec<Finding> = granted
        .iter()
        .filter_map(|role| grant_missing(context, user, role, desired_roles))
        .collect();
    findings.extend(stack_tag_missing(context, user));
    findings.extend(extra_permissions(context, user, granted));
    findings.extend(boundary_drift(context, user));
    // The rules below read the credential report, which may not list a user created since it was made.
    let Some(row) = context.snapshot.credentials.get(&user.name) else {
        return findings;
    };
    findings.extend(console_access(user, row));
    findings.extend(mfa_missing(context, user, row));
    findings.extend(mfa_not_totp(context, user, row));
    findings.extend(key_findings(context, user, row));
    findings.extend(too_many_keys(user, row));
    findings
}

/// A managed user from before users carried the stack's name: adopted, so that a second stack sharing the
/// user path never takes it for its own.
fn stack_tag_missing(context: &Context, user: &ObservedUser) -> Option<Finding> {
    if user.tags.contains_key(STACK_TAG) {
        return None;
    }
    let stack = &context.config.stack_name;
    Some(STACK_TAG_MISSING.finding(
        &user.arn,
        format!(
            "{} is managed by the stack from before users carried the stack's name ({STACK_TAG}): it is tagged now",
            user.name
        ),
        json!({STACK_TAG: stack}),
        Value::Null,
        vec![Change::TagUser {
            user: user.name.clone(),
            tags: vec![(STACK_TAG.to_string(), stack.clone())],
        }],
    ))
}

/// A granted role whose grant (group membership or inline policy, and in `users` mode the role's trust
/// in the user) is missing or altered.
fn grant_missing(
    context: &Context,
    user: &ObservedUser,
    role: &CatalogRole,
    desired_roles: &BTreeMap<&str, DesiredRole>,
) -> Option<Finding> {
    let Context {
        snapshot,
        config,
        account,
        ..
    } = *context;
    let name = &user.name;
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
    (!repair.is_empty()).then(|| {
        GRANT_MISSING.finding(
            &user.arn,
            format!("{name} was granted {} but the grant is missing or altered", role.name),
            json!({"role": role.name, "policy": grant.policy_name, "group": grant.group}),
            json!({"groups": user.groups, "inline_policies": user.inline_policies.keys().collect::<Vec<_>>()}),
            repair,
        )
    })
}

/// What a user's permissions beyond its grants are made of: what the stack removes, and the memberships
/// of groups it does not manage, judged one by one.
#[derive(Default)]
struct Extras {
    described: Vec<String>,
    repair: Vec<Change>,
    foreign_groups: Vec<String>,
}

/// Permissions beyond the grants: attached or other inline policies and other grant groups (repaired),
/// and groups the stack does not manage (repaired when leaving them lifts no Deny, reported otherwise).
fn extra_permissions(
    context: &Context,
    user: &ObservedUser,
    granted: &[&CatalogRole],
) -> Vec<Finding> {
    let Context {
        config, account, ..
    } = *context;
    let name = &user.name;
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
    let extras = extras(context, user, &allowed_groups, &allowed_inline);
    let expected = json!({"groups": allowed_groups, "inline_policies": allowed_inline, "managed_policy_arns": []});
    let actual = json!({"groups": user.groups, "inline_policies": user.inline_policies.keys().collect::<Vec<_>>(), "managed_policy_arns": user.attached_policies});
    let mut findings = Vec::new();
    if !extras.described.is_empty() {
        findings.push(EXTRA_PERMISSIONS.finding(
            &user.arn,
            format!(
                "{name} has permissions beyond its grants: {}",
                extras.described.join(", ")
            ),
            expected.clone(),
            actual.clone(),
            extras.repair,
        ));
    }
    for group in &extras.foreign_groups {
        let (severity, message, repair) = match leaving(context, group) {
            Leaving::Unknown => (
                EXTRA_PERMISSIONS.severity,
                format!(
                    "{name} is a member of {group}, a group the stack does not manage whose policies were not read here: remove it by hand after checking that they hold no Deny"
                ),
                Vec::new(),
            ),
            Leaving::LiftsDenies(denies) => (
                EXTRA_PERMISSIONS.severity,
                format!(
                    "{name} is a member of {group}, a group the stack does not manage that holds a Deny ({}): leaving it would lift that Deny, so it is left to a person",
                    denies.join("; ")
                ),
                Vec::new(),
            ),
            // A managed user has no permissions of its own: whatever the group allows is an escalation.
            Leaving::Safe { allows: true } => (
                Severity::Critical,
                format!(
                    "{name} is a member of {group}, a group the stack does not manage that grants permissions and denies nothing: the user is taken out of it"
                ),
                leave(name, group),
            ),
            // Nothing to take away today, but anything attached to the group later would be.
            Leaving::Safe { allows: false } => (
                EXTRA_PERMISSIONS.severity,
                format!(
                    "{name} is a member of {group}, a group the stack does not manage that neither allows nor denies anything: the user is taken out of it"
                ),
                leave(name, group),
            ),
        };
        findings.push(Finding {
            severity,
            ..EXTRA_PERMISSIONS.finding(
                &user.arn,
                message,
                expected.clone(),
                actual.clone(),
                repair,
            )
        });
    }
    findings
}

fn leave(user: &str, group: &str) -> Vec<Change> {
    vec![Change::RemoveUserFromGroup {
        user: user.to_string(),
        group: group.to_string(),
    }]
}

/// What taking a managed user out of a group the stack does not manage would do, read from the group's
/// policies as the bulk read holds them.
enum Leaving {
    /// Its policies, or one of its managed policies' documents, were not read (`status` reads per user).
    Unknown,
    /// Leaving would lift these Denies: where each is, for the person who judges it.
    LiftsDenies(Vec<String>),
    /// No Deny anywhere in it: leaving only takes away what it allows.
    Safe { allows: bool },
}

fn leaving(context: &Context, group: &str) -> Leaving {
    let snapshot = context.snapshot;
    let Some(observed) = snapshot.other_groups.iter().find(|g| g.name == group) else {
        return Leaving::Unknown;
    };
    let mut policies: Vec<(String, &Value)> = observed
        .inline_policies
        .iter()
        .map(|(name, document)| (format!("inline policy {name}"), document))
        .collect();
    for arn in &observed.attached_policies {
        let Some(document) = snapshot.managed_policies.get(arn) else {
            return Leaving::Unknown;
        };
        policies.push((format!("managed policy {arn}"), document));
    }
    let mut allows = false;
    let mut denies = Vec::new();
    for (policy, document) in &policies {
        for (index, statement) in statements(document).into_iter().enumerate() {
            let effect = statement.get("Effect").and_then(Value::as_str);
            // Whatever is not plainly an Allow is taken for a Deny: the repair must never lift one.
            if effect.is_some_and(|effect| effect.eq_ignore_ascii_case("allow")) {
                allows = true;
                continue;
            }
            denies.push(match statement.get("Sid").and_then(Value::as_str) {
                Some(sid) if !sid.is_empty() => format!("{policy}, statement {sid:?}"),
                _ => format!("{policy}, statement #{}", index + 1),
            });
        }
    }
    if denies.is_empty() {
        Leaving::Safe { allows }
    } else {
        Leaving::LiftsDenies(denies)
    }
}

fn extras(
    context: &Context,
    user: &ObservedUser,
    allowed_groups: &BTreeSet<String>,
    allowed_inline: &BTreeSet<String>,
) -> Extras {
    let name = &user.name;
    let mut extras = Extras::default();
    for policy_arn in &user.attached_policies {
        extras
            .described
            .push(format!("attached policy {policy_arn}"));
        extras.repair.push(Change::DetachUserPolicy {
            user: name.clone(),
            policy_arn: policy_arn.clone(),
        });
    }
    for policy_name in user
        .inline_policies
        .keys()
        .filter(|n| !allowed_inline.contains(*n))
    {
        extras
            .described
            .push(format!("inline policy {policy_name}"));
        extras.repair.push(Change::DeleteUserPolicy {
            user: name.clone(),
            policy_name: policy_name.clone(),
        });
    }
    // The grant groups of the whole catalog are ours to change. Any other group is not (DESIGN: never
    // touch what the project does not manage): only the managed user's membership of it may go, and only
    // where that lifts no Deny the group holds, such as a quarantine an administrator put the person in.
    let grant_groups: BTreeSet<String> = context
        .config
        .catalog
        .iter()
        .filter_map(|role| grant(role, context.config, context.account).group)
        .collect();
    for group in user.groups.iter().filter(|g| !allowed_groups.contains(*g)) {
        if grant_groups.contains(group) {
            extras.described.push(format!("group {group}"));
            extras.repair.push(Change::RemoveUserFromGroup {
                user: name.clone(),
                group: group.clone(),
            });
        } else {
            extras.foreign_groups.push(group.clone());
        }
    }
    extras
}

fn boundary_drift(context: &Context, user: &ObservedUser) -> Option<Finding> {
    let boundary = context.config.permissions_boundary_arn.as_ref()?;
    (user.permissions_boundary.as_ref() != Some(boundary)).then(|| {
        BOUNDARY_DRIFT.finding(
            &user.arn,
            format!(
                "{} does not have the configured permissions boundary",
                user.name
            ),
            json!(boundary),
            json!(user.permissions_boundary),
            vec![Change::SetUserBoundary {
                user: user.name.clone(),
                policy_arn: boundary.clone(),
            }],
        )
    })
}

fn console_access(user: &ObservedUser, row: &CredentialRow) -> Option<Finding> {
    row.password_enabled.then(|| {
        CONSOLE_ACCESS.finding(
            &user.arn,
            format!("{} has a console password; managed users work through the CLI and assumed roles only", user.name),
            json!(false),
            json!(true),
            vec![Change::DeleteLoginProfile { user: user.name.clone() }],
        )
    })
}

fn mfa_missing(context: &Context, user: &ObservedUser, row: &CredentialRow) -> Option<Finding> {
    let settings = context.settings;
    let grace = DAY * u32::try_from(settings.mfa_grace_days).unwrap_or(u32::MAX);
    let overdue = row
        .created
        .is_some_and(|created| older_than(created, grace, context.now));
    (!row.mfa_active && overdue).then(|| {
        MFA_MISSING.finding(
            &user.arn,
            format!(
                "{} has no MFA device {} days after creation: it cannot assume any role",
                user.name, settings.mfa_grace_days
            ),
            json!("an enabled virtual MFA device"),
            json!("none"),
            Vec::new(),
        )
    })
}

fn mfa_not_totp(context: &Context, user: &ObservedUser, row: &CredentialRow) -> Option<Finding> {
    let snapshot = context.snapshot;
    let other_serials = snapshot.other_mfa_serials.get(&user.name);
    let only_fido = other_serials
        .is_some_and(|serials| !serials.is_empty() && serials.iter().all(|s| s.contains(":u2f/")));
    (row.mfa_active && !snapshot.users_with_virtual_mfa.contains(&user.name) && only_fido).then(
        || {
            MFA_NOT_TOTP.finding(
                &user.arn,
                format!("{} has only FIDO security keys, which sts:AssumeRole cannot use; enrol a virtual MFA device", user.name),
                json!("a virtual (TOTP) MFA device"),
                json!(other_serials),
                Vec::new(),
            )
        },
    )
}

/// Age and use of each active access key.
fn key_findings(context: &Context, user: &ObservedUser, row: &CredentialRow) -> Vec<Finding> {
    let Context { settings, now, .. } = *context;
    let name = &user.name;
    let max_age = DAY * u32::try_from(settings.access_key_max_age_days).unwrap_or(u32::MAX);
    let max_unused = DAY * u32::try_from(settings.access_key_max_unused_days).unwrap_or(u32::MAX);
    let key_repair = |created: Option<SystemTime>| match (settings.remediate_keys, created) {
        (true, Some(created)) => vec![Change::DeactivateAccessKey {
            user: name.clone(),
            created,
        }],
        _ => Vec::new(),
    };
    let mut findings = Vec::new();
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
                &user.arn,
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
                &user.arn,
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
    findings
}

fn too_many_keys(user: &ObservedUser, row: &CredentialRow) -> Option<Finding> {
    row.access_keys.iter().all(|key| key.active).then(|| {
        TOO_MANY_KEYS.finding(
            &user.arn,
            format!(
                "{} has two active access keys; deactivate the one no longer in use",
                user.name
            ),
            json!(1),
            json!(2),
            Vec::new(),
        )
    })
}

pub(super) fn older_than(at: SystemTime, limit: Duration, now: SystemTime) -> bool {
    now.duration_since(at).is_ok_and(|age| age > limit)
}

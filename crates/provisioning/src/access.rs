//! Who is calling, and what they may ask for. Identity comes only from the authorizer's JWT claims.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::{CatalogRole, Config};
use crate::error::{Error, Result};
use crate::names::is_valid_username;
use crate::sealed::SecretRecipient;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub username: String,
    pub groups: Vec<String>,
}

impl Caller {
    /// Reads the caller from the JWT claims. A missing or empty username claim is a refusal, and so is an
    /// `email` the identity provider has not verified: where people may edit their own address, an
    /// unverified one names whoever they claim to be.
    pub fn from_claims(claims: &Map<String, Value>, config: &Config) -> Result<Self> {
        let username = claims
            .get(&config.username_claim)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .ok_or_else(|| {
                Error::Unauthenticated(format!(
                    "the token carries no {:?} claim",
                    config.username_claim
                ))
            })?;
        if config.username_claim == "email" && !is_verified(claims.get("email_verified")) {
            return Err(Error::EmailNotVerified);
        }
        let groups = claims
            .get(&config.groups_claim)
            .map(parse_groups)
            .unwrap_or_default();
        Ok(Caller {
            username: username.to_string(),
            groups,
        })
    }

    pub fn is_admin(&self, config: &Config) -> bool {
        self.groups.iter().any(|group| group == &config.admin_group)
    }

    /// Whether this person may use the API at all (`ELIGIBLE_*`): an admin, a member of an eligible
    /// group, someone whose verified email is at an eligible domain, or anyone when the deployment says
    /// `ELIGIBLE_EVERYONE=true`. Decided from the claims alone, before any AWS call.
    pub fn ensure_eligible(&self, config: &Config) -> Result<()> {
        let rules = &config.eligibility;
        let in_group = self.groups.iter().any(|group| rules.groups.contains(group));
        // The username is the email claim whenever domains are configured (Config refuses otherwise), and
        // `from_claims` has already refused it unverified. A domain holds no '@', so the last one splits.
        let at_domain = self
            .username
            .rsplit_once('@')
            .map(|(_, domain)| domain.to_lowercase())
            .is_some_and(|domain| rules.email_domains.contains(&domain));
        if rules.everyone || self.is_admin(config) || in_group || at_domain {
            Ok(())
        } else {
            Err(Error::NotEligible(self.username.clone()))
        }
    }

    /// Self-service callers may act on themselves only; admins on anyone. IAM ignores case in user names, so
    /// a name that is the caller's only up to case is the same IAM user but not the caller's name: it is
    /// refused as such rather than acted on.
    pub fn may_act_on(&self, username: &str, config: &Config) -> Result<()> {
        if self.username == username || self.is_admin(config) {
            Ok(())
        } else if self.username.eq_ignore_ascii_case(username) {
            Err(Error::UsernameCaseMismatch {
                asked: username.to_string(),
                matches: self.username.clone(),
            })
        } else {
            Err(Error::Forbidden(format!(
                "{:?} may act only on their own user",
                self.username
            )))
        }
    }
}

/// `GET /me`: who the token says the caller is and which catalog roles they may ask for, so that a client
/// (the page) offers exactly what `POST /users` would accept from them. Read from the claims and the
/// catalog alone: no AWS call, and nothing about anyone else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WhoAmI {
    pub username: String,
    pub admin: bool,
    pub roles: Vec<RequestableRole>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestableRole {
    pub name: String,
    pub self_service: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The member account the role lives in; absent for the hub.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

impl WhoAmI {
    pub fn of(caller: &Caller, config: &Config) -> WhoAmI {
        let admin = caller.is_admin(config);
        WhoAmI {
            username: caller.username.clone(),
            admin,
            roles: config
                .catalog
                .iter()
                .filter(|role| admin || role.self_service)
                .map(|role| RequestableRole {
                    name: role.name.clone(),
                    self_service: role.self_service,
                    description: role.description.clone(),
                    account: role.account.clone(),
                })
                .collect(),
        }
    }
}

/// JWTs carry `email_verified` as a boolean, but API Gateway's HTTP API hands every claim to the function
/// as a string, and some identity providers send the string themselves.
fn is_verified(claim: Option<&Value>) -> bool {
    match claim {
        Some(Value::Bool(verified)) => *verified,
        Some(Value::String(text)) => text == "true",
        _ => false,
    }
}

/// A groups claim is a JSON array, or the string API Gateway's HTTP API makes of one: `"[a b c]"`, the
/// names joined by single spaces. Nothing else is read as a list: splitting on any other character (a comma,
/// a tab) or parsing JSON out of the string would let one group whose name holds that character pass for
/// several, among them the admin group. Anything else reads as no groups.
pub fn parse_groups(claim: &Value) -> Vec<String> {
    match claim {
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Value::String(text) => text
            .strip_prefix('[')
            .and_then(|inner| inner.strip_suffix(']'))
            .map(|inner| {
                inner
                    .split(' ')
                    .filter(|group| !group.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MfaChoice {
    #[default]
    Virtual,
    None,
}

/// The body of `POST /users`. Unknown fields are refused: a field we do not understand may be one that
/// was meant to carry authority.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnboardRequest {
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub roles: Option<Vec<String>>,
    #[serde(default)]
    pub mfa: MfaChoice,
    #[serde(default)]
    pub wait_until_usable: bool,
    /// An age X25519 recipient: the access key's secret is answered encrypted to it (crate::sealed).
    #[serde(default)]
    pub encrypt_to: Option<String>,
}

/// A validated, authorised onboarding: what the domain will make real.
#[derive(Debug, Clone)]
pub struct OnboardingOrder {
    pub username: String,
    pub roles: Vec<CatalogRole>,
    pub mfa: MfaChoice,
    pub wait_until_usable: bool,
    pub encrypt_to: Option<SecretRecipient>,
    pub requested_by: String,
    /// False when nobody is there to receive a secret (an EventBridge request): no access key and no MFA
    /// seed is created; the person collects them later with `issue-key` and `enroll-mfa`.
    pub issue_secrets: bool,
    /// Made with an admin's authority (an admin caller, or an EventBridge request): see [`Self::may_grant`].
    pub by_admin: bool,
}

impl OnboardingOrder {
    /// Whether this order may grant `role` now. A replay also re-grants the roles the user's record holds,
    /// and the record is no entitlement: a self-service order re-grants only what its caller could ask for
    /// today, so that a role an admin took away does not come back by the person's own request.
    pub fn may_grant(&self, role: &CatalogRole) -> bool {
        self.by_admin || role.self_service
    }
}

/// Validates the request, then decides whether the caller may make it. Nothing here touches AWS.
pub fn authorize_onboarding(
    caller: &Caller,
    request: OnboardRequest,
    config: &Config,
) -> Result<OnboardingOrder> {
    let encrypt_to = request
        .encrypt_to
        .as_deref()
        .map(SecretRecipient::parse)
        .transpose()?;
    let username = request.username.unwrap_or_else(|| caller.username.clone());
    if !is_valid_username(&username) {
        return Err(Error::InvalidUsername(format!(
            "{username:?} is not a valid IAM user name (1-64 letters, digits and +=,.@_-)"
        )));
    }
    let roles: Vec<CatalogRole> = match request.roles {
        None => config
            .catalog
            .iter()
            .filter(|role| role.self_service)
            .cloned()
            .collect(),
        Some(names) if names.is_empty() => {
            return Err(Error::InvalidRequest(
                "roles must name at least one catalog role, or be omitted".into(),
            ));
        }
        Some(names) => {
            let mut roles: Vec<CatalogRole> = Vec::new();
            for name in names {
                let role = config.catalog_role(&name).ok_or(Error::UnknownRole(name))?;
                if !roles.contains(role) {
                    roles.push(role.clone());
                }
            }
            roles
        }
    };

    caller.may_act_on(&username, config)?;
    if !caller.is_admin(config)
        && let Some(role) = roles.iter().find(|role| !role.self_service)
    {
        return Err(Error::Forbidden(format!(
            "role {:?} can only be granted by an admin",
            role.name
        )));
    }
    if roles.is_empty() {
        return Err(Error::InvalidRequest(
            "no self-service role in the catalog: name the roles to grant".into(),
        ));
    }

    Ok(OnboardingOrder {
        username,
        roles,
        mfa: request.mfa,
        wait_until_usable: request.wait_until_usable,
        encrypt_to,
        requested_by: caller.username.clone(),
        issue_secrets: true,
        by_admin: caller.is_admin(config),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config() -> Config {
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

    fn caller(name: &str, groups: &[&str]) -> Caller {
        Caller {
            username: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    fn request(body: Value) -> OnboardRequest {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn a_person_is_offered_the_self_service_roles_and_an_admin_every_role() {
        let config = config();
        let person = WhoAmI::of(&caller("dev@example.com", &[]), &config);
        assert_eq!(person.username, "dev@example.com");
        assert!(!person.admin);
        let names = |who: &WhoAmI| who.roles.iter().map(|r| r.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&person), ["ResourceCreatorRole", "ReadOnly"]);
        let admin = WhoAmI::of(
            &caller("boss@example.com", &[config.admin_group.as_str()]),
            &config,
        );
        assert!(admin.admin);
        assert_eq!(
            names(&admin),
            ["ResourceCreatorRole", "ReadOnly", "BreakGlass"]
        );
        // What the page offers is what POST /users accepts from the same caller.
        for role in &person.roles {
            let order = authorize_onboarding(
                &caller("dev@example.com", &[]),
                request(json!({"roles": [role.name]})),
                &config,
            );
            assert!(order.is_ok(), "{} offered but refused", role.name);
        }
        assert!(
            authorize_onboarding(
                &caller("dev@example.com", &[]),
                request(json!({"roles": ["BreakGlass"]})),
                &config
            )
            .is_err()
        );
    }

    /// One rule at a time, and the look-alikes each must not admit.
    #[test]
    fn eligibility_admits_exactly_the_groups_and_domains_named() {
        let with = |vars: &'static [(&'static str, &'static str)]| {
            Config::from_lookup(|name| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            })
            .unwrap()
        };
        let by_domain = with(&[("ELIGIBLE_EMAIL_DOMAINS", r#"["example.com"]"#)]);
        let by_group = with(&[("ELIGIBLE_GROUPS", r#"["engineering", "contractors"]"#)]);
        let everyone = with(&[("ELIGIBLE_EVERYONE", "true")]);
        let nobody = with(&[]);
        // (caller, groups, admitted by [domain, group, everyone, nobody])
        let cases: &[(&str, &[&str], [bool; 4])] = &[
            ("alice@example.com", &[], [true, false, true, false]),
            ("Alice@EXAMPLE.com", &[], [true, false, true, false]),
            ("mallory@evil-example.com", &[], [false, false, true, false]),
            ("mallory@a.example.com", &[], [false, false, true, false]),
            (
                "mallory@example.com.evil.org",
                &[],
                [false, false, true, false],
            ),
            ("mallory@examplecom", &[], [false, false, true, false]),
            ("example.com", &[], [false, false, true, false]),
            (
                "\"x@example.com\"@evil.org",
                &[],
                [false, false, true, false],
            ),
            (
                "bob@elsewhere.org",
                &["engineering"],
                [false, true, true, false],
            ),
            (
                "bob@elsewhere.org",
                &["Engineering"],
                [false, false, true, false],
            ),
            (
                "bob@elsewhere.org",
                &["engineering-alumni"],
                [false, false, true, false],
            ),
            (
                "root@elsewhere.org",
                &["onboarding-admins"],
                [true, true, true, true],
            ),
        ];
        for (name, groups, admitted) in cases {
            let caller = caller(name, groups);
            let rules = [
                (&by_domain, "domain"),
                (&by_group, "group"),
                (&everyone, "everyone"),
                (&nobody, "nobody"),
            ];
            for ((config, rule), expected) in rules.into_iter().zip(admitted) {
                match caller.ensure_eligible(config) {
                    Ok(()) => assert!(*expected, "{name} {groups:?} admitted by {rule}"),
                    Err(error) => {
                        assert!(!*expected, "{name} {groups:?} refused by {rule}");
                        assert_eq!(error.code(), "not_eligible");
                    }
                }
            }
        }
    }

    #[test]
    fn reads_the_caller_from_claims() {
        let config = config();
        let claims = json!({"email": "alice@example.com", "email_verified": "true", "cognito:groups": "[onboarding-admins devs]"});
        let caller = Caller::from_claims(claims.as_object().unwrap(), &config).unwrap();
        assert_eq!(caller.username, "alice@example.com");
        assert!(caller.is_admin(&config));
        for missing in [
            json!({}),
            json!({"email": "", "email_verified": true}),
            json!({"email": 42, "email_verified": true}),
            json!({"sub": "alice"}),
        ] {
            let error = Caller::from_claims(missing.as_object().unwrap(), &config).unwrap_err();
            assert_eq!(error.code(), "unauthenticated", "{missing}");
        }
    }

    #[test]
    fn an_email_names_the_caller_only_when_verified() {
        let email_config = config();
        let sub_config =
            Config::from_lookup(|name| (name == "USERNAME_CLAIM").then(|| "sub".into())).unwrap();
        // (claims, USERNAME_CLAIM=email, USERNAME_CLAIM=sub)
        let cases = [
            (json!({"email_verified": true}), Ok(()), Ok(())),
            (json!({"email_verified": "true"}), Ok(()), Ok(())),
            (json!({}), Err("email_not_verified"), Ok(())),
            (
                json!({"email_verified": false}),
                Err("email_not_verified"),
                Ok(()),
            ),
            (
                json!({"email_verified": "false"}),
                Err("email_not_verified"),
                Ok(()),
            ),
            (
                json!({"email_verified": "True"}),
                Err("email_not_verified"),
                Ok(()),
            ),
            (
                json!({"email_verified": " true"}),
                Err("email_not_verified"),
                Ok(()),
            ),
            (
                json!({"email_verified": 1}),
                Err("email_not_verified"),
                Ok(()),
            ),
            (
                json!({"email_verified": null}),
                Err("email_not_verified"),
                Ok(()),
            ),
            (
                json!({"email_verified": ["true"]}),
                Err("email_not_verified"),
                Ok(()),
            ),
            (
                json!({"Email_Verified": true}),
                Err("email_not_verified"),
                Ok(()),
            ),
        ];
        for (extra, as_email, as_sub) in cases {
            let mut claims = json!({"email": "alice@example.com", "sub": "alice"});
            for (key, value) in extra.as_object().unwrap() {
                claims[key] = value.clone();
            }
            let claims = claims.as_object().unwrap();
            for (config, expected) in [(&email_config, as_email), (&sub_config, as_sub)] {
                let outcome = Caller::from_claims(claims, config)
                    .map(|_| ())
                    .map_err(|e| e.code());
                assert_eq!(
                    outcome, expected,
                    "{extra} with USERNAME_CLAIM={}",
                    config.username_claim
                );
            }
        }
        let error = Caller::from_claims(
            json!({"email": "a@example.com"}).as_object().unwrap(),
            &email_config,
        )
        .unwrap_err();
        assert!(error.to_string().contains("email_verified"), "{error}");
    }

    #[test]
    fn groups_claim_in_every_shape() {
        let cases = [
            (
                json!(["a", "onboarding-admins"]),
                vec!["a", "onboarding-admins"],
            ),
            (
                json!("[a onboarding-admins]"),
                vec!["a", "onboarding-admins"],
            ),
            (json!("[onboarding-admins]"), vec!["onboarding-admins"]),
            (json!("[]"), vec![]),
            (json!([]), vec![]),
            (json!(["a", 7, null, "b"]), vec!["a", "b"]),
            // One group whose name holds a comma stays one group, in either shape.
            (json!(["x,onboarding-admins"]), vec!["x,onboarding-admins"]),
            (json!("[x,onboarding-admins]"), vec!["x,onboarding-admins"]),
            (
                json!("[a x,onboarding-admins]"),
                vec!["a", "x,onboarding-admins"],
            ),
            // API Gateway joins with single spaces: other whitespace is part of a name.
            (
                json!("[x\tonboarding-admins]"),
                vec!["x\tonboarding-admins"],
            ),
            (
                json!("[x\nonboarding-admins]"),
                vec!["x\nonboarding-admins"],
            ),
            // A JSON array inside the string is API Gateway's form of groups named with quotes and commas.
            (
                json!("[\"onboarding-admins\"]"),
                vec!["\"onboarding-admins\""],
            ),
            (
                json!("[\"a\",\"onboarding-admins\"]"),
                vec!["\"a\",\"onboarding-admins\""],
            ),
            // Neither a JSON array nor API Gateway's form: no groups.
            (json!("onboarding-admins"), vec![]),
            (json!("a,onboarding-admins"), vec![]),
            (json!("a onboarding-admins"), vec![]),
            (json!(" [onboarding-admins]"), vec![]),
            (json!("[onboarding-admins"), vec![]),
            (json!(7), vec![]),
            (json!(true), vec![]),
            (json!({"onboarding-admins": true}), vec![]),
            (json!(null), vec![]),
        ];
        for (claim, expected) in cases {
            assert_eq!(parse_groups(&claim), expected, "{claim}");
        }
    }

    #[test]
    fn a_group_named_with_a_comma_does_not_make_its_members_admins() {
        let config = config();
        for groups in [
            json!(["x,onboarding-admins"]),
            json!("[x,onboarding-admins]"),
            json!("x,onboarding-admins"),
        ] {
            let claims = json!({"email": "eve@example.com", "email_verified": "true", "cognito:groups": groups});
            let caller = Caller::from_claims(claims.as_object().unwrap(), &config).unwrap();
            assert!(!caller.is_admin(&config), "{groups}");
        }
    }

    #[test]
    fn names_are_compared_as_iam_compares_them() {
        let config = config();
        /// (caller, groups, the user acted on, outcome)
        type Case<'a> = (&'a str, &'a [&'a str], &'a str, Result<(), &'a str>);
        let cases: &[Case] = &[
            ("alice", &[], "alice", Ok(())),
            ("Alice", &[], "Alice", Ok(())),
            ("Alice", &[], "alice", Err("username_case_mismatch")),
            ("alice", &[], "ALICE", Err("username_case_mismatch")),
            (
                "Dev@Example.com",
                &[],
                "dev@example.com",
                Err("username_case_mismatch"),
            ),
            ("alice", &[], "alice2", Err("forbidden")),
            ("alice", &[], "bob", Err("forbidden")),
            // An admin may name any user; whether IAM holds it under another case is checked against IAM.
            ("Admin", &["onboarding-admins"], "admin", Ok(())),
            ("admin", &["onboarding-admins"], "Alice", Ok(())),
        ];
        for (name, groups, target, expected) in cases {
            let outcome = caller(name, groups)
                .may_act_on(target, &config)
                .map_err(|e| e.code());
            assert_eq!(outcome, *expected, "{name} on {target}");
        }
    }

    #[test]
    fn a_group_that_merely_contains_the_admin_name_is_not_admin() {
        let config = config();
        assert!(
            !caller(
                "bob",
                &["not-onboarding-admins", "onboarding-admins-readonly"]
            )
            .is_admin(&config)
        );
    }

    #[test]
    fn self_service_gets_all_self_service_roles_by_default() {
        let order =
            authorize_onboarding(&caller("bob", &[]), request(json!({})), &config()).unwrap();
        assert_eq!(order.username, "bob");
        let names: Vec<&str> = order.roles.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["ResourceCreatorRole", "ReadOnly"]);
        assert_eq!(order.mfa, MfaChoice::Virtual);
        assert_eq!(order.requested_by, "bob");
    }

    #[test]
    fn authorization_table() {
        let config = config();
        type Case<'a> = (&'a str, &'a [&'a str], Value, Result<&'a str, &'a str>);
        let cases: &[Case] = &[
            ("bob", &[], json!({"username": "bob"}), Ok("bob")),
            ("bob", &[], json!({"roles": ["ReadOnly"]}), Ok("bob")),
            ("bob", &[], json!({"username": "carol"}), Err("forbidden")),
            (
                "bob",
                &[],
                json!({"roles": ["BreakGlass"]}),
                Err("forbidden"),
            ),
            (
                "bob",
                &["onboarding-admins"],
                json!({"username": "carol", "roles": ["BreakGlass"]}),
                Ok("carol"),
            ),
            (
                "bob",
                &[],
                json!({"roles": ["NoSuchRole"]}),
                Err("unknown_role"),
            ),
            (
                "bob",
                &[],
                json!({"roles": ["arn:aws:iam::123456789012:role/Admin"]}),
                Err("unknown_role"),
            ),
            ("bob", &[], json!({"roles": []}), Err("invalid_request")),
            (
                "bob",
                &["onboarding-admins"],
                json!({"username": "has space"}),
                Err("invalid_username"),
            ),
            (
                "bob",
                &["onboarding-admins"],
                json!({"username": ""}),
                Err("invalid_username"),
            ),
            ("not valid!", &[], json!({}), Err("invalid_username")),
            (
                "Bob",
                &[],
                json!({"username": "bob"}),
                Err("username_case_mismatch"),
            ),
        ];
        for (name, groups, body, expected) in cases {
            let outcome =
                authorize_onboarding(&caller(name, groups), request(body.clone()), &config);
            match (outcome, expected) {
                (Ok(order), Ok(user)) => assert_eq!(&order.username, user, "{body}"),
                (Err(error), Err(code)) => assert_eq!(error.code(), *code, "{body}"),
                (outcome, expected) => {
                    panic!("{name} {body}: got {outcome:?}, expected {expected:?}")
                }
            }
        }
    }

    #[test]
    fn unknown_fields_and_bad_mfa_values_are_refused() {
        for body in [
            json!({"role_arn": "arn:aws:iam::1:role/x"}),
            json!({"mfa": "sms"}),
            json!({"username": 5}),
        ] {
            assert!(
                serde_json::from_value::<OnboardRequest>(body.clone()).is_err(),
                "{body}"
            );
        }
        assert_eq!(request(json!({"mfa": "none"})).mfa, MfaChoice::None);
    }

    #[test]
    fn duplicate_roles_are_granted_once() {
        let order = authorize_onboarding(
            &caller("bob", &[]),
            request(json!({"roles": ["ReadOnly", "ReadOnly"]})),
            &config(),
        )
        .unwrap();
        assert_eq!(order.roles.len(), 1);
    }
}

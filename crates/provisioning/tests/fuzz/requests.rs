//! Who is calling and what they may ask for (JWT claims, onboarding requests), EventBridge details, and
//! user names.

use super::*;

fn claims() -> impl Strategy<Value = Map<String, Value>> {
    let email = prop_oneof![
        valid_name().prop_map(Value::String),
        text().prop_map(Value::String),
        "[ \t\r\n\u{a0}\u{3000}]{0,4}".prop_map(Value::String),
        json(),
    ];
    let groups = prop_oneof![
        Just(json!(["onboarding-admins"])),
        Just(json!("[onboarding-admins devs]")),
        json(),
        text().prop_map(Value::String),
    ];
    let verified = prop_oneof![
        Just(json!(true)),
        Just(json!("true")),
        Just(json!(false)),
        Just(json!("false")),
        Just(json!("TRUE")),
        json(),
    ];
    let key = prop_oneof![
        one_of(&["email", "email_verified", "cognito:groups", "sub", "Email"]),
        text()
    ];
    (
        prop::option::of(email),
        prop::option::of(verified),
        prop::option::of(groups),
        vec((key, json()), 0..4),
    )
        .prop_map(|(email, verified, groups, others)| {
            let mut claims: Map<String, Value> = others.into_iter().collect();
            if let Some(email) = email {
                claims.insert("email".into(), email);
            }
            if let Some(verified) = verified {
                claims.insert("email_verified".into(), verified);
            }
            if let Some(groups) = groups {
                claims.insert("cognito:groups".into(), groups);
            }
            claims
        })
}

fn verified(claims: &Map<String, Value>) -> bool {
    matches!(claims.get("email_verified"), Some(v) if *v == json!(true) || *v == json!("true"))
}

fn role_names() -> impl Strategy<Value = Option<Vec<String>>> {
    let name = prop_oneof![
        4 => one_of(&ROLE_NAMES),
        1 => Just("arn:aws:iam::123456789012:role/ResourceCreatorRole".to_string()),
        1 => Just("resourcecreatorrole".to_string()),
        1 => text(),
    ];
    prop::option::of(vec(name, 0..4))
}

fn caller() -> impl Strategy<Value = Caller> {
    let groups = vec(
        prop_oneof![
            Just(ADMIN_GROUP.to_string()),
            Just("onboarding-admins-readonly".to_string()),
            text()
        ],
        0..3,
    );
    (prop_oneof![valid_name(), text()], groups)
        .prop_map(|(username, groups)| Caller { username, groups })
}

fn onboard_request(caller: &Caller) -> impl Strategy<Value = OnboardRequest> + use<> {
    let username = prop_oneof![
        Just(None),
        Just(Some(caller.username.clone())),
        Just(Some(caller.username.to_ascii_uppercase())),
        valid_name().prop_map(Some),
        text().prop_map(Some),
    ];
    let mfa = prop_oneof![Just(MfaChoice::Virtual), Just(MfaChoice::None)];
    // A recipient that is no age key, or none: authorisation's answer must not depend on it.
    let encrypt_to = prop_oneof![Just(None), text().prop_map(Some)];
    (username, role_names(), mfa, any::<bool>(), encrypt_to).prop_map(
        |(username, roles, mfa, wait_until_usable, encrypt_to)| OnboardRequest {
            username,
            roles,
            mfa,
            wait_until_usable,
            encrypt_to,
        },
    )
}

fn onboard_body() -> impl Strategy<Value = Value> {
    let field = prop_oneof![
        3 => one_of(&["username", "roles", "mfa", "wait_until_usable", "encrypt_to"]),
        1 => one_of(&["Username", "role_arn", "groups", "email"]),
        1 => text(),
    ];
    let value = prop_oneof![
        valid_name().prop_map(Value::String),
        role_names().prop_map(|roles| json!(roles)),
        one_of(&["virtual", "none", "VIRTUAL", "sms"]).prop_map(Value::String),
        any::<bool>().prop_map(Value::Bool),
        json(),
    ];
    vec((field, value), 0..4).prop_map(|fields| Value::Object(fields.into_iter().collect()))
}

fn caller_and_request() -> impl Strategy<Value = (Caller, OnboardRequest)> {
    caller().prop_flat_map(|caller| {
        let request = onboard_request(&caller);
        (Just(caller), request)
    })
}

proptest! {
    #[test]
    fn the_caller_is_the_username_claim_or_nobody(claims in claims()) {
        let config = config();
        match Caller::from_claims(&claims, &config) {
            Ok(caller) => {
                prop_assert!(verified(&claims), "{:?}", claims);
                let claimed = claims["email"].as_str().unwrap();
                prop_assert_eq!(caller.username.as_str(), claimed.trim());
                prop_assert!(!caller.username.is_empty());
            }
            Err(error) => {
                let usable = claims.get("email").and_then(Value::as_str).is_some_and(|e| !e.trim().is_empty());
                let expected = if usable { "email_not_verified" } else { "unauthenticated" };
                prop_assert_eq!(error.code(), expected, "{:?}", claims);
                prop_assert!(!usable || !verified(&claims), "{:?}", claims);
            }
        }
    }

    /// serde would also read the struct from an array, which has no field names to check: the HTTP layer
    /// (`functions::http`) hands it JSON objects only.
    #[test]
    fn an_onboarding_body_is_read_only_with_known_well_typed_fields(body in onboard_body()) {
        let fields = body.as_object().unwrap();
        let readable = fields.iter().all(|(field, value)| match field.as_str() {
            "username" => value.is_null() || value.is_string(),
            "roles" => value.is_null() || value.as_array().is_some_and(|r| r.iter().all(Value::is_string)),
            "mfa" => *value == "virtual" || *value == "none",
            "wait_until_usable" => value.is_boolean(),
            "encrypt_to" => value.is_null() || value.is_string(),
            _ => false,
        });
        match serde_json::from_value::<OnboardRequest>(body.clone()) {
            Ok(request) => {
                prop_assert!(readable, "{}", body);
                prop_assert_eq!(request.username.as_deref(), fields.get("username").and_then(Value::as_str));
                prop_assert_eq!(request.wait_until_usable, fields.get("wait_until_usable") == Some(&json!(true)));
            }
            Err(error) => prop_assert!(!readable, "{} refused: {}", body, error),
        }
    }

    #[test]
    fn an_authorised_onboarding_grants_only_what_the_caller_may_ask((caller, request) in caller_and_request()) {
        let config = config();
        let admin = caller.groups.iter().any(|g| g == ADMIN_GROUP);
        let asked = request.clone();
        match authorize_onboarding(&caller, request, &config) {
            Ok(order) => {
                prop_assert!(iam_user_name(&order.username), "{:?}", order.username);
                prop_assert!(!order.roles.is_empty());
                let names: Vec<&str> = order.roles.iter().map(|r| r.name.as_str()).collect();
                let distinct: HashSet<&str> = names.iter().copied().collect();
                prop_assert_eq!(distinct.len(), names.len(), "{:?}", names);
                prop_assert!(names.iter().all(|n| ROLE_NAMES.contains(n)), "{:?}", names);
                if let Some(asked) = &asked.roles {
                    prop_assert!(names.iter().all(|n| asked.iter().any(|a| a == n)), "{:?} {:?}", names, asked);
                } else {
                    prop_assert_eq!(&names[..], &SELF_SERVICE[..]);
                }
                if !admin {
                    prop_assert_eq!(&order.username, &caller.username);
                    prop_assert!(names.iter().all(|n| SELF_SERVICE.contains(n)), "{:?}", names);
                }
                prop_assert_eq!(&order.requested_by, &caller.username);
                prop_assert_eq!(order.mfa, asked.mfa);
                prop_assert!(order.issue_secrets);
            }
            Err(error) => {
                let code = error.code();
                prop_assert!(["invalid_username", "invalid_request", "invalid_recipient", "unknown_role", "forbidden", "username_case_mismatch"].contains(&code), "{}", code);
                if code == "invalid_recipient" {
                    prop_assert!(asked.encrypt_to.is_some());
                }
                // An admin asking for a valid user and catalog roles is never refused.
                let target = asked.username.clone().unwrap_or(caller.username.clone());
                // IAM's spelling of one user name in another case is told apart from someone else's name.
                if code == "username_case_mismatch" {
                    prop_assert!(!admin && target != caller.username && target.eq_ignore_ascii_case(&caller.username));
                }
                let roles_ok = asked.roles.as_ref().is_none_or(|r| !r.is_empty() && r.iter().all(|n| ROLE_NAMES.contains(&n.as_str())));
                prop_assert!(!(admin && iam_user_name(&target) && roles_ok && asked.encrypt_to.is_none()), "{} refused: {}", target, error);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// EventBridge details.

fn detail() -> impl Strategy<Value = Value> {
    let username = prop_oneof![
        valid_name().prop_map(Value::String),
        text().prop_map(Value::String),
        json()
    ];
    let requested_by = prop_oneof![
        "[A-Za-z0-9 _.:/=+@-]{1,40}".prop_map(Value::String),
        text().prop_map(Value::String),
        Just(json!("x".repeat(257))),
        json(),
    ];
    let roles = prop_oneof![
        role_names().prop_map(|roles| roles.map_or(Value::Null, |r| json!(r))),
        json(),
    ];
    let extra = (
        prop_oneof![one_of(&["role_arn", "Username", "mfa"]), text()],
        json(),
    );
    let structured = (
        prop::option::of(username),
        prop::option::of(requested_by),
        prop::option::of(roles),
        prop::option::of(extra),
    )
        .prop_map(|(username, requested_by, roles, extra)| {
            let mut detail = Map::new();
            if let Some((key, value)) = extra {
                detail.insert(key, value);
            }
            for (key, value) in [
                ("username", username),
                ("requested_by", requested_by),
                ("roles", roles),
            ] {
                if let Some(value) = value {
                    detail.insert(key.into(), value);
                }
            }
            Value::Object(detail)
        });
    prop_oneof![4 => structured, 1 => json()]
}

fn detail_type() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => one_of(&["Onboarding Requested", "Offboarding Requested"]),
        1 => one_of(&["onboarding requested", "Onboarding Requested ", "User Onboarded"]),
        1 => text(),
    ]
}

const DETAIL_FIELDS: [&str; 3] = ["username", "roles", "requested_by"];

proptest! {
    #[test]
    fn an_onboarding_event_is_accepted_only_when_it_is_valid(detail_type in detail_type(), detail in detail()) {
        match onboarding_order(&detail_type, &detail, &config()) {
            Ok(order) => {
                prop_assert_eq!(detail_type.as_str(), "Onboarding Requested");
                let fields = detail.as_object().unwrap();
                prop_assert!(fields.keys().all(|k| DETAIL_FIELDS.contains(&k.as_str())), "{}", detail);
                prop_assert!(iam_user_name(&order.username));
                prop_assert_eq!(Some(order.username.as_str()), detail["username"].as_str());
                prop_assert!(tag_value(&order.requested_by), "{:?}", order.requested_by);
                prop_assert_eq!(Some(order.requested_by.as_str()), detail["requested_by"].as_str());
                let names: Vec<&str> = order.roles.iter().map(|r| r.name.as_str()).collect();
                prop_assert!(!names.is_empty() && names.iter().all(|n| ROLE_NAMES.contains(n)), "{:?}", names);
                if detail["roles"].is_null() {
                    prop_assert_eq!(&names[..], &SELF_SERVICE[..]);
                }
                prop_assert!(!order.issue_secrets, "no secret on the EventBridge path");
            }
            Err(error) => {
                prop_assert!(["invalid_request", "invalid_username", "unknown_role"].contains(&error.code()), "{}", error.code());
            }
        }
    }

    #[test]
    fn an_offboarding_event_is_accepted_only_when_it_is_valid(detail_type in detail_type(), detail in detail()) {
        match offboarding_order(&detail_type, &detail) {
            Ok(order) => {
                prop_assert_eq!(detail_type.as_str(), "Offboarding Requested");
                let fields = detail.as_object().unwrap();
                prop_assert!(fields.keys().all(|k| DETAIL_FIELDS.contains(&k.as_str())), "{}", detail);
                prop_assert!(detail["roles"].is_null(), "roles are refused on offboarding: {}", detail);
                prop_assert!(iam_user_name(&order.username));
                prop_assert_eq!(Some(order.username.as_str()), detail["username"].as_str());
                prop_assert!(tag_value(&order.requested_by));
            }
            Err(error) => {
                prop_assert!(["invalid_request", "invalid_username"].contains(&error.code()), "{}", error.code());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// User names.

proptest! {
    #[test]
    fn user_names_follow_the_iam_rules(name in prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9+=,.@_-]{0,70}",
        "[a-zA-Z0-9+=,.@_/: \u{0430}\u{00e9}\u{ff41}\\x00-\\x1f-]{0,66}",
    ]) {
        prop_assert_eq!(is_valid_username(&name), iam_user_name(&name), "{:?}", name);
    }
}

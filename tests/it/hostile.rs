//! Named hostile requests through the real handlers against moto: bodies that are not JSON objects, too
//! deep or too large; user names IAM would refuse; roles outside the catalog; claims that are missing,
//! of the wrong type or contradict the body; and the same for EventBridge events. Each gets its status
//! and stable code, and IAM is exactly as it was before.

use crate::hostile_input;

use base64::Engine;
use functions::app::App;
use hostile_input::{Function, Snapshot};
use serde_json::{Value, json};
use test_support::*;

const DEV: &str = "dev@example.com";
const OTHER: &str = "other@example.com";
const ADMIN: &str = "admin@example.com";

/// The default catalog's role and one only an admin may grant.
const CATALOG: &str = r#"[{"name":"ResourceCreatorRole","managed_policy_arns":["arn:aws:iam::aws:policy/PowerUserAccess"],"self_service":true},
    {"name":"BreakGlass","managed_policy_arns":["arn:aws:iam::aws:policy/ReadOnlyAccess"]}]"#;

/// A moto server holding two managed users (`DEV`, self-service with a pending MFA device, and `OTHER`)
/// and an unmanaged one, and the app pointed at it.
struct Account {
    app: App,
    iam: aws_sdk_iam::Client,
    before: Snapshot,
    _moto: Moto,
}

impl Account {
    async fn start() -> Account {
        let moto = Moto::start();
        let app = moto.app(&[("ROLE_CATALOG", CATALOG)]).await;
        let iam = moto.iam().await;
        for (claims, body) in [
            (self_service(DEV), json!({})),
            (
                admin(ADMIN),
                json!({"username": OTHER, "roles": ["BreakGlass"]}),
            ),
        ] {
            let done = Function::Onboard
                .call(&app, http_event(claims, body, None))
                .await;
            assert_eq!(done.status, Some(201), "{done:?}");
        }
        iam.create_user().user_name("legacy").send().await.unwrap();
        let before = hostile_input::take(&iam).await;
        Account {
            app,
            iam,
            before,
            _moto: moto,
        }
    }

    /// Sends `event` to `function` and checks the refusal: `status` (`None` for an EventBridge reply, which
    /// must then be an `… Failed` outcome), `code`, no caching, and IAM untouched.
    async fn refuses(
        &self,
        function: Function,
        event: Value,
        status: Option<i64>,
        code: &str,
        case: &str,
    ) {
        let answer = function.call(&self.app, event).await;
        assert_eq!(answer.status, status, "{function:?} {case}: {answer:?}");
        assert_eq!(
            answer.code.as_deref(),
            Some(code),
            "{function:?} {case}: {answer:?}"
        );
        assert!(answer.is_refusal(), "{function:?} {case}: {answer:?}");
        assert_eq!(
            hostile_input::take(&self.iam).await,
            self.before,
            "{function:?} {case} changed IAM"
        );
    }
}

/// An API Gateway event with `body` as the raw body text (or base64).
fn with_body(claims: Value, body: &str, base64: bool, username: Option<&str>) -> Value {
    let mut event = http_event(claims, json!({}), username);
    event["body"] = json!(body);
    event["isBase64Encoded"] = json!(base64);
    event
}

fn encoded(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The functions that read a body, each with an admin acting on `DEV`: any body let through would
/// change IAM (onboard the admin, re-issue DEV's MFA device, give DEV a key, or remove DEV).
const BODY_READERS: [Function; 4] = [
    Function::Onboard,
    Function::EnrollMfa,
    Function::IssueKey,
    Function::Offboard,
];

#[tokio::test]
async fn bodies_that_are_not_json_objects_too_deep_or_too_large() {
    let account = Account::start().await;
    let megabytes = 5 * 1024 * 1024;
    let nested_arrays = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let nested_objects = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    let padded = format!("{{\"mfa\": \"none\"}}{}", " ".repeat(megabytes));
    let long_name = format!("{{\"username\": \"{}\"}}", "a".repeat(megabytes));
    let cases: Vec<(&str, String, bool, i64, &str)> = vec![
        (
            "not JSON",
            "username=dev".into(),
            false,
            400,
            "invalid_request",
        ),
        (
            "truncated JSON",
            "{\"username\": ".into(),
            false,
            400,
            "invalid_request",
        ),
        (
            "a JSON array",
            format!("[\"{DEV}\"]"),
            false,
            400,
            "invalid_request",
        ),
        ("an empty array", "[]".into(), false, 400, "invalid_request"),
        (
            "a JSON string",
            "\"{}\"".into(),
            false,
            400,
            "invalid_request",
        ),
        ("null", "null".into(), false, 400, "invalid_request"),
        (
            "invalid UTF-8 in base64",
            encoded(&[0xff, 0xfe, b'{', b'}']),
            true,
            400,
            "invalid_request",
        ),
        ("not base64", "e30=!".into(), true, 400, "invalid_request"),
        (
            "10,000 nested arrays",
            nested_arrays,
            false,
            400,
            "invalid_request",
        ),
        (
            "10,000 nested objects",
            nested_objects,
            false,
            400,
            "invalid_request",
        ),
        (
            "5 MiB of whitespace after a valid body",
            padded.clone(),
            false,
            413,
            "request_too_large",
        ),
        (
            "the same, base64-encoded",
            encoded(padded.as_bytes()),
            true,
            413,
            "request_too_large",
        ),
        ("a 5 MiB string", long_name, false, 413, "request_too_large"),
    ];
    for function in BODY_READERS {
        for (case, body, base64, status, code) in &cases {
            let event = with_body(admin(ADMIN), body, *base64, Some(DEV));
            account
                .refuses(function, event, Some(*status), code, case)
                .await;
        }
    }
    // A key said twice is refused rather than read one way here and another way by whatever else parses
    // the body on its way.
    let twice = format!(r#"{{"username": "{ADMIN}", "username": "{DEV}"}}"#);
    let event = with_body(self_service(ADMIN), &twice, false, None);
    account
        .refuses(
            Function::Onboard,
            event,
            Some(400),
            "invalid_request",
            "a duplicated key",
        )
        .await;
}

#[tokio::test]
async fn user_names_iam_would_refuse() {
    let account = Account::start().await;
    let sixty_five = "a".repeat(65);
    let names = [
        "a/b",
        "/onboarded/dev@example.com",
        "dev@example.com\u{0}",
        "dev\nadmin",
        "dev\u{1b}[31m",
        "\u{0430}dmin@example.com", // Cyrillic а
        "dev@example.com\u{200b}",
        "dev@exаmple.com", // Cyrillic а in the domain
        " dev@example.com",
        "dev example",
        sixty_five.as_str(),
        "",
    ];
    for name in names {
        let case = format!("{name:?}");
        let body = json!({"username": name});
        let event = http_event(admin(ADMIN), body, None);
        account
            .refuses(
                Function::Onboard,
                event,
                Some(400),
                "invalid_username",
                &case,
            )
            .await;
        for function in [
            Function::EnrollMfa,
            Function::Status,
            Function::IssueKey,
            Function::Offboard,
        ] {
            let event = http_event(admin(ADMIN), json!({}), Some(name));
            account
                .refuses(function, event, Some(400), "invalid_username", &case)
                .await;
        }
    }
    // The same names as a self-service caller's identity: the caller's user name is the claim.
    for name in [
        "a/b",
        "dev\nadmin",
        "\u{0430}dmin@example.com",
        sixty_five.as_str(),
    ] {
        let event = http_event(
            json!({"email": name, "email_verified": "true"}),
            json!({}),
            None,
        );
        account
            .refuses(
                Function::Onboard,
                event,
                Some(400),
                "invalid_username",
                &format!("claim {name:?}"),
            )
            .await;
    }
}

#[tokio::test]
async fn roles_outside_the_catalog_or_given_as_arns() {
    let account = Account::start().await;
    let cases = [
        (json!(["AdministratorAccess"]), "unknown_role"),
        (
            json!(["arn:aws:iam::123456789012:role/ResourceCreatorRole"]),
            "unknown_role",
        ),
        (
            json!(["arn:aws:iam::aws:policy/AdministratorAccess"]),
            "unknown_role",
        ),
        (json!(["resourcecreatorrole"]), "unknown_role"),
        (json!(["ResourceCreatorRole "]), "unknown_role"),
        (json!(["onboarding-ResourceCreatorRole"]), "unknown_role"),
        (json!(["ResourceCreatorRole", "Admin"]), "unknown_role"),
        (json!(["*"]), "unknown_role"),
        (json!([]), "invalid_request"),
        (json!("ResourceCreatorRole"), "invalid_request"),
        (json!([null]), "invalid_request"),
        (json!([{"name": "ResourceCreatorRole"}]), "invalid_request"),
    ];
    for (roles, code) in cases {
        let case = roles.to_string();
        let body = json!({"username": "new@example.com", "roles": roles});
        let event = http_event(admin(ADMIN), body, None);
        account
            .refuses(Function::Onboard, event, Some(400), code, &case)
            .await;
        if roles.as_array().is_some_and(|r| !r.is_empty()) {
            let detail =
                json!({"username": "new@example.com", "roles": roles, "requested_by": "HR-1"});
            let event = eventbridge("hostile-1", "Onboarding Requested", detail);
            let code = if code == "unknown_role" {
                code
            } else {
                "invalid_request"
            };
            account
                .refuses(Function::Onboard, event, None, code, &case)
                .await;
        }
    }
}

#[tokio::test]
async fn claims_missing_empty_or_of_the_wrong_type() {
    let account = Account::start().await;
    let contexts = [
        (
            "no authorizer",
            json!({"requestId": "r"}),
            401,
            "unauthenticated",
        ),
        (
            "a null authorizer",
            json!({"authorizer": null}),
            401,
            "unauthenticated",
        ),
        (
            "a null jwt",
            json!({"authorizer": {"jwt": null}}),
            401,
            "unauthenticated",
        ),
        (
            "a lambda authorizer instead",
            json!({"authorizer": {"lambda": {"email": DEV}}}),
            401,
            "unauthenticated",
        ),
        (
            "claims that are not an object",
            json!({"authorizer": {"jwt": {"claims": 42}}}),
            400,
            "invalid_request",
        ),
        (
            "claims as an array of numbers",
            json!({"authorizer": {"jwt": {"claims": [1, 2]}}}),
            400,
            "invalid_request",
        ),
        (
            "claims as a string",
            json!({"authorizer": {"jwt": {"claims": format!("email={DEV}")}}}),
            400,
            "invalid_request",
        ),
    ];
    let claims = [
        ("no claims", json!({})),
        (
            "no username claim",
            json!({"sub": "0000", "cognito:groups": "[onboarding-admins]"}),
        ),
        ("another claim's spelling", json!({"Email": DEV})),
        ("an empty username", json!({"email": ""})),
        ("a blank username", json!({"email": " \t\n"})),
        ("a null username", json!({"email": null})),
        ("a number", json!({"email": 42})),
        ("a boolean", json!({"email": true})),
        ("an object", json!({"email": {"name": DEV}})),
        ("an array of numbers", json!({"email": [1, 2]})),
        ("an array holding the name", json!({"email": [DEV]})),
    ];
    for function in Function::ALL {
        for (case, context, status, code) in &contexts {
            let mut event = http_event(json!({}), json!({}), Some(DEV));
            event["requestContext"] = context.clone();
            account
                .refuses(function, event, Some(*status), code, case)
                .await;
        }
        for (case, claims) in &claims {
            let event = http_event(claims.clone(), json!({}), Some(DEV));
            account
                .refuses(function, event, Some(401), "unauthenticated", case)
                .await;
        }
    }
    // A groups claim that is not the admin group, in any shape: offboarding stays an admin's.
    for groups in [
        json!(5),
        json!({"onboarding-admins": true}),
        json!([1, 2]),
        json!("Onboarding-Admins"),
        json!("[onboarding-admins-readonly]"),
        json!("[\"not-onboarding-admins\"]"),
        json!("onboarding-admins2"),
        json!([["onboarding-admins"]]),
        // Not a list of groups in API Gateway's form: a bare name is no list, and one group's name may
        // hold a comma, a tab or quotes without becoming several groups.
        json!("onboarding-admins"),
        json!("x,onboarding-admins"),
        json!("[x,onboarding-admins]"),
        json!("[devs x,onboarding-admins]"),
        json!(["x,onboarding-admins"]),
        json!("[x\tonboarding-admins]"),
        json!("[\"onboarding-admins\"]"),
    ] {
        let claims = json!({"email": DEV, "email_verified": "true", "cognito:groups": groups});
        let event = http_event(claims, json!({}), Some(OTHER));
        account
            .refuses(
                Function::Offboard,
                event,
                Some(403),
                "forbidden",
                &groups.to_string(),
            )
            .await;
    }
}

/// An `email` the identity provider does not vouch for names nobody, not even with the admin group.
#[tokio::test]
async fn an_unverified_email_is_refused_whatever_the_token_holds() {
    let account = Account::start().await;
    let verified = [
        ("absent", None),
        ("false", Some(json!(false))),
        ("\"false\"", Some(json!("false"))),
        ("\"True\"", Some(json!("True"))),
        ("1", Some(json!(1))),
        ("null", Some(Value::Null)),
        ("[true]", Some(json!([true]))),
    ];
    for function in Function::ALL {
        for (case, value) in &verified {
            for mut claims in [self_service(DEV), admin(ADMIN)] {
                match value {
                    Some(value) => claims["email_verified"] = value.clone(),
                    None => {
                        claims.as_object_mut().map(|c| c.remove("email_verified"));
                    }
                }
                let event = http_event(claims.clone(), json!({}), Some(DEV));
                account
                    .refuses(
                        function,
                        event,
                        Some(401),
                        "email_not_verified",
                        &format!("email_verified {case} in {claims}"),
                    )
                    .await;
            }
        }
    }
    // The boolean a JWT holds and the string API Gateway's HTTP API makes of it are both verified.
    for value in [json!(true), json!("true")] {
        let mut claims = self_service(DEV);
        claims["email_verified"] = value.clone();
        let status = status_as(&account.app, claims, DEV).await;
        assert_eq!(status.status, 200, "{value}: {}", status.body);
    }
}

/// IAM ignores case in user names: `Dev@…` acting on `dev@…` would act on the same IAM user, which is not
/// the name the caller holds. Refused with its own code, IAM untouched.
#[tokio::test]
async fn a_name_that_is_the_callers_only_up_to_case_is_refused() {
    let account = Account::start().await;
    let upper = DEV.to_ascii_uppercase();
    for (caller, target) in [("Dev@example.com", DEV), (DEV, upper.as_str())] {
        for function in [Function::EnrollMfa, Function::Status, Function::IssueKey] {
            let event = http_event(self_service(caller), json!({}), Some(target));
            account
                .refuses(
                    function,
                    event,
                    Some(409),
                    "username_case_mismatch",
                    &format!("{caller} on {target}"),
                )
                .await;
        }
        let event = http_event(self_service(caller), json!({"username": target}), None);
        account
            .refuses(
                Function::Onboard,
                event,
                Some(409),
                "username_case_mismatch",
                &format!("{caller} onboarding {target}"),
            )
            .await;
    }
}

#[tokio::test]
async fn claims_contradicting_the_body_or_the_route() {
    let account = Account::start().await;
    let dev = || self_service(DEV);
    let onboarding = [
        (json!({"username": OTHER}), 403, "forbidden"),
        (json!({"username": "new@example.com"}), 403, "forbidden"),
        (json!({"roles": ["BreakGlass"]}), 403, "forbidden"),
        (
            json!({"username": DEV, "roles": ["ResourceCreatorRole", "BreakGlass"]}),
            403,
            "forbidden",
        ),
        // Fields of authority are not read from a body: they are unknown, and refused.
        (json!({"email": ADMIN}), 400, "invalid_request"),
        (json!({"caller": ADMIN}), 400, "invalid_request"),
        (
            json!({"groups": ["onboarding-admins"]}),
            400,
            "invalid_request",
        ),
        (
            json!({"cognito:groups": "[onboarding-admins]"}),
            400,
            "invalid_request",
        ),
        (json!({"requested_by": ADMIN}), 400, "invalid_request"),
        (json!({"is_admin": true}), 400, "invalid_request"),
        (
            json!({"role_arn": "arn:aws:iam::123456789012:role/BreakGlass"}),
            400,
            "invalid_request",
        ),
    ];
    for (body, status, code) in onboarding {
        let case = body.to_string();
        let event = http_event(dev(), body, None);
        account
            .refuses(Function::Onboard, event, Some(status), code, &case)
            .await;
    }
    for function in [Function::EnrollMfa, Function::Status, Function::IssueKey] {
        let event = http_event(dev(), json!({}), Some(OTHER));
        account
            .refuses(function, event, Some(403), "forbidden", "another user")
            .await;
    }
    let codes = json!({"code1": "123456", "code2": "654321"});
    let event = http_event(dev(), codes, Some(OTHER));
    account
        .refuses(
            Function::EnrollMfa,
            event,
            Some(403),
            "forbidden",
            "another user's device",
        )
        .await;
    let event = http_event(dev(), json!({"username": OTHER}), Some(DEV));
    account
        .refuses(
            Function::IssueKey,
            event,
            Some(400),
            "invalid_request",
            "a user name in the body",
        )
        .await;
    for target in [DEV, OTHER] {
        let event = http_event(dev(), json!({}), Some(target));
        account
            .refuses(Function::Offboard, event, Some(403), "forbidden", target)
            .await;
    }
}

#[tokio::test]
async fn eventbridge_requests_that_must_be_refused() {
    let account = Account::start().await;
    let user = |detail: Value| -> Value {
        let mut base = json!({"username": "new.hire@example.com", "requested_by": "HR-1234"});
        for (key, value) in detail.as_object().unwrap() {
            if value.is_null() {
                base.as_object_mut().unwrap().remove(key);
            } else {
                base[key] = value.clone();
            }
        }
        base
    };
    let mut nested = json!("new.hire@example.com");
    for _ in 0..100 {
        nested = json!([nested]);
    }
    let both = [
        (
            "a string detail",
            json!("new.hire@example.com"),
            "invalid_request",
        ),
        (
            "an array detail",
            json!(["new.hire@example.com", null, "HR-1234"]),
            "invalid_request",
        ),
        ("an empty detail", json!({}), "invalid_request"),
        (
            "a path separator",
            user(json!({"username": "a/b"})),
            "invalid_username",
        ),
        (
            "a control character",
            user(json!({"username": "new\u{0}hire"})),
            "invalid_username",
        ),
        (
            "a Cyrillic look-alike",
            user(json!({"username": "new.hire@exаmple.com"})),
            "invalid_username",
        ),
        (
            "65 characters",
            user(json!({"username": "a".repeat(65)})),
            "invalid_username",
        ),
        (
            "an empty name",
            user(json!({"username": ""})),
            "invalid_username",
        ),
        (
            "a 256 KiB name (EventBridge's limit)",
            user(json!({"username": "a".repeat(256 * 1024)})),
            "invalid_username",
        ),
        (
            "a numeric name",
            user(json!({"username": 42})),
            "invalid_request",
        ),
        (
            "a name 100 arrays deep",
            user(json!({"username": nested})),
            "invalid_request",
        ),
        (
            "no requested_by",
            user(json!({"requested_by": null})),
            "invalid_request",
        ),
        (
            "an empty requested_by",
            user(json!({"requested_by": ""})),
            "invalid_request",
        ),
        (
            "a numeric requested_by",
            user(json!({"requested_by": 7})),
            "invalid_request",
        ),
        (
            "requested_by as an array",
            user(json!({"requested_by": ["HR-1"]})),
            "invalid_request",
        ),
        (
            "requested_by with a semicolon",
            user(json!({"requested_by": "HR-1; rm -rf"})),
            "invalid_request",
        ),
        (
            "requested_by with a newline",
            user(json!({"requested_by": "HR-1\nforged log line"})),
            "invalid_request",
        ),
        (
            "257 characters of requested_by",
            user(json!({"requested_by": "x".repeat(257)})),
            "invalid_request",
        ),
        (
            "a field of authority",
            user(json!({"groups": ["onboarding-admins"]})),
            "invalid_request",
        ),
    ];
    for (function, detail_type, other_type, failed) in [
        (
            Function::Onboard,
            "Onboarding Requested",
            "Offboarding Requested",
            "Onboarding Failed",
        ),
        (
            Function::Offboard,
            "Offboarding Requested",
            "Onboarding Requested",
            "Offboarding Failed",
        ),
    ] {
        for (case, detail, code) in &both {
            let event = eventbridge("hostile-1", detail_type, detail.clone());
            account.refuses(function, event, None, code, case).await;
        }
        let event = eventbridge("hostile-1", other_type, user(json!({})));
        account
            .refuses(function, event, None, "invalid_request", other_type)
            .await;
        for (case, field, value) in [
            ("no id", "id", Value::Null),
            ("no source", "source", Value::Null),
            ("no detail", "detail", Value::Null),
            ("a numeric id", "id", json!(1)),
            ("a numeric detail-type", "detail-type", json!(1)),
        ] {
            let mut event = eventbridge("hostile-1", detail_type, user(json!({})));
            if value.is_null() {
                event.as_object_mut().unwrap().remove(field);
            } else {
                event[field] = value;
            }
            let answer = function.call(&account.app, event.clone()).await;
            assert_eq!(answer.outcome, Some(failed), "{case}: {answer:?}");
            account
                .refuses(function, event, None, "invalid_request", case)
                .await;
        }
    }
    let event = eventbridge(
        "hostile-1",
        "Onboarding Requested",
        user(json!({"roles": ["arn:aws:iam::123456789012:role/BreakGlass"]})),
    );
    account
        .refuses(Function::Onboard, event, None, "unknown_role", "a role ARN")
        .await;
    let event = eventbridge(
        "hostile-1",
        "Offboarding Requested",
        json!({"username": DEV, "requested_by": "HR-1", "roles": ["ResourceCreatorRole"]}),
    );
    account
        .refuses(
            Function::Offboard,
            event,
            None,
            "invalid_request",
            "roles on offboarding",
        )
        .await;
}

/// Who may onboard at all: with `ELIGIBLE_GROUPS` and `ELIGIBLE_EMAIL_DOMAINS` set, a verified person of
/// the issuer matching neither (look-alike domains included) is refused on every route with `403
/// not_eligible`, acting on themselves, and IAM is untouched; a member of an eligible group at any domain,
/// and someone at exactly the eligible domain, are onboarded.
#[tokio::test]
async fn a_verified_person_outside_every_eligibility_rule_is_refused_on_every_route() {
    let account = Account::start().await;
    let eligible_only = app_at(
        &account._moto.endpoint,
        &[
            ("ROLE_CATALOG", CATALOG),
            ("ELIGIBLE_GROUPS", r#"["engineering"]"#),
            ("ELIGIBLE_EMAIL_DOMAINS", r#"["Example.com"]"#),
        ],
    )
    .await;
    let outsiders = [
        ("mallory@evil-example.com", None),
        ("mallory@a.example.com", None),
        ("mallory@example.com.evil.org", None),
        (
            "mallory@elsewhere.org",
            Some("[engineering-alumni contractors]"),
        ),
    ];
    for (email, groups) in outsiders {
        let mut claims = self_service(email);
        if let Some(groups) = groups {
            claims["cognito:groups"] = json!(groups);
        }
        let events = [
            (
                Function::Onboard,
                http_event(claims.clone(), json!({}), None),
            ),
            (
                Function::EnrollMfa,
                http_event(claims.clone(), json!({}), Some(email)),
            ),
            (
                Function::Status,
                http_event(claims.clone(), json!({}), Some(email)),
            ),
            (
                Function::IssueKey,
                http_event(claims.clone(), json!({}), Some(email)),
            ),
        ];
        for (function, event) in events {
            let answer = function.call(&eligible_only, event).await;
            assert_eq!(answer.status, Some(403), "{function:?} {email}: {answer:?}");
            assert_eq!(
                answer.code.as_deref(),
                Some("not_eligible"),
                "{function:?} {email}"
            );
        }
    }
    assert_eq!(
        hostile_input::take(&account.iam).await,
        account.before,
        "an ineligible request changed IAM"
    );

    let mut in_group = self_service("bob@elsewhere.org");
    in_group["cognito:groups"] = json!("[engineering]");
    for claims in [in_group, self_service("carol@EXAMPLE.COM")] {
        let done = Function::Onboard
            .call(&eligible_only, http_event(claims.clone(), json!({}), None))
            .await;
        assert_eq!(done.status, Some(201), "{claims}: {done:?}");
    }
}

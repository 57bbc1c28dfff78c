//! Hostile events into every function's real handler, as property tests against one moto server per
//! test. Each generated event has at least one part the function must refuse (claims, body, path
//! parameter, EventBridge detail or envelope) or is arbitrary JSON altogether; the answer must be a 4xx
//! with a documented error code (an `… Failed` reply for EventBridge), and IAM must be as it was.
//!
//! 64 cases per test by default; `PROPTEST_CASES` sets another number, e.g. for a long run:
//! `PROPTEST_CASES=100000 cargo test --test it fuzz_events:: --release`.

use crate::hostile_input;

use base64::Engine;
use functions::app::App;
use functions::onboard;
use hostile_input::{Function, Snapshot, iam_name};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};
use test_support::*;

/// Onboarded (self-service, MFA pending) before the cases run, so that a request wrongly let through
/// would have something to change.
const USER: &str = "fuzz@example.com";
const ADMIN: &str = "admin@example.com";

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(64)
}

// ---------------------------------------------------------------------------------------------------
// Oracles.

fn is_json_object(text: &str) -> bool {
    matches!(serde_json::from_str::<Value>(text), Ok(Value::Object(_)))
}

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// One moto server, the app pointed at it, `USER` onboarded, and what IAM held then.
struct Fixture {
    runtime: tokio::runtime::Runtime,
    app: App,
    iam: aws_sdk_iam::Client,
    before: Snapshot,
    _moto: Moto,
}

impl Fixture {
    fn start() -> Fixture {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let moto = Moto::start();
        let (app, iam, before) = runtime.block_on(async {
            let app = moto.app(&[]).await;
            let iam = moto.iam().await;
            let onboarded =
                reply(onboard::handle(&app, http_event(self_service(USER), json!({}), None)).await);
            assert_eq!(onboarded.status, 201, "{}", onboarded.body);
            iam.create_user().user_name("legacy").send().await.unwrap();
            let before = hostile_input::take(&iam).await;
            (app, iam, before)
        });
        Fixture {
            runtime,
            app,
            iam,
            before,
            _moto: moto,
        }
    }

    /// Runs the property over `strategy`'s events for `function`; panics with the smallest failing event.
    fn check(&self, function: Function, strategy: impl Strategy<Value = Value>) {
        let config = RunnerConfig {
            cases: cases(),
            failure_persistence: None,
            ..RunnerConfig::default()
        };
        let outcome = TestRunner::new(config).run(&strategy, |event| {
            let (answer, after) = self.runtime.block_on(async {
                let answer = function.call(&self.app, event.clone()).await;
                (answer, hostile_input::take(&self.iam).await)
            });
            if !answer.is_refusal() {
                return Err(TestCaseError::fail(format!(
                    "{function:?} answered {answer:?}"
                )));
            }
            if after != self.before {
                return Err(TestCaseError::fail(format!(
                    "{function:?} changed IAM ({answer:?}): {:?} became {after:?}",
                    self.before
                )));
            }
            Ok(())
        });
        if let Err(error) = outcome {
            panic!("{error}");
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Strategies.

fn text() -> BoxedStrategy<String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,16}",
        "[a-zA-Z0-9+=,.@_-]{0,70}",
        "[\\x00-\\x1f\u{7f}\u{0430}\u{0435}\u{043e}\u{200b}\u{feff}a/ {}\\[\\]\"]{0,8}",
    ]
    .boxed()
}

fn json() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            vec((text(), inner), 0..4)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
    .boxed()
}

fn not_an_iam_name() -> BoxedStrategy<String> {
    prop_oneof![
        text(),
        Just("a/b".to_string()),
        Just("\u{0430}dmin".to_string()),
        Just("x".repeat(65)),
    ]
    .prop_filter("not an IAM user name", |name| !iam_name(name))
    .boxed()
}

/// Where the caller comes from: `requestContext` as the authorizer fills it, or as it must be refused.
#[derive(Debug, Clone)]
enum Claims {
    SelfService,
    Admin,
    Hostile(Value),
}

impl Claims {
    fn request_context(&self) -> Value {
        let claims = match self {
            Claims::SelfService => self_service(USER),
            Claims::Admin => admin(ADMIN),
            Claims::Hostile(context) => return context.clone(),
        };
        json!({"requestId": "fuzz", "authorizer": {"jwt": {"claims": claims}}})
    }
}

fn hostile_request_context() -> BoxedStrategy<Value> {
    let context = |authorizer: Value| json!({"requestId": "fuzz", "authorizer": authorizer});
    let with_claims = move |claims: Value| context(json!({"jwt": {"claims": claims}}));
    // No usable username claim, whatever else the token says (an admin group included).
    let unusable_email = prop_oneof![
        json().prop_filter("not a string", |v| !v.is_string()),
        "[ \t\r\n\u{a0}]{0,3}".prop_map(Value::String),
    ];
    let groups = prop_oneof![Just(json!("[onboarding-admins]")), json()];
    let no_identity = (
        prop::option::of(unusable_email),
        prop::option::of(groups),
        vec((text(), json()), 0..3),
    )
        .prop_map(move |(email, groups, others)| {
            let mut claims: Map<String, Value> = others
                .into_iter()
                .filter(|(key, _)| key != "email")
                .collect();
            if let Some(email) = email {
                claims.insert("email".into(), email);
            }
            if let Some(groups) = groups {
                claims.insert("cognito:groups".into(), groups);
            }
            with_claims(Value::Object(claims))
        });
    // A username claim that is no IAM user name, and no admin group.
    let not_a_name = (
        text().prop_filter("not blank, not a name", |s| {
            !s.trim().is_empty() && !iam_name(s.trim())
        }),
        prop::option::of(prop_oneof![
            Just(json!("[devs onboarding-admins-readonly]")),
            Just(json!(5))
        ]),
    )
        .prop_map(move |(email, groups)| {
            let mut claims = json!({"email": email, "email_verified": "true"});
            if let Some(groups) = groups {
                claims["cognito:groups"] = groups;
            }
            with_claims(claims)
        });
    // A real user's or admin's address that the identity provider does not vouch for.
    let unverified = (
        prop_oneof![Just(USER), Just(ADMIN)],
        prop::option::of(prop_oneof![
            Just(json!(false)),
            Just(json!("false")),
            Just(json!("True")),
            json().prop_filter("not true", |v| *v != json!(true) && *v != json!("true")),
        ]),
    )
        .prop_map(move |(email, verified)| {
            let mut claims = json!({"email": email, "cognito:groups": "[onboarding-admins]"});
            if let Some(verified) = verified {
                claims["email_verified"] = verified;
            }
            with_claims(claims)
        });
    let no_authorizer = prop_oneof![
        Just(json!({"requestId": "fuzz"})),
        json()
            .prop_filter("no claims", |a| a.pointer("/jwt/claims/email").is_none())
            .prop_map(context),
        json()
            .prop_filter("no claims", |j| j.pointer("/claims/email").is_none())
            .prop_map(move |jwt| context(json!({"jwt": jwt}))),
        json()
            .prop_filter("claims that are not an object", |c| !c.is_object())
            .prop_map(with_claims),
    ];
    prop_oneof![3 => no_identity, 2 => not_a_name, 2 => unverified, 2 => no_authorizer].boxed()
}

fn claims() -> BoxedStrategy<Claims> {
    prop_oneof![
        1 => Just(Claims::SelfService),
        1 => Just(Claims::Admin),
        2 => hostile_request_context().prop_map(Claims::Hostile),
    ]
    .boxed()
}

/// `{username}` of the route: the onboarded user, another valid name, or one that must be refused.
#[derive(Debug, Clone)]
enum Path {
    Own,
    Other(String),
    Hostile(Option<Value>),
}

fn path() -> BoxedStrategy<Path> {
    let hostile = prop_oneof![
        Just(None),
        Just(Some(json!({}))),
        not_an_iam_name().prop_map(|name| Some(json!({"username": name}))),
        json()
            .prop_filter("not a string", |v| !v.is_string())
            .prop_map(|name| Some(json!({"username": name}))),
        json()
            .prop_filter("not a map", |v| !v.is_object())
            .prop_map(Some),
    ];
    prop_oneof![
        1 => Just(Path::Own),
        1 => "[a-z0-9.@_-]{1,30}"
            .prop_filter("someone else", |name| name != USER)
            .prop_map(Path::Other),
        2 => hostile.prop_map(Path::Hostile),
    ]
    .boxed()
}

/// A body as API Gateway delivers it: text, or base64 with `isBase64Encoded`.
#[derive(Debug, Clone)]
struct Body {
    hostile: bool,
    body: Option<String>,
    base64: bool,
}

fn good_body() -> BoxedStrategy<Body> {
    let good = |body: Option<&str>, base64: bool| Body {
        hostile: false,
        body: body.map(str::to_string),
        base64,
    };
    prop_oneof![
        Just(good(None, false)),
        Just(good(Some(""), false)),
        Just(good(Some("{}"), false)),
        Just(good(Some(" {} \n"), false)),
        Just(good(Some("e30="), true)),
    ]
    .boxed()
}

/// Bodies every function that reads one must refuse, and those only `function` must.
fn hostile_body(function: Function) -> BoxedStrategy<Body> {
    let text_body = |body: String| Body {
        hostile: true,
        body: Some(body),
        base64: false,
    };
    let fields = function.body_fields();
    let not_an_object = text()
        .prop_filter("not blank, not an object", |s| {
            !s.trim().is_empty() && !is_json_object(s)
        })
        .prop_map(text_body);
    let json_not_an_object = json()
        .prop_filter("not an object", |v| !v.is_object())
        .prop_map(move |v| text_body(v.to_string()));
    let unknown_field = (
        text().prop_filter("unknown", move |k| !fields.contains(&k.as_str())),
        json(),
    )
        .prop_map(move |(key, value)| text_body(json!({key: value}).to_string()));
    let encoded = vec(any::<u8>(), 0..48)
        .prop_filter("not blank, not an object", |bytes| {
            std::str::from_utf8(bytes).map_or(true, |t| !t.trim().is_empty() && !is_json_object(t))
        })
        .prop_map(|bytes| Body {
            hostile: true,
            body: Some(base64(&bytes)),
            base64: true,
        });
    let not_base64 = text()
        .prop_filter("not base64", |s| {
            base64::engine::general_purpose::STANDARD.decode(s).is_err()
        })
        .prop_map(|body| Body {
            hostile: true,
            body: Some(body),
            base64: true,
        });
    let common = prop_oneof![
        not_an_object,
        json_not_an_object,
        unknown_field,
        encoded,
        not_base64
    ];
    let non_null = || json().prop_filter("not null", |v| !v.is_null());
    let non_bool = || json().prop_filter("not a boolean", |v| !v.is_boolean());
    let specific: BoxedStrategy<Value> = match function {
        Function::Onboard => prop_oneof![
            not_an_iam_name().prop_map(|name| json!({"username": name})),
            non_null()
                .prop_filter("not a string", |v| !v.is_string())
                .prop_map(|name| json!({"username": name})),
            Just(json!({"roles": []})),
            (
                vec(text(), 0..3),
                text().prop_filter("not in the catalog", |r| r != "ResourceCreatorRole")
            )
                .prop_map(|(mut roles, unknown)| {
                    roles.push(unknown);
                    json!({"roles": roles})
                }),
            non_null()
                .prop_filter("not a list", |v| !v.is_array())
                .prop_map(|roles| json!({"roles": roles})),
            json()
                .prop_filter("no MFA choice", |v| *v != "virtual" && *v != "none")
                .prop_map(|mfa| json!({"mfa": mfa})),
            non_bool().prop_map(|wait| json!({"wait_until_usable": wait})),
        ]
        .boxed(),
        Function::EnrollMfa => {
            let code = || {
                prop_oneof![
                    "[0-9]{6}",
                    "[0-9]{0,8}",
                    "[0-9\u{0660}-\u{0669}\u{ff10}-\u{ff19} ]{6}",
                    text()
                ]
            };
            let six_digits = |c: &str| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit());
            prop_oneof![
                code().prop_map(|c| json!({"code1": c})),
                code().prop_map(|c| json!({"code2": c})),
                (code(), code())
                    .prop_filter("a malformed code", move |(a, b)| {
                        !six_digits(a) || !six_digits(b)
                    })
                    .prop_map(|(a, b)| json!({"code1": a, "code2": b})),
                non_null()
                    .prop_filter("not a string", |v| !v.is_string())
                    .prop_map(|c| json!({"code1": c, "code2": "123456"})),
            ]
            .boxed()
        }
        Function::IssueKey => non_bool()
            .prop_map(|wait| json!({"wait_until_usable": wait}))
            .boxed(),
        Function::Status | Function::Offboard => (text(), json())
            .prop_map(|(key, value)| json!({key: value}))
            .boxed(),
    };
    prop_oneof![
        3 => common,
        2 => specific.prop_map(move |body| text_body(body.to_string())),
    ]
    .boxed()
}

fn http_case(function: Function) -> BoxedStrategy<Value> {
    let structured = (
        claims(),
        prop_oneof![good_body(), hostile_body(function)],
        path(),
        "[ -~]{0,12}",
    )
        .prop_filter(
            "at least one part the function must refuse",
            move |(claims, body, path, _)| {
                let self_service = matches!(claims, Claims::SelfService);
                matches!(claims, Claims::Hostile(_))
                    || (function.reads_body() && body.hostile)
                    || (function.reads_path() && matches!(path, Path::Hostile(_)))
                    || (function.reads_path() && self_service && matches!(path, Path::Other(_)))
                    || (function == Function::Offboard && self_service)
            },
        )
        .prop_map(|(claims, body, path, route)| {
            let mut event = json!({
                "version": "2.0",
                "routeKey": route,
                "requestContext": claims.request_context(),
                "isBase64Encoded": body.base64,
            });
            if let Some(body) = body.body {
                event["body"] = json!(body);
            }
            match path {
                Path::Own => event["pathParameters"] = json!({"username": USER}),
                Path::Other(name) => event["pathParameters"] = json!({"username": name}),
                Path::Hostile(Some(parameters)) => event["pathParameters"] = parameters,
                Path::Hostile(None) => {}
            }
            event
        });
    // Any JSON at all, so long as it carries no username claim.
    let arbitrary = json().prop_filter("no identity", |event| {
        event
            .pointer("/requestContext/authorizer/jwt/claims/email")
            .is_none()
    });
    prop_oneof![6 => structured, 1 => arbitrary].boxed()
}

/// EventBridge events: the envelope, the detail-type and the detail, at least one of them wrong.
fn eventbridge_case(function: Function) -> BoxedStrategy<Value> {
    let expected = match function {
        Function::Offboard => "Offboarding Requested",
        _ => "Onboarding Requested",
    };
    let detail_type = prop_oneof![
        2 => Just((false, json!(expected))),
        1 => prop_oneof![
            Just("Onboarding Requested"),
            Just("Offboarding Requested"),
            Just("onboarding requested"),
            Just("User Onboarded"),
        ]
        .prop_filter("not this function's", move |t| *t != expected)
        .prop_map(|t| (true, json!(t))),
        1 => json()
            .prop_filter("not this function's", move |t| *t != expected)
            .prop_map(|t| (true, t)),
    ];
    let good_detail = json!({"username": USER, "requested_by": "HR-1234"});
    let hostile_detail = prop_oneof![
        json().prop_filter("not an object", |d| !d.is_object()),
        Just(json!([USER, null, "HR-1234"])),
        not_an_iam_name().prop_map(|name| json!({"username": name, "requested_by": "HR-1"})),
        json()
            .prop_filter("not a string", |v| !v.is_string())
            .prop_map(|name| json!({"username": name, "requested_by": "HR-1"})),
        Just(json!({"username": USER})),
        prop_oneof![
            text().prop_filter("not a tag value", |t| {
                t.trim().is_empty()
                    || !t
                        .chars()
                        .all(|c| c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c))
            }),
            Just("x".repeat(257)),
        ]
        .prop_map(|by| json!({"username": USER, "requested_by": by})),
        json()
            .prop_filter("not a string", |v| !v.is_string())
            .prop_map(|by| json!({"username": USER, "requested_by": by})),
        (
            text().prop_filter("unknown", |k| !["username", "roles", "requested_by"]
                .contains(&k.as_str())),
            json()
        )
            .prop_map(|(key, value)| json!({"username": USER, "requested_by": "HR-1", key: value})),
        prop_oneof![
            Just(json!([])),
            Just(json!([
                "arn:aws:iam::123456789012:role/ResourceCreatorRole"
            ])),
            Just(json!(["AdministratorAccess"])),
            json().prop_filter("not null, not a list", |v| !v.is_null() && !v.is_array()),
        ]
        .prop_map(|roles| json!({"username": USER, "requested_by": "HR-1", "roles": roles})),
    ];
    let roles_on_offboarding =
        Just(json!({"username": USER, "requested_by": "HR-1", "roles": ["ResourceCreatorRole"]}));
    let detail = match function {
        Function::Offboard => prop_oneof![
            2 => Just((false, good_detail)),
            3 => hostile_detail.prop_map(|d| (true, d)),
            1 => roles_on_offboarding.prop_map(|d| (true, d)),
        ]
        .boxed(),
        _ => prop_oneof![
            2 => Just((false, good_detail)),
            3 => hostile_detail.prop_map(|d| (true, d)),
        ]
        .boxed(),
    };
    // The envelope: intact, or a field missing (`detail-type` too: then it is no EventBridge event at
    // all) or of the wrong type.
    let envelope = prop_oneof![
        3 => Just(None),
        1 => prop::sample::select(&["id", "source", "detail", "detail-type"][..])
            .prop_map(|field| Some((field, None))),
        1 => (
            prop::sample::select(&["id", "source"][..]),
            json().prop_filter("not a string", |v| !v.is_string()),
        )
            .prop_map(|(field, value)| Some((field, Some(value)))),
    ];
    (detail_type, detail, envelope, "[a-z0-9-]{1,12}")
        .prop_filter(
            "at least one part the function must refuse",
            |((bad_type, _), (bad_detail, _), envelope, _)| {
                *bad_type || *bad_detail || envelope.is_some()
            },
        )
        .prop_map(|((_, detail_type), (_, detail), envelope, id)| {
            // The detail type may itself be hostile (not a string), so the envelope is built here.
            let mut event = eventbridge(&id, "", detail);
            event["detail-type"] = detail_type;
            match envelope {
                Some((field, None)) => {
                    event.as_object_mut().unwrap().remove(field);
                }
                Some((field, Some(value))) => event[field] = value,
                None => {}
            }
            event
        })
        .boxed()
}

// ---------------------------------------------------------------------------------------------------
// The properties: one moto server per test.

#[test]
fn onboard_refuses_hostile_http_events() {
    Fixture::start().check(Function::Onboard, http_case(Function::Onboard));
}

#[test]
fn enroll_mfa_refuses_hostile_http_events() {
    Fixture::start().check(Function::EnrollMfa, http_case(Function::EnrollMfa));
}

#[test]
fn status_refuses_hostile_http_events() {
    Fixture::start().check(Function::Status, http_case(Function::Status));
}

#[test]
fn issue_key_refuses_hostile_http_events() {
    Fixture::start().check(Function::IssueKey, http_case(Function::IssueKey));
}

#[test]
fn offboard_refuses_hostile_http_events() {
    Fixture::start().check(Function::Offboard, http_case(Function::Offboard));
}

#[test]
fn onboard_refuses_hostile_eventbridge_events() {
    Fixture::start().check(Function::Onboard, eventbridge_case(Function::Onboard));
}

#[test]
fn offboard_refuses_hostile_eventbridge_events() {
    Fixture::start().check(Function::Offboard, eventbridge_case(Function::Offboard));
}

//! Secrets reach the person and nowhere else: onboarding, MFA enrolment and two rotations with logging at
//! its most verbose (ours and the SDK's), outcome events published; no secret access key and no MFA seed
//! may appear in a log line, an error, or anything sent to AWS.

use provisioning::iam::events::EventBus;
use serde_json::{Value, json};
use test_support::logs::CapturedLogs;
use test_support::proxy::FaultProxy;
use test_support::*;

/// The base32 seed inside an otpauth URI (`...?secret=XXXX&issuer=...`).
fn seed_of(otpauth_uri: &str) -> String {
    otpauth_uri
        .split(['?', '&'])
        .find_map(|part| part.strip_prefix("secret="))
        .expect("the URI carries the seed")
        .to_string()
}

fn text(value: &Value) -> String {
    value.as_str().expect("a string").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_a_log_line_an_error_or_an_event_even_at_trace_level() {
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    let subscriber =
        functions::app::json_logs(tracing_subscriber::EnvFilter::new("trace"), move || {
            writer.clone()
        });
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber of this test");

    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint).await;
    let app = app_at(&proxy.endpoint, &[])
        .await
        .with_event_bus(EventBus::new(
            &sdk_config_at(&proxy.endpoint).await,
            "default",
        ));
    let me = "secretive@example.com";
    let mut secrets = Vec::new();
    let mut answers = Vec::new();

    let created = onboard_as(&app, self_service(me), json!({})).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let key_id = text(&created.body["access_key"]["access_key_id"]);
    secrets.push(text(&created.body["access_key"]["secret_access_key"]));
    let uri = text(&created.body["mfa"]["otpauth_uri"]);
    secrets.push(seed_of(&uri));
    secrets.push(text(&created.body["mfa"]["qr_code_png_base64"]));

    let refused = onboard_as(&app, self_service(me), json!({"username": "someone.else"})).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    answers.push(refused.body);

    let enrolled = enroll_with_seed(&app, self_service(me), me, &uri).await;
    assert_eq!(enrolled.status, 200, "{}", enrolled.body);
    answers.push(enrolled.body);
    let again = enroll_with_seed(&app, self_service(me), me, &uri).await;
    assert_eq!(again.status, 409, "{}", again.body);
    answers.push(again.body);

    for _ in 0..2 {
        let rotated = issue_key_as(&app, self_service(me), me).await;
        assert_eq!(rotated.status, 201, "{}", rotated.body);
        secrets.push(text(&rotated.body["access_key"]["secret_access_key"]));
    }
    let replay = onboard_as(&app, self_service(me), json!({})).await;
    assert_eq!(replay.status, 200, "{}", replay.body);
    answers.push(replay.body);
    answers.push(status_as(&app, self_service(me), me).await.body);

    let logged = logs.text();
    logs.stop();
    let sent = proxy.request_bodies().join("\n");
    assert!(
        logged.lines().count() > 100 && logged.contains("\"level\":\"TRACE\""),
        "the capture sees the SDK's trace output"
    );
    assert!(
        logged.contains(&key_id),
        "key ids are logged: they are not secret"
    );
    assert!(
        proxy.calls().iter().any(|call| call == "events:PutEvents"),
        "outcome events were published through the proxy"
    );
    for secret in &secrets {
        assert!(!logged.contains(secret.as_str()), "a secret was logged");
        assert!(!sent.contains(secret.as_str()), "a secret was sent to AWS");
        for answer in &answers {
            assert!(
                !answer.to_string().contains(secret.as_str()),
                "a secret in {answer}"
            );
        }
    }
}

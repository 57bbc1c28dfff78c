//! The rest of a user's life through the real handlers against moto: status, key rotation, offboarding,
//! and EventBridge-driven onboarding and offboarding with their outcome events.

use std::sync::{Arc, Mutex};

use aws_credential_types::Credentials;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use functions::app::App;
use functions::{issue_key, offboard, onboard, status};
use provisioning::iam::events::EventBus;
use serde_json::{Value, json};
use test_support::*;

fn to_json(value: impl serde::Serialize) -> Value {
    serde_json::to_value(value).expect("serialisable")
}

/// A stand-in for EventBridge's PutEvents that records each entry, so the published events can be read
/// back exactly (moto accepts PutEvents but offers no way to read an event without a target).
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Value>>>);

impl Recorder {
    async fn start() -> (Recorder, String) {
        async fn put_events(
            State(recorder): State<Recorder>,
            headers: HeaderMap,
            body: String,
        ) -> (StatusCode, HeaderMap, String) {
            let target = headers
                .get("x-amz-target")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            assert_eq!(target, "AWSEvents.PutEvents");
            let request: Value = serde_json::from_str(&body).expect("a JSON request");
            let entries = request["Entries"].as_array().cloned().unwrap_or_default();
            let count = entries.len();
            recorder.0.lock().unwrap().extend(entries);
            let mut reply_headers = HeaderMap::new();
            reply_headers.insert(
                header::CONTENT_TYPE,
                "application/x-amz-json-1.1".parse().unwrap(),
            );
            let results: Vec<Value> = (0..count)
                .map(|i| json!({"EventId": format!("ev-{i}")}))
                .collect();
            (
                StatusCode::OK,
                reply_headers,
                json!({"FailedEntryCount": 0, "Entries": results}).to_string(),
            )
        }
        let recorder = Recorder::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let router = Router::new()
            .route("/", post(put_events))
            .with_state(recorder.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        (recorder, endpoint)
    }

    /// The published events as (detail-type, detail).
    fn events(&self) -> Vec<(String, Value)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|entry| {
                assert_eq!(entry["Source"], "iam-onboarding");
                assert_eq!(entry["EventBusName"], "onboarding-events");
                let detail = serde_json::from_str(entry["Detail"].as_str().unwrap()).unwrap();
                (entry["DetailType"].as_str().unwrap().to_string(), detail)
            })
            .collect()
    }
}

async fn app_with_events(moto: &Moto, vars: &[(&str, &str)]) -> (App, Recorder) {
    let (recorder, endpoint) = Recorder::start().await;
    let sdk_config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .load()
        .await;
    let app = moto
        .app(vars)
        .await
        .with_event_bus(EventBus::new(&sdk_config, "onboarding-events"));
    (app, recorder)
}

fn trust_principals(trust: &Value) -> Vec<String> {
    provisioning::policy::trusted_aws_principals(trust)
}

fn key_ids(reply: &Reply) -> Vec<(String, String)> {
    reply.body["access_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| {
            (
                key["access_key_id"].as_str().unwrap().to_string(),
                key["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_whole_life_onboard_status_rotate_twice_offboard_and_offboard_again() {
    let moto = Moto::start();
    let (app, recorder) = app_with_events(&moto, &[("TRUST_MODE", "users")]).await;
    let iam = moto.iam().await;
    let me = "developer@example.com";
    let admin_claims = admin("lead@example.com");
    let role_arn = format!("arn:aws:iam::{ACCOUNT}:role/ResourceCreatorRole");
    let my_arn = format!("arn:aws:iam::{ACCOUNT}:user/onboarded/{me}");
    let tester_arn = format!("arn:aws:iam::{ACCOUNT}:user/onboarded/tester");

    let created = onboard_as(&app, self_service(me), json!({})).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let first_key = created.body["access_key"]["access_key_id"]
        .as_str()
        .unwrap()
        .to_string();
    let first_secret = created.body["access_key"]["secret_access_key"]
        .as_str()
        .unwrap()
        .to_string();
    let other = onboard_as(
        &app,
        admin_claims.clone(),
        json!({"username": "tester", "mfa": "none"}),
    )
    .await;
    assert_eq!(other.status, 201, "{}", other.body);

    // Use the first key once, so that status has a "last used" to show.
    let as_me = moto
        .sdk_config_as(Credentials::new(
            &first_key,
            &first_secret,
            None,
            None,
            "me",
        ))
        .await;
    aws_sdk_sts::Client::new(&as_me)
        .get_caller_identity()
        .send()
        .await
        .unwrap();

    let seen = status_as(&app, self_service(me), me).await;
    assert_eq!(seen.status, 200, "{}", seen.body);
    assert_eq!(seen.header("cache-control"), "no-store");
    assert_eq!(seen.body["user"], json!({"name": me, "arn": my_arn}));
    assert_eq!(
        seen.body["roles"],
        json!([{"name": "ResourceCreatorRole", "arn": role_arn}])
    );
    assert_eq!(
        seen.body["mfa"],
        json!({"serial_number": format!("arn:aws:iam::{ACCOUNT}:mfa/onboarded/{me}"), "status": "pending"})
    );
    assert_eq!(key_ids(&seen), [(first_key.clone(), "active".to_string())]);
    let key = &seen.body["access_keys"][0];
    assert!(
        key["created"].as_str().is_some_and(|c| c.ends_with('Z')),
        "{key}"
    );
    assert!(key["last_used_date"].is_string(), "{key}");
    assert_eq!(key["last_used_service"], "sts");
    assert_eq!(seen.body["in_desired_state"], true, "{}", seen.body);
    assert_eq!(seen.body["differences"], json!([]));
    assert!(!seen.body.to_string().contains(&first_secret));

    // Rotate: a new key, the old one deactivated and named.
    let rotated = issue_key_as(&app, self_service(me), me).await;
    assert_eq!(rotated.status, 201, "{}", rotated.body);
    assert_eq!(rotated.header("cache-control"), "no-store");
    let second_key = rotated.body["access_key"]["access_key_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(rotated.body["access_key"]["secret_access_key"].is_string());
    assert_eq!(
        rotated.body["previous_access_key"],
        json!({"access_key_id": first_key, "status": "inactive"})
    );
    assert_eq!(rotated.body["deleted_access_key_id"], Value::Null);
    let seen = status_as(&app, self_service(me), me).await;
    let mut keys = key_ids(&seen);
    keys.sort_by_key(|(_, status)| status.clone());
    assert_eq!(
        keys,
        [
            (second_key.clone(), "active".to_string()),
            (first_key.clone(), "inactive".to_string())
        ]
    );

    // Rotate again: the inactive key is deleted first, the active one deactivated.
    let again = issue_key_as(&app, admin_claims.clone(), me).await;
    assert_eq!(again.status, 201, "{}", again.body);
    let third_key = again.body["access_key"]["access_key_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(again.body["deleted_access_key_id"], first_key);
    assert_eq!(
        again.body["previous_access_key"],
        json!({"access_key_id": second_key, "status": "inactive"})
    );
    let listed = iam.list_access_keys().user_name(me).send().await.unwrap();
    let mut listed: Vec<(String, String)> = listed
        .access_key_metadata()
        .iter()
        .map(|k| {
            (
                k.access_key_id().unwrap().to_string(),
                k.status().unwrap().as_str().to_string(),
            )
        })
        .collect();
    listed.sort();
    let mut expected = vec![
        (second_key.clone(), "Inactive".to_string()),
        (third_key.clone(), "Active".to_string()),
    ];
    expected.sort();
    assert_eq!(listed, expected);

    // Offboard: the user is gone, the role stays, and its trust policy keeps only the other user.
    assert_eq!(
        trust_principals(&trust_policy(&iam, "ResourceCreatorRole").await).len(),
        2
    );
    let offboarded_at = std::time::SystemTime::now();
    let gone = offboard_as(&app, admin_claims.clone(), me).await;
    assert_eq!(gone.status, 200, "{}", gone.body);
    assert_eq!(gone.body["outcome"], "removed");
    let removed: Vec<&str> = gone.body["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    for expected in [
        format!("access key {second_key}"),
        format!("access key {third_key}"),
        format!("virtual MFA device arn:aws:iam::{ACCOUNT}:mfa/onboarded/{me}"),
        "membership of group onboarding-ResourceCreatorRole".to_string(),
        "principal in the trust policy of role ResourceCreatorRole".to_string(),
        "sessions of role ResourceCreatorRole issued before now (onboarding-revoked-sessions)"
            .to_string(),
        format!("user {me}"),
    ] {
        assert!(
            removed.contains(&expected.as_str()),
            "{expected} not in {removed:?}"
        );
    }
    assert!(
        iam.get_user().user_name(me).send().await.is_err(),
        "the user is gone"
    );
    let trust = trust_policy(&iam, "ResourceCreatorRole").await;
    assert_eq!(trust_principals(&trust), [tester_arn], "{trust}");
    assert!(provisioning::trust::mfa_enforced(&trust), "{trust}");
    // The sessions they still hold end: everything denied to sessions carrying their name, issued before
    // the offboarding (and a minute's margin for IAM to propagate the key's deletion).
    let revoked = role_policy(&iam, "ResourceCreatorRole", "onboarding-revoked-sessions").await;
    let statements = revoked["Statement"].as_array().expect("statements");
    assert_eq!(statements.len(), 1, "{revoked}");
    let issued_before = statements[0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
        .as_str()
        .and_then(provisioning::timestamps::parse_timestamp)
        .expect("a time");
    let margin = issued_before
        .duration_since(offboarded_at)
        .expect("after the offboarding began");
    assert!(
        (60..=75).contains(&margin.as_secs()),
        "{margin:?} after the offboarding began"
    );
    let mut shaped = statements[0].clone();
    shaped["Condition"]["DateLessThan"] = json!({});
    assert_eq!(
        shaped,
        json!({"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {
            "StringEquals": {"aws:SourceIdentity": me}, "DateLessThan": {}}})
    );
    let devices = iam.list_virtual_mfa_devices().send().await.unwrap();
    assert!(
        devices
            .virtual_mfa_devices()
            .iter()
            .all(|d| !d.serial_number().ends_with(me)),
        "the pending MFA device is deleted"
    );

    // Offboarding again succeeds and says the user was already gone.
    let twice = offboard_as(&app, admin_claims.clone(), me).await;
    assert_eq!(twice.status, 200, "{}", twice.body);
    assert_eq!(twice.body["outcome"], "already_absent");
    assert_eq!(twice.body["removed"], json!([]));
    assert_eq!(
        status_as(&app, admin_claims.clone(), me).await.error_code(),
        "user_not_found"
    );

    // The last user leaves a role that trusts only itself: nobody new gets in, and it is still valid.
    assert_eq!(
        offboard_as(&app, admin_claims.clone(), "tester")
            .await
            .status,
        200
    );
    let trust = trust_policy(&iam, "ResourceCreatorRole").await;
    assert_eq!(trust_principals(&trust), [role_arn], "{trust}");
    assert!(
        iam.get_role()
            .role_name("ResourceCreatorRole")
            .send()
            .await
            .is_ok()
    );

    // Every onboarding and offboarding published its outcome with the request's correlation id.
    let events = recorder.events();
    let types: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        types,
        [
            "User Onboarded",
            "User Onboarded",
            "User Offboarded",
            "User Offboarded",
            "User Offboarded"
        ]
    );
    assert_eq!(events[0].1["correlation_id"], "test-request");
    assert_eq!(events[0].1["username"], me);
    assert_eq!(events[3].1["outcome"], "already_absent");
    for (_, detail) in &events {
        assert!(!detail.to_string().contains(&first_secret));
    }
}

#[tokio::test]
async fn offboarding_in_users_mode_leaves_the_trust_policy_of_a_role_the_stack_does_not_own() {
    let moto = Moto::start();
    let catalog = r#"[
        {"name":"ResourceCreatorRole","managed_policy_arns":["arn:aws:iam::aws:policy/PowerUserAccess"],"self_service":true},
        {"name":"LegacyDeployer","managed_policy_arns":["arn:aws:iam::aws:policy/ReadOnlyAccess"]}
    ]"#;
    let app = moto
        .app(&[("TRUST_MODE", "users"), ("ROLE_CATALOG", catalog)])
        .await;
    let iam = moto.iam().await;
    let created = onboard_as(&app, self_service("dev"), json!({})).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let dev = created.body["user"]["arn"]
        .as_str()
        .expect("an ARN")
        .to_string();
    // A role of a catalog name made by hand (never adopted), whose owner chose to trust dev.
    let theirs = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": [dev]},
        "Action": "sts:AssumeRole", "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}]});
    iam.create_role()
        .role_name("LegacyDeployer")
        .assume_role_policy_document(theirs.to_string())
        .send()
        .await
        .expect("a role made by hand");

    let gone = offboard_as(&app, admin("lead@example.com"), "dev").await;
    assert_eq!(gone.status, 200, "{}", gone.body);
    assert!(
        !gone.body["removed"].to_string().contains("LegacyDeployer"),
        "{}",
        gone.body
    );
    assert_eq!(trust_policy(&iam, "LegacyDeployer").await, theirs);
    // The stack's own role no longer names dev.
    assert!(
        !trust_policy(&iam, "ResourceCreatorRole")
            .await
            .to_string()
            .contains(&dev)
    );
}

#[tokio::test]
async fn offboarding_removes_what_was_added_by_hand() {
    let moto = Moto::start();
    let app = moto.app(&[]).await;
    let iam = moto.iam().await;
    assert_eq!(
        onboard_as(&app, self_service("dev"), json!({}))
            .await
            .status,
        201
    );
    // Someone made changes in the console: a managed policy, a group, a console password, an SSH key.
    iam.attach_user_policy()
        .user_name("dev")
        .policy_arn("arn:aws:iam::aws:policy/ReadOnlyAccess")
        .send()
        .await
        .unwrap();
    iam.create_group()
        .group_name("developers")
        .send()
        .await
        .unwrap();
    iam.add_user_to_group()
        .user_name("dev")
        .group_name("developers")
        .send()
        .await
        .unwrap();
    iam.create_login_profile()
        .user_name("dev")
        .password("Correct-Horse-Battery-9")
        .send()
        .await
        .unwrap();
    iam.upload_ssh_public_key()
        .user_name("dev")
        .ssh_public_key_body("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 dev@laptop")
        .send()
        .await
        .unwrap();
    assert_eq!(
        offboard_as(&app, self_service("dev"), "dev")
            .await
            .error_code(),
        "forbidden",
        "offboarding is for admins only"
    );

    let gone = offboard_as(&app, admin("lead@example.com"), "dev").await;
    assert_eq!(gone.status, 200, "{}", gone.body);
    let removed = gone.body["removed"].to_string();
    for expected in [
        "console password",
        "managed policy arn:aws:iam::aws:policy/ReadOnlyAccess (detached)",
        "membership of group developers",
        "SSH public key",
    ] {
        assert!(removed.contains(expected), "{expected} not in {removed}");
    }
    assert!(iam.get_user().user_name("dev").send().await.is_err());
    for group in ["developers", "onboarding-ResourceCreatorRole"] {
        let members = iam.get_group().group_name(group).send().await.unwrap();
        assert!(members.users().is_empty(), "{group} still lists the user");
    }
    let policy = iam
        .get_policy()
        .policy_arn("arn:aws:iam::aws:policy/ReadOnlyAccess")
        .send()
        .await
        .unwrap();
    assert_eq!(policy.policy().unwrap().attachment_count(), Some(0));
}

#[tokio::test]
async fn refusals_unmanaged_users_and_two_active_keys() {
    let moto = Moto::start();
    let app = moto.app(&[]).await;
    let iam = moto.iam().await;
    iam.create_user().user_name("legacy").send().await.unwrap();
    iam.create_access_key()
        .user_name("legacy")
        .send()
        .await
        .unwrap();

    let refused = offboard_as(&app, admin("lead@example.com"), "legacy").await;
    assert_eq!(refused.status, 409);
    assert_eq!(refused.error_code(), "user_exists_unmanaged");
    assert!(
        iam.get_user().user_name("legacy").send().await.is_ok(),
        "untouched"
    );
    assert_eq!(
        iam.list_access_keys()
            .user_name("legacy")
            .send()
            .await
            .unwrap()
            .access_key_metadata()
            .len(),
        1
    );
    for who in [admin("lead@example.com"), self_service("legacy")] {
        let hidden = status_as(&app, who.clone(), "legacy").await;
        assert_eq!(hidden.status, 404, "unmanaged looks like absent");
        assert_eq!(hidden.error_code(), "user_not_found");
        assert_eq!(
            issue_key_as(&app, who, "legacy").await.error_code(),
            "user_not_found"
        );
    }
    assert_eq!(
        status_as(&app, self_service("bob"), "alice")
            .await
            .error_code(),
        "forbidden"
    );
    assert_eq!(
        issue_key_as(&app, self_service("bob"), "alice")
            .await
            .error_code(),
        "forbidden"
    );
    assert_eq!(
        status_as(&app, json!({}), "alice").await.error_code(),
        "unauthenticated"
    );

    assert_eq!(
        onboard_as(&app, self_service("dev"), json!({}))
            .await
            .status,
        201
    );
    // A second active key made by hand: rotation refuses rather than guess which one to retire.
    iam.create_access_key()
        .user_name("dev")
        .send()
        .await
        .unwrap();
    let refused = issue_key_as(&app, self_service("dev"), "dev").await;
    assert_eq!(refused.status, 409);
    assert_eq!(refused.error_code(), "too_many_keys");
    assert_eq!(
        iam.list_access_keys()
            .user_name("dev")
            .send()
            .await
            .unwrap()
            .access_key_metadata()
            .len(),
        2
    );
    let seen = status_as(&app, self_service("dev"), "dev").await;
    assert_eq!(seen.body["access_keys"].as_array().unwrap().len(), 2);
    assert_eq!(seen.body["access_keys"][0]["last_used_date"], Value::Null);
}

#[tokio::test]
async fn eventbridge_onboarding_then_the_person_collects_their_key() {
    let moto = Moto::start();
    let (app, recorder) = app_with_events(&moto, &[]).await;
    let iam = moto.iam().await;
    let event = eventbridge(
        "0f2c7d1e-hr-1",
        "Onboarding Requested",
        json!({"username": "new.hire@example.com", "roles": ["ResourceCreatorRole"], "requested_by": "HR-1234"}),
    );
    let reply = to_json(onboard::invoke(&app, event).await);
    assert_eq!(
        reply,
        json!({"correlation_id": "0f2c7d1e-hr-1", "outcome": "User Onboarded"})
    );

    let user = iam
        .get_user()
        .user_name("new.hire@example.com")
        .send()
        .await
        .unwrap()
        .user
        .unwrap();
    assert_eq!(user.path(), "/onboarded/");
    assert!(
        user.tags()
            .iter()
            .any(|t| t.key() == "onboarding:requested-by" && t.value() == "HR-1234")
    );
    let groups = iam
        .list_groups_for_user()
        .user_name("new.hire@example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        groups.groups()[0].group_name(),
        "onboarding-ResourceCreatorRole"
    );
    assert!(
        iam.list_access_keys()
            .user_name("new.hire@example.com")
            .send()
            .await
            .unwrap()
            .access_key_metadata()
            .is_empty(),
        "no secret on the EventBridge path"
    );
    assert!(
        iam.list_virtual_mfa_devices()
            .send()
            .await
            .unwrap()
            .virtual_mfa_devices()
            .is_empty()
    );

    let events = recorder.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, "User Onboarded");
    assert_eq!(
        events[0].1,
        json!({"correlation_id": "0f2c7d1e-hr-1", "username": "new.hire@example.com", "user_arn": format!("arn:aws:iam::{ACCOUNT}:user/onboarded/new.hire@example.com"), "roles": ["ResourceCreatorRole"], "requested_by": "HR-1234"})
    );

    let seen = status_as(
        &app,
        self_service("new.hire@example.com"),
        "new.hire@example.com",
    )
    .await;
    assert_eq!(
        seen.body["mfa"],
        json!({"serial_number": null, "status": "none"})
    );
    assert_eq!(seen.body["in_desired_state"], false);
    assert_eq!(
        seen.body["differences"],
        json!([
            "user new.hire@example.com has no access key (POST /users/new.hire@example.com/access-keys issues one)"
        ])
    );

    let first = issue_key_as(
        &app,
        self_service("new.hire@example.com"),
        "new.hire@example.com",
    )
    .await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert!(first.body["access_key"]["secret_access_key"].is_string());
    assert_eq!(first.body["previous_access_key"], Value::Null);
    assert_eq!(first.body["access_key"]["usable_after_seconds"], 15);
    let seen = status_as(
        &app,
        self_service("new.hire@example.com"),
        "new.hire@example.com",
    )
    .await;
    assert_eq!(seen.body["in_desired_state"], true, "{}", seen.body);

    // The same request again is idempotent and issues nothing.
    let replay = eventbridge(
        "0f2c7d1e-hr-2",
        "Onboarding Requested",
        json!({"username": "new.hire@example.com", "roles": ["ResourceCreatorRole"], "requested_by": "HR-1234"}),
    );
    assert_eq!(
        to_json(onboard::invoke(&app, replay).await)["outcome"],
        "User Onboarded"
    );
    assert_eq!(
        iam.list_access_keys()
            .user_name("new.hire@example.com")
            .send()
            .await
            .unwrap()
            .access_key_metadata()
            .len(),
        1
    );

    // Offboarding over EventBridge.
    let leave = eventbridge(
        "0f2c7d1e-hr-3",
        "Offboarding Requested",
        json!({"username": "new.hire@example.com", "requested_by": "HR-1299"}),
    );
    assert_eq!(
        to_json(offboard::invoke(&app, leave).await),
        json!({"correlation_id": "0f2c7d1e-hr-3", "outcome": "User Offboarded"})
    );
    assert!(
        iam.get_user()
            .user_name("new.hire@example.com")
            .send()
            .await
            .is_err()
    );
    let (detail_type, detail) = recorder.events().pop().unwrap();
    assert_eq!(detail_type, "User Offboarded");
    assert_eq!(detail["correlation_id"], "0f2c7d1e-hr-3");
    assert_eq!(detail["requested_by"], "HR-1299");
    assert_eq!(detail["outcome"], "removed");
}

#[tokio::test]
async fn bad_events_change_nothing_and_are_reported() {
    let moto = Moto::start();
    let (app, recorder) = app_with_events(&moto, &[]).await;
    let iam = moto.iam().await;
    iam.create_user().user_name("legacy").send().await.unwrap();

    let onboarding = [
        (
            "bad-1",
            "Onboarding Requested",
            json!({"username": "dev", "requested_by": "hr", "role_arn": "arn:aws:iam::123456789012:role/Admin"}),
            "invalid_request",
        ),
        (
            "bad-2",
            "Onboarding Requested",
            json!({"username": "has space", "requested_by": "hr"}),
            "invalid_username",
        ),
        (
            "bad-3",
            "Onboarding Requested",
            json!({"username": "dev", "requested_by": "hr", "roles": ["AdministratorAccess"]}),
            "unknown_role",
        ),
        (
            "bad-4",
            "Onboarding Requested",
            json!({"username": "dev"}),
            "invalid_request",
        ),
        (
            "bad-5",
            "User Onboarded",
            json!({"username": "dev", "requested_by": "hr"}),
            "invalid_request",
        ),
        (
            "bad-6",
            "Onboarding Requested",
            json!({"username": "legacy", "requested_by": "hr"}),
            "user_exists_unmanaged",
        ),
    ];
    for (id, detail_type, detail, code) in onboarding {
        let reply = to_json(onboard::invoke(&app, eventbridge(id, detail_type, detail)).await);
        assert_eq!(reply["outcome"], "Onboarding Failed", "{id}");
        assert_eq!(reply["error"]["code"], code, "{id}: {reply}");
    }
    let offboarding = [
        (
            "bad-7",
            "Offboarding Requested",
            json!({"username": "legacy", "requested_by": "hr"}),
            "user_exists_unmanaged",
        ),
        (
            "bad-8",
            "Offboarding Requested",
            json!({"username": "dev", "requested_by": "hr", "roles": ["ResourceCreatorRole"]}),
            "invalid_request",
        ),
    ];
    for (id, detail_type, detail, code) in offboarding {
        let reply = to_json(offboard::invoke(&app, eventbridge(id, detail_type, detail)).await);
        assert_eq!(reply["outcome"], "Offboarding Failed", "{id}");
        assert_eq!(reply["error"]["code"], code, "{id}: {reply}");
    }
    // Not even an envelope: refused without a correlation id.
    let reply =
        to_json(onboard::invoke(&app, json!({"detail-type": "Onboarding Requested"})).await);
    assert_eq!(reply["error"]["code"], "invalid_request");
    assert_eq!(reply["correlation_id"], "-");

    let users = iam.list_users().send().await.unwrap();
    let names: Vec<&str> = users.users().iter().map(|u| u.user_name()).collect();
    assert_eq!(names, ["legacy"], "no IAM change");
    assert!(iam.list_roles().send().await.unwrap().roles().is_empty());
    assert!(iam.list_groups().send().await.unwrap().groups().is_empty());

    let events = recorder.events();
    assert_eq!(events.len(), 9);
    assert_eq!(events[0].0, "Onboarding Failed");
    assert_eq!(
        events[0].1,
        json!({"correlation_id": "bad-1", "username": "dev", "requested_by": "hr", "error": {"code": "invalid_request", "message": events[0].1["error"]["message"]}, "retryable": false})
    );
    assert_eq!(
        events[1].1["username"],
        Value::Null,
        "an invalid name is not echoed"
    );
    assert_eq!(events[6].0, "Offboarding Failed");
    assert_eq!(events[6].1["error"]["code"], "user_exists_unmanaged");
}

/// `DELETE /users/{username}/access-keys/{access_key_id}` as API Gateway delivers it.
async fn delete_key_as(app: &App, claims: Value, username: &str, key_id: &str) -> Reply {
    let mut event = http_event(claims, json!({}), Some(username));
    event["body"] = Value::Null;
    event["routeKey"] = json!("DELETE /users/{username}/access-keys/{access_key_id}");
    event["pathParameters"]["access_key_id"] = json!(key_id);
    reply(issue_key::handle(app, event).await)
}

fn key_statuses(
    listed: &aws_sdk_iam::operation::list_access_keys::ListAccessKeysOutput,
) -> Vec<(String, String)> {
    let mut keys: Vec<(String, String)> = listed
        .access_key_metadata()
        .iter()
        .map(|k| {
            (
                k.access_key_id().unwrap().to_string(),
                k.status().unwrap().as_str().to_string(),
            )
        })
        .collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn deleting_the_inactive_key_ends_a_rotation_with_one_key() {
    let moto = Moto::start();
    let app = moto.app(&[]).await;
    let iam = moto.iam().await;
    let me = "dev@example.com";
    let onboarded = onboard_as(&app, self_service(me), json!({})).await;
    assert_eq!(onboarded.status, 201, "{}", onboarded.body);
    let first = onboarded.body["access_key"]["access_key_id"]
        .as_str()
        .unwrap()
        .to_string();

    // The active key is what the person signs in with: refused, and kept.
    let refused = delete_key_as(&app, self_service(me), me, &first).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert_eq!(refused.error_code(), "access_key_active");
    assert_eq!(refused.header("cache-control"), "no-store");

    let rotated = issue_key_as(&app, self_service(me), me).await;
    assert_eq!(rotated.status, 201, "{}", rotated.body);
    let second = rotated.body["access_key"]["access_key_id"]
        .as_str()
        .unwrap()
        .to_string();

    // Someone else, a key of another user, a made-up id, a malformed id, a body: refused, nothing deleted.
    let other = onboard_as(&app, self_service("other@example.com"), json!({})).await;
    let others_key = other.body["access_key"]["access_key_id"]
        .as_str()
        .unwrap()
        .to_string();
    let forbidden = delete_key_as(&app, self_service("other@example.com"), me, &first).await;
    assert_eq!(forbidden.status, 403, "{}", forbidden.body);
    assert_eq!(forbidden.error_code(), "forbidden");
    let not_mine = delete_key_as(&app, self_service(me), me, &others_key).await;
    assert_eq!(not_mine.status, 404, "{}", not_mine.body);
    assert_eq!(not_mine.error_code(), "access_key_not_found");
    let made_up = delete_key_as(&app, self_service(me), me, "AKIAIOSFODNN7EXAMPLE").await;
    assert_eq!(made_up.error_code(), "access_key_not_found");
    let malformed = delete_key_as(&app, self_service(me), me, "AKIA/../x").await;
    assert_eq!(malformed.status, 400, "{}", malformed.body);
    assert_eq!(malformed.error_code(), "invalid_request");
    let mut with_body = http_event(self_service(me), json!({"force": true}), Some(me));
    with_body["pathParameters"]["access_key_id"] = json!(first);
    let with_body = reply(issue_key::handle(&app, with_body).await);
    assert_eq!(with_body.error_code(), "invalid_request");
    let unknown_user = delete_key_as(&app, admin("lead@example.com"), "nobody", &first).await;
    assert_eq!(unknown_user.error_code(), "user_not_found");
    let listed = iam.list_access_keys().user_name(me).send().await.unwrap();
    assert_eq!(key_statuses(&listed), {
        let mut both = vec![
            (first.clone(), "Inactive".to_string()),
            (second.clone(), "Active".to_string()),
        ];
        both.sort();
        both
    });

    // The retired key: deleted, and the user is left with exactly the new one.
    let deleted = delete_key_as(&app, self_service(me), me, &first).await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_eq!(deleted.body["access_key_id"], first.as_str());
    assert_eq!(deleted.body["outcome"], "deleted");
    assert_eq!(deleted.body["user"]["name"], me);
    let listed = iam.list_access_keys().user_name(me).send().await.unwrap();
    assert_eq!(
        key_statuses(&listed),
        [(second.clone(), "Active".to_string())]
    );

    // The same request again (a client retrying after a lost answer) changes nothing: the key is not
    // found, which that client takes as done.
    let again = delete_key_as(&app, self_service(me), me, &first).await;
    assert_eq!(again.status, 404, "{}", again.body);
    assert_eq!(again.error_code(), "access_key_not_found");
    let listed = iam.list_access_keys().user_name(me).send().await.unwrap();
    assert_eq!(
        key_statuses(&listed),
        [(second.clone(), "Active".to_string())]
    );

    // An admin may delete a user's inactive key too.
    let rotated = issue_key_as(&app, admin("lead@example.com"), me).await;
    assert_eq!(rotated.status, 201, "{}", rotated.body);
    let by_admin = delete_key_as(&app, admin("lead@example.com"), me, &second).await;
    assert_eq!(by_admin.status, 200, "{}", by_admin.body);
    assert_eq!(
        iam.list_access_keys()
            .user_name(me)
            .send()
            .await
            .unwrap()
            .access_key_metadata()
            .len(),
        1
    );
}

/// A catalog with a role people may ask for themselves and one only an admin grants.
const TWO_ROLES: &str = r#"[{"name":"ResourceCreatorRole","managed_policy_arns":["arn:aws:iam::aws:policy/PowerUserAccess"],"self_service":true},
    {"name":"BreakGlass","managed_policy_arns":["arn:aws:iam::aws:policy/AdministratorAccess"]}]"#;

/// `DELETE /users/{username}/roles/{role}` as API Gateway delivers it.
async fn revoke_as(app: &App, claims: Value, username: &str, role: &str) -> Reply {
    let mut event = http_event(claims, json!({}), Some(username));
    event["body"] = Value::Null;
    event["routeKey"] = json!("DELETE /users/{username}/roles/{role}");
    event["pathParameters"]["role"] = json!(role);
    reply(offboard::handle(app, event).await)
}

/// What grants `user` holds, as an independent client reads them: grant groups, inline policies and the
/// `onboarding:roles` record.
async fn grants_of(
    iam: &aws_sdk_iam::Client,
    user: &str,
) -> (Vec<String>, Vec<String>, Option<String>) {
    let groups = iam
        .list_groups_for_user()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .groups()
        .iter()
        .map(|group| group.group_name().to_string())
        .collect();
    let policies = iam
        .list_user_policies()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .policy_names()
        .to_vec();
    let record = iam
        .list_user_tags()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .tags()
        .iter()
        .find(|tag| tag.key() == "onboarding:roles")
        .map(|tag| tag.value().to_string());
    (groups, policies, record)
}

#[tokio::test]
async fn revoking_a_role_takes_the_grant_its_record_and_its_trust_and_the_drift_check_leaves_it_so()
{
    for (grant_mode, trust_mode) in [("group", "users"), ("inline", "account")] {
        let moto = Moto::start();
        let vars = [
            ("ROLE_CATALOG", TWO_ROLES),
            ("GRANT_MODE", grant_mode),
            ("TRUST_MODE", trust_mode),
        ];
        let mut app = moto.app(&vars).await;
        let iam = moto.iam().await;
        let lead = admin("lead@example.com");
        let mode = format!("GRANT_MODE={grant_mode} TRUST_MODE={trust_mode}");
        let dev_arn = format!("arn:aws:iam::{ACCOUNT}:user/onboarded/dev");
        let created = onboard_as(
            &app,
            lead.clone(),
            json!({"username": "dev", "roles": ["ResourceCreatorRole", "BreakGlass"]}),
        )
        .await;
        assert_eq!(created.status, 201, "{mode}: {}", created.body);
        let before = grants_of(&iam, "dev").await;

        // The person cannot revoke, not even their own roles.
        let refused = revoke_as(&app, self_service("dev"), "dev", "BreakGlass").await;
        assert_eq!(
            (refused.status, refused.error_code()),
            (403, "forbidden"),
            "{mode}"
        );
        assert_eq!(
            grants_of(&iam, "dev").await,
            before,
            "{mode}: a refusal changes nothing"
        );

        let revoked = revoke_as(&app, lead.clone(), "dev", "BreakGlass").await;
        assert_eq!(revoked.status, 200, "{mode}: {}", revoked.body);
        assert_eq!(revoked.body["outcome"], "revoked", "{mode}");
        assert_eq!(revoked.body["user"]["arn"], dev_arn, "{mode}");
        assert_eq!(
            revoked.body["role"]["arn"],
            format!("arn:aws:iam::{ACCOUNT}:role/BreakGlass"),
            "{mode}"
        );
        let (groups, policies, record) = grants_of(&iam, "dev").await;
        assert_eq!(record.as_deref(), Some("ResourceCreatorRole"), "{mode}");
        match grant_mode {
            "group" => {
                assert_eq!(groups, ["onboarding-ResourceCreatorRole"], "{mode}");
                assert!(policies.is_empty(), "{mode}: {policies:?}");
            }
            _ => {
                assert!(groups.is_empty(), "{mode}: {groups:?}");
                assert_eq!(policies, ["AssumeResourceCreatorRole"], "{mode}");
            }
        }
        let break_glass = trust_principals(&trust_policy(&iam, "BreakGlass").await);
        assert!(!break_glass.contains(&dev_arn), "{mode}: {break_glass:?}");
        if trust_mode == "users" {
            let kept = trust_principals(&trust_policy(&iam, "ResourceCreatorRole").await);
            assert_eq!(
                kept,
                std::slice::from_ref(&dev_arn),
                "{mode}: the other role keeps the user"
            );
            assert!(
                revoked.body["removed"]
                    .to_string()
                    .contains("principal in the trust policy of role BreakGlass"),
                "{mode}: {}",
                revoked.body
            );
        }

        // Again: nothing left to revoke, and it says so.
        let again = revoke_as(&app, lead.clone(), "dev", "BreakGlass").await;
        assert_eq!(again.status, 200, "{mode}: {}", again.body);
        assert_eq!(again.body["outcome"], "not_granted", "{mode}");
        assert_eq!(again.body["removed"], json!([]), "{mode}");

        // The record is what the drift check repairs to: the revoked role is neither a finding nor re-granted.
        app.drift = provisioning::config::DriftSettings::from_lookup(|name| {
            (name == "REMEDIATE").then(|| "true".to_string())
        })
        .unwrap();
        let report = functions::drift_check::handle(&app, json!({}))
            .await
            .unwrap();
        let about_grants: Vec<&str> = report
            .findings
            .iter()
            .filter(|f| f.rule == "user.grant-missing" || f.message.contains("BreakGlass"))
            .map(|f| f.message.as_str())
            .collect();
        assert!(about_grants.is_empty(), "{mode}: {about_grants:?}");
        let (groups, policies, record) = grants_of(&iam, "dev").await;
        assert!(
            !groups.contains(&"onboarding-BreakGlass".to_string()),
            "{mode}"
        );
        assert!(
            !policies.contains(&"AssumeBreakGlass".to_string()),
            "{mode}"
        );
        assert_eq!(record.as_deref(), Some("ResourceCreatorRole"), "{mode}");
        let break_glass = trust_principals(&trust_policy(&iam, "BreakGlass").await);
        assert!(!break_glass.contains(&dev_arn), "{mode}: {break_glass:?}");

        // Refusals: no such user, a user that is not ours, a role outside the catalog.
        iam.create_user().user_name("carol").send().await.unwrap();
        let cases = [
            ("nobody", "BreakGlass", 404, "user_not_found"),
            ("carol", "BreakGlass", 409, "user_exists_unmanaged"),
            ("dev", "NoSuchRole", 400, "unknown_role"),
            (
                "dev",
                "arn:aws:iam::123456789012:role/BreakGlass",
                400,
                "unknown_role",
            ),
        ];
        for (user, role, status, code) in cases {
            let refused = revoke_as(&app, lead.clone(), user, role).await;
            assert_eq!(
                (refused.status, refused.error_code()),
                (status, code),
                "{mode}: {user} {role}"
            );
        }
        assert!(
            iam.list_groups_for_user()
                .user_name("carol")
                .send()
                .await
                .unwrap()
                .groups()
                .is_empty()
        );
    }
}

#[tokio::test]
async fn a_persons_own_replay_puts_back_no_role_only_an_admin_grants() {
    let moto = Moto::start();
    let app = moto.app(&[("ROLE_CATALOG", TWO_ROLES)]).await;
    let iam = moto.iam().await;
    let lead = admin("lead@example.com");
    for user in ["dev", "ops"] {
        let created = onboard_as(
            &app,
            lead.clone(),
            json!({"username": user, "roles": ["ResourceCreatorRole", "BreakGlass"]}),
        )
        .await;
        assert_eq!(created.status, 201, "{}", created.body);
    }
    // An admin takes dev out of BreakGlass by hand: the record still names it.
    iam.remove_user_from_group()
        .user_name("dev")
        .group_name("onboarding-BreakGlass")
        .send()
        .await
        .unwrap();

    let replay = onboard_as(&app, self_service("dev"), json!({})).await;
    assert_eq!(replay.status, 200, "{}", replay.body);
    let (groups, _, record) = grants_of(&iam, "dev").await;
    assert_eq!(groups, ["onboarding-ResourceCreatorRole"]);
    assert_eq!(record.as_deref(), Some("ResourceCreatorRole"));

    // A grant still in place is the person's to keep: their replay takes nothing away.
    let replay = onboard_as(&app, self_service("ops"), json!({})).await;
    assert_eq!(replay.status, 200, "{}", replay.body);
    let (mut groups, _, record) = grants_of(&iam, "ops").await;
    groups.sort();
    assert_eq!(
        groups,
        ["onboarding-BreakGlass", "onboarding-ResourceCreatorRole"]
    );
    assert_eq!(record.as_deref(), Some("BreakGlass ResourceCreatorRole"));

    // Revoked through the route, it stays revoked too.
    let revoked = revoke_as(&app, lead.clone(), "ops", "BreakGlass").await;
    assert_eq!(revoked.body["outcome"], "revoked", "{}", revoked.body);
    let replay = onboard_as(&app, self_service("ops"), json!({})).await;
    assert_eq!(replay.status, 200, "{}", replay.body);
    let (groups, _, record) = grants_of(&iam, "ops").await;
    assert_eq!(groups, ["onboarding-ResourceCreatorRole"]);
    assert_eq!(record.as_deref(), Some("ResourceCreatorRole"));

    // An admin may give it back.
    let regranted = onboard_as(
        &app,
        lead,
        json!({"username": "dev", "roles": ["BreakGlass"]}),
    )
    .await;
    assert_eq!(regranted.status, 200, "{}", regranted.body);
    let (_, _, record) = grants_of(&iam, "dev").await;
    assert_eq!(record.as_deref(), Some("BreakGlass ResourceCreatorRole"));
}

fn sample(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("events")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).expect("sample event")).expect("JSON")
}

#[tokio::test]
async fn the_sample_events_drive_the_functions() {
    let moto = Moto::start();
    let app = moto.app(&[]).await;
    let invoked = to_json(onboard::invoke(&app, sample("onboarding-requested.json")).await);
    assert_eq!(invoked["outcome"], "User Onboarded", "{invoked}");
    let invalid = to_json(onboard::invoke(&app, sample("onboarding-requested-invalid.json")).await);
    assert_eq!(invalid["error"]["code"], "invalid_request", "{invalid}");

    let onboarded = to_json(onboard::invoke(&app, sample("onboard-self-service.json")).await);
    assert_eq!(onboarded["statusCode"], 201, "{onboarded}");
    let seen = reply(status::handle(&app, sample("status.json")).await);
    assert_eq!(seen.status, 200, "{}", seen.body);
    let issued = reply(issue_key::handle(&app, sample("issue-key.json")).await);
    assert_eq!(issued.status, 201, "{}", issued.body);
    let absent = reply(issue_key::handle(&app, sample("delete-access-key.json")).await);
    assert_eq!(absent.status, 404, "{}", absent.body);
    assert_eq!(absent.error_code(), "access_key_not_found");
    let mut deletion = sample("delete-access-key.json");
    deletion["pathParameters"]["access_key_id"] =
        issued.body["previous_access_key"]["access_key_id"].clone();
    let deleted = reply(issue_key::handle(&app, deletion).await);
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    let revoked = to_json(offboard::invoke(&app, sample("revoke-role.json")).await);
    assert_eq!(revoked["statusCode"], 200, "{revoked}");
    let body: Value = serde_json::from_str(revoked["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["outcome"], "revoked", "{body}");
    let gone = to_json(offboard::invoke(&app, sample("offboard.json")).await);
    assert_eq!(gone["statusCode"], 200, "{gone}");

    let left = to_json(offboard::invoke(&app, sample("offboarding-requested.json")).await);
    assert_eq!(left["outcome"], "User Offboarded", "{left}");
    assert!(
        moto.iam()
            .await
            .list_users()
            .send()
            .await
            .unwrap()
            .users()
            .is_empty()
    );
}

//! Concurrent requests against one moto: many people granted the same role at once, in both trust modes,
//! and the same request sent several times at once. Nothing may be lost or made twice.

use std::sync::Arc;

use serde_json::json;
use test_support::*;
use tokio::task::JoinSet;

const ROLE: &str = "ResourceCreatorRole";
const GROUP: &str = "onboarding-ResourceCreatorRole";

async fn onboard_all_at_once(app: Arc<functions::app::App>, people: &[String]) -> Vec<Reply> {
    let mut requests = JoinSet::new();
    for person in people {
        let (app, person) = (app.clone(), person.clone());
        requests.spawn(async move { onboard_as(&app, self_service(&person), json!({})).await });
    }
    requests.join_all().await
}

fn people(count: usize) -> Vec<String> {
    (0..count)
        .map(|n| format!("person{n:02}@example.com"))
        .collect()
}

async fn trusted_principals(iam: &aws_sdk_iam::Client) -> Vec<String> {
    let role = iam
        .get_role()
        .role_name(ROLE)
        .send()
        .await
        .expect("the role exists");
    let document = role
        .role()
        .and_then(|r| r.assume_role_policy_document())
        .expect("a trust policy");
    provisioning::policy::trusted_aws_principals(&decode_policy(document))
}

async fn group_members(iam: &aws_sdk_iam::Client) -> Vec<String> {
    let group = iam
        .get_group()
        .group_name(GROUP)
        .send()
        .await
        .expect("the grant group exists");
    group
        .users()
        .iter()
        .map(|u| u.user_name().to_string())
        .collect()
}

async fn locks_left(iam: &aws_sdk_iam::Client) -> usize {
    iam.list_policies()
        .path_prefix("/onboarding/locks/")
        .send()
        .await
        .expect("moto lists policies")
        .policies()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_people_granted_one_role_at_once_all_get_it_in_account_mode() {
    let moto = Moto::start();
    let app = Arc::new(moto.app(&[]).await);
    let iam = moto.iam().await;
    let people = people(20);

    let replies = onboard_all_at_once(app, &people).await;
    for reply in &replies {
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    let mut members = group_members(&iam).await;
    members.sort();
    assert_eq!(members, people, "every grant is in the group");
    assert!(
        trusted_principals(&iam)
            .await
            .iter()
            .all(|p| p.ends_with(":root")),
        "account mode trusts the account, not users"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_people_granted_one_role_at_once_all_get_it_in_users_mode() {
    let moto = Moto::start();
    let app = Arc::new(moto.app(&[("TRUST_MODE", "users")]).await);
    let iam = moto.iam().await;
    let people = people(20);

    let replies = onboard_all_at_once(app, &people).await;
    for reply in &replies {
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    let mut trusted = trusted_principals(&iam).await;
    trusted.sort();
    let expected: Vec<String> = people
        .iter()
        .map(|p| format!("arn:aws:iam::{ACCOUNT}:user/onboarded/{p}"))
        .collect();
    assert_eq!(
        trusted, expected,
        "no principal lost to a concurrent read-modify-write"
    );
    let mut members = group_members(&iam).await;
    members.sort();
    assert_eq!(members, people);
    assert_eq!(locks_left(&iam).await, 0, "every lock was released");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_onboardings_and_offboardings_of_one_role_keep_exactly_the_remaining_holders() {
    let moto = Moto::start();
    let app = Arc::new(moto.app(&[("TRUST_MODE", "users")]).await);
    let iam = moto.iam().await;
    let leavers = people(6);
    for reply in onboard_all_at_once(app.clone(), &leavers).await {
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    let joiners: Vec<String> = (0..6).map(|n| format!("joiner{n}@example.com")).collect();

    let mut requests = JoinSet::new();
    for leaver in &leavers {
        let (app, leaver) = (app.clone(), leaver.clone());
        requests.spawn(async move { offboard_as(&app, admin("admin@example.com"), &leaver).await });
    }
    for joiner in &joiners {
        let (app, joiner) = (app.clone(), joiner.clone());
        requests.spawn(async move { onboard_as(&app, self_service(&joiner), json!({})).await });
    }
    for reply in requests.join_all().await {
        assert!(reply.status == 200 || reply.status == 201, "{}", reply.body);
    }
    let mut trusted = trusted_principals(&iam).await;
    trusted.sort();
    let mut expected: Vec<String> = joiners
        .iter()
        .map(|p| format!("arn:aws:iam::{ACCOUNT}:user/onboarded/{p}"))
        .collect();
    expected.sort();
    assert_eq!(trusted, expected);
    assert_eq!(locks_left(&iam).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_identical_requests_make_one_user_one_key_and_one_answer_with_the_secret() {
    let moto = Moto::start();
    let app = Arc::new(moto.app(&[]).await);
    let iam = moto.iam().await;
    let me = "impatient@example.com";

    let replies = onboard_all_at_once(app, &vec![me.to_string(); 5]).await;
    let with_secret: Vec<&Reply> = replies
        .iter()
        .filter(|r| r.body["access_key"]["secret_access_key"].is_string())
        .collect();
    assert_eq!(
        with_secret.len(),
        1,
        "{:?}",
        replies.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    assert_eq!(with_secret[0].status, 201);
    for reply in &replies {
        assert!(reply.status == 200 || reply.status == 201, "{}", reply.body);
        if !reply.body["access_key"]["secret_access_key"].is_string() {
            assert_eq!(reply.status, 200, "{}", reply.body);
            assert!(reply.body["mfa"].get("otpauth_uri").is_none());
            assert!(
                reply.body["access_key"].get("secret_lost").is_none(),
                "a concurrent request's key is not a lost one: {}",
                reply.body
            );
        }
    }
    let users = iam.list_users().send().await.expect("users");
    assert_eq!(users.users().len(), 1);
    let keys = iam
        .list_access_keys()
        .user_name(me)
        .send()
        .await
        .expect("keys");
    assert_eq!(keys.access_key_metadata().len(), 1, "one key");
    let devices = iam
        .list_virtual_mfa_devices()
        .send()
        .await
        .expect("devices");
    assert_eq!(devices.virtual_mfa_devices().len(), 1, "one MFA device");
    assert_eq!(group_members(&iam).await, vec![me.to_string()]);
}

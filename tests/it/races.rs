//! Concurrent requests against one moto: many people granted the same role at once, in both trust modes,
//! and the same request sent several times at once. Nothing may be lost or made twice.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use test_support::proxy::{Fault, FaultKind, FaultProxy, When};
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

/// Every page: a long `RACE_RUNS` puts more members in the group than IAM lists on one.
async fn group_members(iam: &aws_sdk_iam::Client) -> Vec<String> {
    let pages: Vec<_> = iam
        .get_group()
        .group_name(GROUP)
        .into_paginator()
        .send()
        .collect::<Result<_, _>>()
        .await
        .expect("the grant group exists");
    pages
        .iter()
        .flat_map(|page| page.users())
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

/// Five identical onboardings of one person, as they happen to people: a double click, a retry and a
/// reload arrive at different moments within half a second, each through its own function instance,
/// while IAM is slow to make the key and jitters its reads. One user, one key, one MFA device, one answer
/// with the secrets; every other answer is a plain 200 without them, saying where they went when it saw
/// them being made. `RACE_RUNS` repeats it with a new person each time (scripts/bench-races: 200 runs).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_identical_requests_make_one_user_one_key_and_one_answer_with_the_secret() {
    let runs: usize = std::env::var("RACE_RUNS")
        .ok()
        .and_then(|runs| runs.parse().ok())
        .unwrap_or(3);
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint).await;
    proxy.inject(Fault::on(
        "iam:CreateAccessKey",
        FaultKind::Slow(Duration::from_millis(600)),
        When::Always,
    ));
    for read in [
        "iam:GetUser",
        "iam:ListAccessKeys",
        "iam:ListMFADevices",
        "iam:ListGroupsForUser",
    ] {
        proxy.inject(Fault::on(
            read,
            FaultKind::Jitter(Duration::from_millis(200)),
            When::Always,
        ));
    }
    let mut instances = Vec::new();
    for _ in 0..5 {
        instances.push(Arc::new(app_at(&proxy.endpoint, &[]).await));
    }
    let iam = moto.iam().await;
    let started = Instant::now();
    let mut concurrent_answers = 0;
    for run in 0..runs {
        let me = format!("impatient-{run:03}@example.com");
        let mut requests = JoinSet::new();
        for app in &instances {
            let (app, me) = (app.clone(), me.clone());
            let arrives = Duration::from_millis(fastrand::u64(0..500));
            requests.spawn(async move {
                tokio::time::sleep(arrives).await;
                onboard_as(&app, self_service(&me), json!({})).await
            });
        }
        let replies = requests.join_all().await;
        concurrent_answers += one_of_each(&iam, &me, &replies).await;
    }
    eprintln!(
        "five identical requests: {runs} runs in {:.1} s, {concurrent_answers} answers said \"issued_to_a_concurrent_request\"",
        started.elapsed().as_secs_f64()
    );
}

/// One user, one key, one device, one answer with the secrets; how many others said where they went.
async fn one_of_each(iam: &aws_sdk_iam::Client, me: &str, replies: &[Reply]) -> usize {
    let bodies = || replies.iter().map(|r| &r.body).collect::<Vec<_>>();
    let with_secret: Vec<&Reply> = replies
        .iter()
        .filter(|r| r.body["access_key"]["secret_access_key"].is_string())
        .collect();
    assert_eq!(with_secret.len(), 1, "{me}: {:#?}", bodies());
    assert_eq!(with_secret[0].status, 201);
    assert!(with_secret[0].body["mfa"]["otpauth_uri"].is_string());
    let mut concurrent = 0;
    for reply in replies
        .iter()
        .filter(|r| !r.body["access_key"]["secret_access_key"].is_string())
    {
        assert_eq!(reply.status, 200, "{me}: {}", reply.body);
        assert!(reply.body["mfa"].get("otpauth_uri").is_none());
        assert!(
            reply.body["access_key"].get("secret_lost").is_none(),
            "{me}: a concurrent request's key is not a lost one: {}",
            reply.body
        );
        if let Some(note) = reply.body.get("secrets") {
            assert_eq!(note, "issued_to_a_concurrent_request", "{}", reply.body);
            concurrent += 1;
        }
    }
    assert!(iam.get_user().user_name(me).send().await.is_ok());
    let keys = iam
        .list_access_keys()
        .user_name(me)
        .send()
        .await
        .expect("keys");
    assert_eq!(keys.access_key_metadata().len(), 1, "{me}: one key");
    // Every page: past a hundred runs the account holds more devices than IAM lists on one.
    let devices: Vec<aws_sdk_iam::types::VirtualMfaDevice> = iam
        .list_virtual_mfa_devices()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<_, _>>()
        .await
        .expect("devices");
    let mine: Vec<&str> = devices
        .iter()
        .map(|device| device.serial_number())
        .filter(|serial| serial.ends_with(&format!("/{me}")))
        .collect();
    assert_eq!(mine.len(), 1, "{me}: one MFA device");
    let seed = with_secret[0].body["mfa"]["serial_number"].as_str();
    assert_eq!(
        Some(mine[0]),
        seed,
        "{me}: the device whose seed was answered is the one there"
    );
    assert!(group_members(iam).await.contains(&me.to_string()));
    concurrent
}

/// A holder that died left the lock on the role's trust policy, past its lease, and two onboardings wait
/// on it. The one whose read of the lock is answered late (it is held between judging the lock stale and
/// deleting it) must not delete the fresh lock the other took meanwhile: the lock is broken once, the
/// two edits are made one after the other, and neither principal is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stale_lock_is_broken_once_and_no_principal_is_lost() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint).await;
    let app = Arc::new(app_at(&proxy.endpoint, &[("TRUST_MODE", "users")]).await);
    let iam = moto.iam().await;
    let first = onboard_as(&app, self_service("first@example.com"), json!({})).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let lock_name = provisioning::names::trust_lock_name(ROLE);
    iam.create_policy()
        .policy_name(&lock_name)
        .path(provisioning::names::TRUST_LOCK_PATH)
        .policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "none:null", "Resource": "*"}]})
                .to_string(),
        )
        .send()
        .await
        .expect("a lock a dead holder left");
    // Past the lease (60 s): stale.
    tokio::time::sleep(std::time::Duration::from_secs(62)).await;

    proxy.inject(
        Fault::on(
            "iam:GetPolicy",
            FaultKind::SlowAnswer(std::time::Duration::from_secs(3)),
            When::First(1),
        )
        .matching(&lock_name),
    );
    // The writer that takes the lock first is slow to write, so it still holds the lock when the held
    // waiter gets its answer.
    proxy.inject(Fault::on(
        "iam:UpdateAssumeRolePolicy",
        FaultKind::Slow(std::time::Duration::from_secs(6)),
        When::First(1),
    ));
    let newcomers = ["a@example.com".to_string(), "b@example.com".to_string()];
    for reply in onboard_all_at_once(app, &newcomers).await {
        assert_eq!(reply.status, 201, "{}", reply.body);
    }

    let mut trusted = trusted_principals(&iam).await;
    trusted.sort();
    let arn = |name: &str| format!("arn:aws:iam::{ACCOUNT}:user/onboarded/{name}");
    assert_eq!(
        trusted,
        [
            arn("a@example.com"),
            arn("b@example.com"),
            arn("first@example.com")
        ]
    );
    assert_eq!(locks_left(&iam).await, 0, "every lock was released");
}

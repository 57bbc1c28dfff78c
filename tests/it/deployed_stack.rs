//! The stack as CloudFormation creates it. template.yaml is SAM-transformed and created in moto's
//! CloudFormation (tests/support/deploy_stack.py); every function binary runs behind a Lambda Runtime API
//! with exactly the environment its deployed function has and its own role's credentials; a whole life is
//! played through them in both trust modes, with repair on; and every AWS call each function made on the
//! wire is checked, by an evaluator that follows IAM's rules (tests/oracle), against the policies of that
//! function's deployed role. moto enforces no policy, so this is where a missing permission shows.
//!
//! One catalog role lives in a member account of the hub's organisation, where spoke.yaml is deployed
//! as its StackSet would deploy it. What the functions do there they do in sessions of the spoke role
//! they assume: each such call is checked against the spoke role's deployed policies, and each
//! AssumeRole against both the function's role and the spoke role's trust policy. A call signed by
//! anyone else fails the test: nothing on the wire goes unchecked.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::Command;

use aws_sdk_iam::Client as IamClient;
use serde_json::{Value, json};
use test_support::oracle::{Decision, Policies, Request, decide};
use test_support::proxy::{Exchange, FaultProxy};
use test_support::runtime_api::{LambdaProcess, Outcome};
use test_support::step_functions::StateMachine;
use test_support::{
    ACCOUNT, Moto, consecutive_codes, decode_policy, role_policy, trust_policy, workspace_root,
};

const ROLE: &str = "ResourceCreatorRole";
/// The catalog role that lives in the member account.
const MEMBER_ROLE: &str = "WorkloadDeployer";
/// spoke.yaml's role in the member account, which the functions assume to act there.
const SPOKE_ROLE: &str = "OnboardingSpokeRole";
const STACK: &str = "iam-onboarding";
const POWER_USER: &str = "arn:aws:iam::aws:policy/PowerUserAccess";
const USER_PATH: &str = "/onboarded/";
const ADMIN: &str = "admin@example.com";
const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";
/// A user made by hand, outside the managed path: never ours to touch.
const CAROL: &str = "carol@example.com";
const NOBODY: &str = "nobody@example.com";

fn python() -> PathBuf {
    let in_venv = workspace_root().join(".venv/bin/python");
    if in_venv.exists() {
        in_venv
    } else {
        PathBuf::from("python3")
    }
}

fn binary(name: &str) -> &'static str {
    match name {
        "onboard" => env!("CARGO_BIN_EXE_onboard"),
        "enroll-mfa" => env!("CARGO_BIN_EXE_enroll-mfa"),
        "status" => env!("CARGO_BIN_EXE_status"),
        "issue-key" => env!("CARGO_BIN_EXE_issue-key"),
        "offboard" => env!("CARGO_BIN_EXE_offboard"),
        "drift-check" => env!("CARGO_BIN_EXE_drift-check"),
        "drift-org" => env!("CARGO_BIN_EXE_drift-org"),
        other => panic!("the template names a binary this package does not build: {other}"),
    }
}

/// `sam deploy` into moto; the stack's description as tests/support/deploy_stack.py prints it.
fn deploy(moto: &Moto, parameters: &[(&str, &str)]) -> Value {
    deploy_template(moto, "template.yaml", &[], parameters)
}

/// spoke.yaml in a new member account of the hub's organisation, as the StackSet of README "Many
/// accounts" deploys it; the account's id is moto's choice, in the description.
fn deploy_spoke(moto: &Moto, parameters: &[(&str, &str)]) -> Value {
    let options = [
        "--stack",
        "iam-onboarding-spoke",
        "--member-account",
        "member",
    ];
    deploy_template(moto, "spoke.yaml", &options, parameters)
}

/// The member account spoke.yaml goes into, made before the hub (whose SpokeAccountIds names it) and
/// found again by name when the spoke is deployed.
fn member_account(moto: &Moto) -> String {
    let options = ["--member-account", "member", "--account-only"];
    deploy_template(moto, "spoke.yaml", &options, &[])["account_id"]
        .as_str()
        .expect("the member account's id")
        .to_string()
}

fn deploy_template(
    moto: &Moto,
    template: &str,
    options: &[&str],
    parameters: &[(&str, &str)],
) -> Value {
    let mut command = Command::new(python());
    command
        .arg(workspace_root().join("tests/support/deploy_stack.py"))
        .args(["--endpoint", &moto.endpoint])
        .arg("--template")
        .arg(workspace_root().join(template))
        .args(options)
        .env("AWS_DEFAULT_REGION", "us-east-1");
    for (name, value) in parameters {
        command.args(["--parameter", &format!("{name}={value}")]);
    }
    let output = command.output().expect("python runs the deploy script");
    assert!(
        output.status.success(),
        "{template} deploys: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the deploy script prints JSON")
}

/// A deployed function: its process, the key its role's session signs with, and its role's policies.
struct Function {
    logical: String,
    role_arn: String,
    access_key: String,
    policies: Policies,
    process: LambdaProcess,
}

impl Function {
    async fn invoke(&mut self, event: Value) -> Outcome {
        self.process.invoke(event).await
    }
}

/// spoke.yaml as deployed in the member account.
struct Spoke {
    account: String,
    role_arn: String,
    /// The spoke role's own policies: what a session of it may do in the member account.
    policies: Policies,
    /// Its trust policy: who may assume it.
    trust: Value,
    /// The test's own client in the member account, to change things by hand and read them back.
    iam: IamClient,
}

struct Stack {
    mode: &'static str,
    /// Keeps the emulator running as long as the stack.
    _moto: Moto,
    proxy: FaultProxy,
    iam: IamClient,
    functions: BTreeMap<String, Function>,
    spoke: Spoke,
}

/// A role's policies as deploy_stack.py describes them: `[{"name", "document"}]`.
fn named_policies(described: &Value) -> Vec<(String, Value)> {
    described
        .as_array()
        .expect("the role's policies")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or("policy").to_string(),
                p["document"].clone(),
            )
        })
        .collect()
}

/// An IAM client of the test's own acting in the member account, through the role Organizations
/// created there for the management account (the hub, here).
async fn iam_in_member(moto: &Moto, account: &str) -> IamClient {
    let sts = aws_sdk_sts::Client::new(&moto.sdk_config().await);
    let assumed = sts
        .assume_role()
        .role_arn(format!(
            "arn:aws:iam::{account}:role/OrganizationAccountAccessRole"
        ))
        .role_session_name("test")
        .send()
        .await
        .expect("the management account may assume OrganizationAccountAccessRole");
    let credentials = assumed.credentials().expect("session credentials");
    let config = moto
        .sdk_config_as(aws_credential_types::Credentials::new(
            credentials.access_key_id(),
            credentials.secret_access_key(),
            Some(credentials.session_token().to_string()),
            None,
            "test-in-member",
        ))
        .await;
    IamClient::new(&config)
}

impl Stack {
    /// A member account first (its id is moto's choice), then the hub, whose catalog has a role living
    /// there, then spoke.yaml in the member account, trusting the roles the hub's output names.
    async fn deploy(mode: &'static str) -> Stack {
        let moto = Moto::start();
        let proxy = FaultProxy::start(&moto.endpoint).await;
        let sdk = moto.sdk_config().await;
        let member = member_account(&moto);
        let parameters = parameters(mode, &member);
        let parameters: Vec<(&str, &str)> = parameters
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        let described = deploy(&moto, &parameters);
        let trusted = described["outputs"]["SpokeTrustedRoleArns"]
            .as_str()
            .expect("the hub's output SpokeTrustedRoleArns");
        let spoke = deploy_spoke(
            &moto,
            &[
                ("HubAccountId", ACCOUNT),
                ("HubStackName", STACK),
                ("HubFunctionRoleArns", trusted),
                ("CatalogRoleNames", MEMBER_ROLE),
                ("CatalogManagedPolicyArns", POWER_USER),
            ],
        );
        assert_eq!(
            spoke["account_id"],
            member.as_str(),
            "the spoke is in the member account"
        );
        let spoke_role = &spoke["roles"]["SpokeRole"];
        let spoke = Spoke {
            role_arn: spoke_role["arn"].as_str().expect("its ARN").to_string(),
            policies: Policies {
                identity: named_policies(&spoke_role["policies"]),
                ..Policies::default()
            },
            trust: spoke_role["trust"].clone(),
            iam: iam_in_member(&moto, &member).await,
            account: member,
        };
        let sts = aws_sdk_sts::Client::new(&sdk);
        let mut functions = BTreeMap::new();
        for (logical, function) in described["functions"]
            .as_object()
            .expect("the deployed functions")
        {
            let role_arn = function["role_arn"].as_str().expect("a role").to_string();
            // What Lambda hands the function: a session of its own role.
            let session = sts
                .assume_role()
                .role_arn(&role_arn)
                .role_session_name(logical)
                .send()
                .await
                .expect("the function's role can be assumed");
            let credentials = session.credentials().expect("session credentials");
            let mut environment: HashMap<String, String> = function["environment"]
                .as_object()
                .expect("an environment")
                .iter()
                .map(|(name, value)| {
                    // Lambda's environment holds strings; moto keeps what CloudFormation resolved.
                    let value = value
                        .as_str()
                        .map_or_else(|| value.to_string(), str::to_string);
                    (name.clone(), value)
                })
                .collect();
            for (name, value) in [
                ("AWS_REGION", "us-east-1"),
                ("AWS_DEFAULT_REGION", "us-east-1"),
                ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023"),
                ("AWS_ACCESS_KEY_ID", credentials.access_key_id()),
                ("AWS_SECRET_ACCESS_KEY", credentials.secret_access_key()),
                ("AWS_SESSION_TOKEN", credentials.session_token()),
                ("AWS_ENDPOINT_URL", &proxy.endpoint),
            ] {
                environment.insert(name.to_string(), value.to_string());
            }
            let policies = Policies {
                identity: named_policies(&function["policies"]),
                ..Policies::default()
            };
            let process = LambdaProcess::start(
                binary(function["binary"].as_str().expect("a binary name")),
                function["name"].as_str().expect("a function name"),
                &environment,
            )
            .await;
            functions.insert(
                function["binary"].as_str().unwrap_or_default().to_string(),
                Function {
                    logical: logical.clone(),
                    role_arn,
                    access_key: credentials.access_key_id().to_string(),
                    policies,
                    process,
                },
            );
        }
        let iam = IamClient::new(&sdk);
        Stack {
            mode,
            _moto: moto,
            proxy,
            iam,
            functions,
            spoke,
        }
    }

    /// One execution of the drift state machine; its output, the run's summary.
    async fn organisation_run(&mut self, name: &str) -> Value {
        let template: serde_norway::Value = serde_norway::from_str(
            &std::fs::read_to_string(workspace_root().join("template.yaml"))
                .expect("template.yaml"),
        )
        .expect("template.yaml is YAML");
        let definition = serde_json::to_value(
            &template["Resources"]["DriftStateMachine"]["Properties"]["Definition"],
        )
        .expect("the definition holds no intrinsic function");
        let mut steps = HashMap::new();
        for (binary, function) in self.functions.iter_mut() {
            let placeholder = match binary.as_str() {
                "drift-org" => "${DriftOrgFunctionArn}",
                "drift-check" => "${DriftCheckFunctionArn}",
                _ => continue,
            };
            steps.insert(placeholder.to_string(), &mut function.process);
        }
        let execution = StateMachine::new(definition, steps)
            .start(
                name,
                json!({"detail-type": "Scheduled Event", "source": "aws.events"}),
            )
            .await;
        assert_eq!(execution.failure, None, "the run succeeds");
        execution.output.expect("the run's summary")
    }

    async fn invoke(&mut self, binary: &str, event: Value) -> Value {
        let function = self
            .functions
            .get_mut(binary)
            .unwrap_or_else(|| panic!("no deployed function runs {binary}"));
        let outcome = function.invoke(event).await;
        assert_eq!(
            outcome.kind,
            "response",
            "{} ({}) failed: {}\n{}",
            binary,
            self.mode,
            outcome.body,
            function.process.logs()
        );
        outcome.body
    }

    /// An HTTP API request, answered with its status and JSON body.
    async fn http(
        &mut self,
        binary: &str,
        route: &str,
        claims: Value,
        username: Option<&str>,
        body: Value,
    ) -> (i64, Value) {
        let parameters: Vec<(&str, &str)> = username
            .map(|name| ("username", name))
            .into_iter()
            .collect();
        self.http_at(binary, route, claims, &parameters, body).await
    }

    /// `http` for a route with path parameters other than `{username}`.
    async fn http_at(
        &mut self,
        binary: &str,
        route: &str,
        claims: Value,
        parameters: &[(&str, &str)],
        body: Value,
    ) -> (i64, Value) {
        let (method, path) = route.split_once(' ').expect("METHOD /path");
        let raw_path = parameters
            .iter()
            .fold(path.to_string(), |path, (name, value)| {
                path.replace(&format!("{{{name}}}"), value)
            });
        let mut event = json!({
            "version": "2.0",
            "routeKey": route,
            "rawPath": raw_path,
            "rawQueryString": "",
            "headers": {"content-type": "application/json"},
            "requestContext": {
                "accountId": ACCOUNT,
                "apiId": "apistandin",
                "requestId": format!("{binary}-{}", self.proxy.exchanges().len()),
                "routeKey": route,
                "stage": "$default",
                "authorizer": {"jwt": {"claims": claims, "scopes": null}},
                "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1",
                         "sourceIp": "203.0.113.10", "userAgent": "test"}
            },
            "body": if body.is_null() { Value::Null } else { Value::String(body.to_string()) },
            "isBase64Encoded": false
        });
        if !parameters.is_empty() {
            event["pathParameters"] = parameters
                .iter()
                .map(|(name, value)| (name.to_string(), json!(value)))
                .collect();
        }
        let response = self.invoke(binary, event).await;
        let status = response["statusCode"].as_i64().expect("a status code");
        let body = response["body"]
            .as_str()
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or(Value::Null);
        (status, body)
    }

    async fn eventbridge(&mut self, binary: &str, detail_type: &str, detail: Value) -> Value {
        let event = json!({
            "version": "0",
            "id": format!("{binary}-event-{}", self.proxy.exchanges().len()),
            "detail-type": detail_type,
            "source": "com.example.hr",
            "account": ACCOUNT,
            "time": "2026-11-30T10:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": detail
        });
        self.invoke(binary, event).await
    }
}

fn person(email: &str) -> Value {
    json!({"sub": format!("sub-{email}"), "email": email, "email_verified": "true"})
}

fn administrator(email: &str) -> Value {
    json!({"sub": format!("sub-{email}"), "email": email, "email_verified": "true",
           "cognito:groups": "[onboarding-admins]"})
}

/// Out-of-band changes of every kind the drift check knows, as people make them in the console.
async fn drift_by_hand(iam: &IamClient, mode: &str) {
    let s3_all = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]});
    iam.attach_user_policy()
        .user_name(ALICE)
        .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
        .send()
        .await
        .expect("attach");
    iam.create_group()
        .group_name("hand-made")
        .send()
        .await
        .expect("group");
    iam.add_user_to_group()
        .user_name(ALICE)
        .group_name("hand-made")
        .send()
        .await
        .expect("membership");
    iam.put_user_policy()
        .user_name(BOB)
        .policy_name("quick-fix")
        .policy_document(s3_all.to_string())
        .send()
        .await
        .expect("inline policy");
    iam.create_login_profile()
        .user_name(BOB)
        .password("Sup3r-secret-pw!")
        .send()
        .await
        .expect("console password");
    role_drift_by_hand(iam, ROLE).await;
    let group = format!("onboarding-{ROLE}");
    if mode == "account" {
        iam.remove_user_from_group()
            .user_name(BOB)
            .group_name(&group)
            .send()
            .await
            .expect("grant removed");
        iam.attach_group_policy()
            .group_name(&group)
            .policy_arn("arn:aws:iam::aws:policy/ReadOnlyAccess")
            .send()
            .await
            .expect("group policy");
        iam.add_user_to_group()
            .user_name(CAROL)
            .group_name(&group)
            .send()
            .await
            .expect("unmanaged member");
        iam.put_group_policy()
            .group_name(&group)
            .policy_name("extra")
            .policy_document(s3_all.to_string())
            .send()
            .await
            .expect("group inline policy");
    }
    let weakened = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "sts:AssumeRole",
         "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}}},
        {"Sid": "Partner", "Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::999999999999:root", "AIDAJQABLZS4A3QDU576Q"]},
         "Action": "sts:AssumeRole", "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}
    ]});
    iam.update_assume_role_policy()
        .role_name(ROLE)
        .policy_document(weakened.to_string())
        .send()
        .await
        .expect("trust weakened");
}

/// What people do to a catalog role by hand: an admin policy attached, the catalog's policy detached, the
/// boundary removed, an inline policy added.
async fn role_drift_by_hand(iam: &IamClient, role: &str) {
    let s3_all = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]});
    iam.attach_role_policy()
        .role_name(role)
        .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
        .send()
        .await
        .expect("role policy");
    iam.detach_role_policy()
        .role_name(role)
        .policy_arn(POWER_USER)
        .send()
        .await
        .expect("catalog policy detached");
    iam.delete_role_permissions_boundary()
        .role_name(role)
        .send()
        .await
        .expect("boundary removed");
    iam.put_role_policy()
        .role_name(role)
        .policy_name("extra")
        .policy_document(s3_all.to_string())
        .send()
        .await
        .expect("role inline policy");
}

/// Out-of-band changes in the member account, to the catalog role living there: each is the member
/// account's check to find and repair, through the spoke role.
async fn drift_in_member(iam: &IamClient) {
    role_drift_by_hand(iam, MEMBER_ROLE).await;
    let weakened = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "sts:AssumeRole",
         "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}}}
    ]});
    iam.update_assume_role_policy()
        .role_name(MEMBER_ROLE)
        .policy_document(weakened.to_string())
        .send()
        .await
        .expect("trust weakened");
}

/// The catalog role's trust policy, as onboarding wrote it, judged by the evaluator rather than by our own
/// analysis (trust.rs): Alice, with her grant, gets in only with MFA; nobody outside the managed path or
/// the account gets in at all.
async fn assert_trust_requires_mfa(iam: &IamClient, mode: &str) {
    let trust = trust_policy(iam, ROLE).await;
    // `users` mode is deployed with GRANT_MODE=inline: the grant is Alice's own inline policy.
    let grant = if mode == "users" {
        let policy = iam
            .get_user_policy()
            .user_name(ALICE)
            .policy_name(format!("Assume{ROLE}"))
            .send()
            .await
            .expect("the inline grant");
        decode_policy(policy.policy_document())
    } else {
        let policy = iam
            .get_group_policy()
            .group_name(format!("onboarding-{ROLE}"))
            .policy_name(format!("Assume{ROLE}"))
            .send()
            .await
            .expect("the grant");
        decode_policy(policy.policy_document())
    };
    let role_arn = format!("arn:aws:iam::{ACCOUNT}:role/{ROLE}");
    let granted = Policies {
        identity: vec![("grant".to_string(), grant)],
        resource: Some(trust.clone()),
        ..Policies::default()
    };
    let assume_anything = Policies {
        identity: vec![(
            "admin".to_string(),
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}),
        )],
        resource: Some(trust),
        ..Policies::default()
    };
    let alice = format!("arn:aws:iam::{ACCOUNT}:user{USER_PATH}{ALICE}");
    let carol = format!("arn:aws:iam::{ACCOUNT}:user/{CAROL}");
    let stranger = format!("arn:aws:iam::999999999999:user{USER_PATH}{ALICE}");
    // The caller's user name is what IAM resolves `${aws:username}` to; the source identity is what the
    // caller asks for (`--source-identity`).
    let as_caller = |principal: &str, action: &str| {
        let username = principal.rsplit('/').next().unwrap_or_default();
        Request::new(principal, action, &role_arn).with("aws:username", username)
    };
    let assume = |principal: &str| as_caller(principal, "sts:AssumeRole");
    let with_mfa_as = |principal: &str, age: &str, source_identity: &str| {
        assume(principal)
            .with("aws:MultiFactorAuthPresent", "true")
            .with("aws:MultiFactorAuthAge", age)
            .with("sts:SourceIdentity", source_identity)
    };
    let with_mfa = |principal: &str, age: &str| with_mfa_as(principal, age, ALICE);
    let mut cases: Vec<(&str, Request, &Policies, bool)> = vec![
        ("with MFA", with_mfa(&alice, "100"), &granted, true),
        (
            "setting her own name as the source identity",
            as_caller(&alice, "sts:SetSourceIdentity")
                .with("aws:MultiFactorAuthPresent", "true")
                .with("aws:MultiFactorAuthAge", "100")
                .with("sts:SourceIdentity", ALICE),
            &granted,
            true,
        ),
        (
            "with MFA and another person's name as the source identity",
            with_mfa_as(&alice, "100", "bob@example.com"),
            &granted,
            false,
        ),
        (
            "with MFA and no source identity",
            assume(&alice)
                .with("aws:MultiFactorAuthPresent", "true")
                .with("aws:MultiFactorAuthAge", "100"),
            &granted,
            false,
        ),
        (
            "with a long-term key (no MFA key)",
            assume(&alice),
            &granted,
            false,
        ),
        (
            "with a session made without MFA",
            assume(&alice).with("aws:MultiFactorAuthPresent", "false"),
            &granted,
            false,
        ),
        (
            "an unmanaged user allowed sts:AssumeRole on *",
            with_mfa(&carol, "100"),
            &assume_anything,
            false,
        ),
        (
            "another account's user",
            with_mfa(&stranger, "100"),
            &assume_anything,
            false,
        ),
    ];
    if mode == "users" {
        // Deployed with MfaMaxAgeSeconds=3600.
        cases.push((
            "with MFA older than MFA_MAX_AGE_SECONDS",
            with_mfa(&alice, "7200"),
            &granted,
            false,
        ));
    }
    let batch: Vec<(Request, &Policies)> =
        cases.iter().map(|(_, r, p, _)| (r.clone(), *p)).collect();
    for ((name, _, _, allowed), decision) in cases.iter().zip(decide(&batch)) {
        assert_eq!(
            decision == Decision::Allowed,
            *allowed,
            "{mode} mode, sts:AssumeRole {name}: {decision:?}"
        );
    }
}

/// What IAM refuses to delete a user over, added by hand: an inline and a managed policy, a console
/// password and an SSH key.
async fn credentials_by_hand(iam: &IamClient, user: &str) {
    let s3_all = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]});
    iam.put_user_policy()
        .user_name(user)
        .policy_name("quick-fix")
        .policy_document(s3_all.to_string())
        .send()
        .await
        .expect("inline policy");
    iam.attach_user_policy()
        .user_name(user)
        .policy_arn("arn:aws:iam::aws:policy/ReadOnlyAccess")
        .send()
        .await
        .expect("managed policy");
    iam.create_login_profile()
        .user_name(user)
        .password("Sup3r-secret-pw!")
        .send()
        .await
        .expect("console password");
    iam.upload_ssh_public_key()
        .user_name(user)
        .ssh_public_key_body("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 dev@laptop")
        .send()
        .await
        .expect("SSH key");
}

/// The whole life of two people through the deployed functions.
async fn live(stack: &mut Stack) {
    let iam = stack.iam.clone();
    iam.create_user()
        .user_name(CAROL)
        .send()
        .await
        .expect("an unmanaged user");

    // A new person onboards themselves, then replays the request.
    let (status, alice) = stack
        .http(
            "onboard",
            "POST /users",
            person(ALICE),
            None,
            json!({"roles": [ROLE, MEMBER_ROLE]}),
        )
        .await;
    assert_eq!(status, 201, "{alice}");
    let role = iam
        .get_role()
        .role_name(ROLE)
        .send()
        .await
        .expect("the catalog role");
    assert_eq!(
        role.role()
            .and_then(|r| r.permissions_boundary())
            .and_then(|b| b.permissions_boundary_arn()),
        Some(
            format!(
                "arn:aws:iam::{ACCOUNT}:policy/onboarding/iam-onboarding-catalog-role-boundary"
            )
            .as_str()
        ),
        "the catalog role is created under the stack's boundary"
    );
    let member = stack.spoke.account.clone();
    let in_member = stack
        .spoke
        .iam
        .get_role()
        .role_name(MEMBER_ROLE)
        .send()
        .await
        .expect("the member account's catalog role");
    assert_eq!(
        in_member
            .role()
            .and_then(|r| r.permissions_boundary())
            .and_then(|b| b.permissions_boundary_arn()),
        Some(
            format!("arn:aws:iam::{member}:policy/onboarding/{STACK}-catalog-role-boundary")
                .as_str()
        ),
        "the member account's catalog role is created there, under spoke.yaml's copy of the boundary"
    );
    let (status, replay) = stack
        .http(
            "onboard",
            "POST /users",
            person(ALICE),
            None,
            json!({"roles": [ROLE, MEMBER_ROLE]}),
        )
        .await;
    assert_eq!(status, 200, "{replay}");

    // HR onboards Bob; Bob then asks for his key and MFA device himself.
    let reply = stack
        .eventbridge(
            "onboard",
            "Onboarding Requested",
            json!({"username": BOB, "roles": [ROLE], "requested_by": "HR-1"}),
        )
        .await;
    assert_eq!(reply["outcome"], "User Onboarded", "{reply}");
    // What the drift check does not judge (GetAccountAuthorizationDetails has no MaxSessionDuration) but
    // onboarding puts back: the member account's role's sessions lengthened by hand, before Bob asks
    // for that role.
    stack
        .spoke
        .iam
        .update_role()
        .role_name(MEMBER_ROLE)
        .max_session_duration(43200)
        .send()
        .await
        .expect("longer sessions");
    let (status, bob) = stack
        .http(
            "onboard",
            "POST /users",
            person(BOB),
            None,
            json!({"roles": [ROLE, MEMBER_ROLE]}),
        )
        .await;
    assert!(status == 200 || status == 201, "{status} {bob}");
    let sessions = stack
        .spoke
        .iam
        .get_role()
        .role_name(MEMBER_ROLE)
        .send()
        .await
        .expect("the member account's catalog role")
        .role()
        .and_then(|role| role.max_session_duration());
    assert_eq!(sessions, Some(3600), "put back by Bob's onboarding");

    // An existing user outside the managed path is refused, not taken over.
    let (status, refused) = stack
        .http(
            "onboard",
            "POST /users",
            administrator(ADMIN),
            None,
            json!({"username": CAROL, "roles": [ROLE]}),
        )
        .await;
    assert_eq!(status, 409, "{refused}");

    // MFA: the device is issued again (the QR code was lost), then enabled with two codes.
    let mfa_route = "POST /users/{username}/mfa";
    let (status, issued) = stack
        .http(
            "enroll-mfa",
            mfa_route,
            person(ALICE),
            Some(ALICE),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{issued}");
    let uri = issued["mfa"]["otpauth_uri"]
        .as_str()
        .expect("a new seed")
        .to_string();
    let (code1, code2) = consecutive_codes(&uri);
    let (status, enabled) = stack
        .http(
            "enroll-mfa",
            mfa_route,
            person(ALICE),
            Some(ALICE),
            json!({"code1": code1, "code2": code2}),
        )
        .await;
    assert_eq!(status, 200, "{enabled}");
    assert_trust_requires_mfa(&iam, stack.mode).await;

    // GET /.well-known/onboarding, as API Gateway delivers it without an authorizer: the status
    // function answers from its deployed environment, cacheable, with no AWS call of its own.
    let calls_before = stack.proxy.exchanges().len();
    let unauthenticated = |path: &str| {
        json!({
            "version": "2.0",
            "routeKey": format!("GET {path}"),
            "rawPath": path,
            "rawQueryString": "",
            "headers": {},
            "requestContext": {
                "accountId": ACCOUNT, "apiId": "apistandin", "requestId": "unauthenticated",
                "domainName": "apistandin.execute-api.us-east-1.amazonaws.com",
                "routeKey": format!("GET {path}"), "stage": "$default",
                "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1",
                         "sourceIp": "203.0.113.10", "userAgent": "test"}
            },
            "isBase64Encoded": false
        })
    };
    let discovery = stack
        .invoke("status", unauthenticated("/.well-known/onboarding"))
        .await;
    assert_eq!(discovery["statusCode"], 200, "{discovery}");
    assert!(
        discovery["headers"]["cache-control"]
            .as_str()
            .is_some_and(|value| value.contains("max-age")),
        "{discovery}"
    );
    let advertised: Value =
        serde_json::from_str(discovery["body"].as_str().expect("a body")).expect("JSON");
    let mut expected = json!({"api_url": "https://apistandin.execute-api.us-east-1.amazonaws.com",
           "api_version": functions::discovery::API_VERSION,
           "issuer": "https://idp.example.com", "client_id": "onboarding", "audience": ["onboarding"],
           "region": "us-east-1"});
    // The users-mode stack is deployed with MfaMaxAgeSeconds=3600, which clients are told.
    if stack.mode == "users" {
        expected["mfa_max_age_seconds"] = json!(3600);
    }
    assert_eq!(advertised, expected);
    // GET /, the page, from the same environment: its script may call the API and the issuer only.
    let page = stack.invoke("status", unauthenticated("/")).await;
    assert_eq!(page["statusCode"], 200, "{page}");
    let policy = page["headers"]["content-security-policy"]
        .as_str()
        .unwrap_or_default();
    assert!(
        policy.contains("connect-src 'self' https://idp.example.com;"),
        "{policy}"
    );
    assert!(
        page["body"]
            .as_str()
            .is_some_and(|html| html.starts_with("<!DOCTYPE html>")),
        "{page}"
    );
    assert_eq!(stack.proxy.exchanges().len(), calls_before, "no AWS call");

    // GET /me: who the token names and the roles the catalog lets them ask for, with no AWS call either.
    let (status, me) = stack
        .http("status", "GET /me", person(ALICE), None, Value::Null)
        .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["username"], ALICE, "{me}");
    assert_eq!(me["admin"], false, "{me}");
    assert!(
        me["roles"].as_array().is_some_and(
            |roles| !roles.is_empty() && roles.iter().all(|role| role["self_service"] == true)
        ),
        "{me}"
    );
    assert_eq!(stack.proxy.exchanges().len(), calls_before, "no AWS call");

    // Status of someone who exists and of someone who does not.
    let (status, seen) = stack
        .http(
            "status",
            "GET /users/{username}",
            person(ALICE),
            Some(ALICE),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{seen}");
    let (status, pending) = stack
        .http(
            "status",
            "GET /users/{username}",
            person(BOB),
            Some(BOB),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{pending}");
    assert_eq!(pending["mfa"]["status"], "pending", "{pending}");
    let (status, unknown) = stack
        .http(
            "status",
            "GET /users/{username}",
            administrator(ADMIN),
            Some(NOBODY),
            Value::Null,
        )
        .await;
    assert_eq!(status, 404, "{unknown}");
    for (binary, route) in [
        ("enroll-mfa", "POST /users/{username}/mfa"),
        ("issue-key", "POST /users/{username}/access-keys"),
    ] {
        let (status, unknown) = stack
            .http(binary, route, administrator(ADMIN), Some(NOBODY), json!({}))
            .await;
        assert_eq!(status, 404, "{binary}: {unknown}");
    }

    // Two rotations: the first deactivates the onboarding key, the second deletes it.
    let mut rotated = Value::Null;
    for _ in 0..2 {
        let status;
        (status, rotated) = stack
            .http(
                "issue-key",
                "POST /users/{username}/access-keys",
                person(ALICE),
                Some(ALICE),
                json!({}),
            )
            .await;
        assert_eq!(status, 201, "{rotated}");
    }
    // The end of a rotation: the retired key deleted by the person; the active one refused.
    let delete_key = "DELETE /users/{username}/access-keys/{access_key_id}";
    for (key, expected) in [
        (&rotated["previous_access_key"]["access_key_id"], 200),
        (&rotated["access_key"]["access_key_id"], 409),
    ] {
        let key = key.as_str().expect("an access key id").to_string();
        let (status, answer) = stack
            .http_at(
                "issue-key",
                delete_key,
                person(ALICE),
                &[("username", ALICE), ("access_key_id", &key)],
                Value::Null,
            )
            .await;
        assert_eq!(status, expected, "{answer}");
    }
    // The key shown last is recorded, so a replay does not call it lost.
    let (status, replay) = stack
        .http(
            "onboard",
            "POST /users",
            person(ALICE),
            None,
            json!({"roles": [ROLE, MEMBER_ROLE]}),
        )
        .await;
    assert_eq!(status, 200, "{replay}");
    assert_ne!(replay["secret_lost"], true, "{replay}");

    // The drift check finds what people changed by hand and repairs it; the next run finds it repaired.
    drift_by_hand(&iam, stack.mode).await;
    let report = stack.invoke("drift-check", json!({})).await;
    let findings = report["findings"].as_array().expect("findings");
    assert!(!findings.is_empty(), "{report}");
    let unrepaired: Vec<&Value> = findings
        .iter()
        .filter(|f| f["remediation"] == "automatic" && f["remediated"] != true)
        .collect();
    assert!(
        unrepaired.is_empty(),
        "every automatic repair ran: {unrepaired:#?}"
    );
    let again = stack.invoke("drift-check", json!({})).await;
    let left: Vec<&Value> = again["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["remediation"] == "automatic")
        .collect();
    assert!(left.is_empty(), "repaired for good: {left:#?}");
    // With OrganizationAccounts=true (users mode) the hub is the Organization's management account here,
    // as moto's organisation is made by it: reported every run, repaired never.
    let in_management_account = again["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["rule"] == "stack.in-management-account")
        .count();
    assert_eq!(
        in_management_account,
        usize::from(stack.mode == "users"),
        "{again:#}"
    );

    // The same in the member account: its check, asked for by account, finds the drift made there, on
    // the role living there, and repairs it there through the spoke role.
    drift_in_member(&stack.spoke.iam).await;
    let report = stack
        .invoke("drift-check", json!({"account_id": member}))
        .await;
    let findings = report["findings"].as_array().expect("findings");
    assert!(!findings.is_empty(), "{report}");
    let elsewhere: Vec<&Value> = findings
        .iter()
        .filter(|f| {
            !f["resource_arn"]
                .as_str()
                .is_some_and(|arn| arn.starts_with(&format!("arn:aws:iam::{member}:")))
        })
        .collect();
    assert!(
        elsewhere.is_empty(),
        "only the member account's: {elsewhere:#?}"
    );
    let unrepaired: Vec<&Value> = findings
        .iter()
        .filter(|f| f["remediation"] == "automatic" && f["remediated"] != true)
        .collect();
    assert!(
        unrepaired.is_empty(),
        "every automatic repair ran in the member account: {unrepaired:#?}"
    );
    let again = stack
        .invoke("drift-check", json!({"account_id": member}))
        .await;
    let left: Vec<&Value> = again["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["remediation"] == "automatic")
        .collect();
    assert!(left.is_empty(), "repaired for good there: {left:#?}");

    // The organisation run, as the daily schedule starts it: template.yaml's state machine definition
    // with the deployed drift-org and drift-check, so that their report-bucket and alert calls are
    // checked against their deployed roles too.
    let summary = stack.organisation_run("daily").await;
    assert_eq!(
        summary["accounts"], 2,
        "the hub and the member account: {summary:#}"
    );
    assert_eq!(summary["checked"], 2, "{summary:#}");

    // Offboarding someone present, with what people add by hand, then again (already absent), and over
    // EventBridge.
    credentials_by_hand(&iam, ALICE).await;
    let (status, seen) = stack
        .http(
            "status",
            "GET /users/{username}",
            person(ALICE),
            Some(ALICE),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{seen}");
    let route = "DELETE /users/{username}";
    let offboarded_at = std::time::SystemTime::now();
    let (status, gone) = stack
        .http(
            "offboard",
            route,
            administrator(ADMIN),
            Some(ALICE),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{gone}");
    assert_sessions_end(&iam, offboarded_at).await;
    let (status, again) = stack
        .http(
            "offboard",
            route,
            administrator(ADMIN),
            Some(ALICE),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["outcome"], "already_absent", "{again}");
    // Bob's role is revoked (the record, the grant and, in `users` mode, the trust principal), then he is
    // offboarded over EventBridge.
    for role in [ROLE, MEMBER_ROLE] {
        let (status, revoked) = stack
            .http_at(
                "offboard",
                "DELETE /users/{username}/roles/{role}",
                administrator(ADMIN),
                &[("username", BOB), ("role", role)],
                Value::Null,
            )
            .await;
        assert_eq!(status, 200, "{role}: {revoked}");
        assert_eq!(revoked["outcome"], "revoked", "{role}: {revoked}");
    }
    let reply = stack
        .eventbridge(
            "offboard",
            "Offboarding Requested",
            json!({"username": BOB, "requested_by": "HR-2"}),
        )
        .await;
    assert_eq!(reply["outcome"], "User Offboarded", "{reply}");
}

/// After Alice's offboarding, the catalog role's own policies (the revoked-sessions Deny the stack wrote,
/// beside a grant standing in for the catalog's) judged by the evaluator: her session made before the
/// offboarding is refused everything; another person's session, and a session of hers made after (a
/// rehire), are not.
async fn assert_sessions_end(iam: &IamClient, offboarded_at: std::time::SystemTime) {
    let revoked = role_policy(iam, ROLE, "onboarding-revoked-sessions").await;
    let policies = Policies {
        identity: vec![
            (
                "catalog".to_string(),
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}),
            ),
            ("onboarding-revoked-sessions".to_string(), revoked.clone()),
        ],
        ..Policies::default()
    };
    let session = |person: &str, issued: std::time::SystemTime| {
        Request::new(
            &format!("arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE}/{person}"),
            "s3:GetObject",
            "arn:aws:s3:::team-bucket/report.csv",
        )
        .with("aws:SourceIdentity", person)
        .with(
            "aws:TokenIssueTime",
            provisioning::timestamps::rfc3339(issued),
        )
    };
    let earlier = offboarded_at - std::time::Duration::from_secs(600);
    let later = offboarded_at + std::time::Duration::from_secs(600);
    let cases = [
        ("her session from before", session(ALICE, earlier), false),
        (
            "her session from the very second before",
            session(ALICE, offboarded_at),
            false,
        ),
        (
            "a session of hers made after (a rehire)",
            session(ALICE, later),
            true,
        ),
        ("Bob's session from before", session(BOB, earlier), true),
    ];
    let batch: Vec<(Request, &Policies)> = cases
        .iter()
        .map(|(_, r, _)| (r.clone(), &policies))
        .collect();
    for ((name, _, allowed), decision) in cases.iter().zip(decide(&batch)) {
        assert_eq!(
            decision == Decision::Allowed,
            *allowed,
            "{name}: {decision:?} under {revoked}"
        );
    }
}

/// The parameters of a query-protocol request (IAM, STS, SNS).
fn form(body: &str) -> HashMap<String, String> {
    form_urlencoded::parse(body.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn xml_element<'a>(text: &'a str, element: &str) -> Option<&'a str> {
    let open = format!("<{element}>");
    let start = text.find(&open)? + open.len();
    let end = text[start..].find('<')? + start;
    Some(&text[start..end])
}

/// The message of an error answer with this code.
fn message<'a>(exchange: &'a Exchange, code: &str) -> Option<&'a str> {
    let failed = exchange.status.is_some_and(|status| status >= 300);
    (failed && xml_element(&exchange.response, "Code") == Some(code))
        .then(|| xml_element(&exchange.response, "Message").unwrap_or_default())
}

/// `CreateUser`'s "User" for the ARN kind `user`.
fn entity_kind_name(kind: &str) -> &'static str {
    match kind {
        "user" => "User",
        "group" => "Group",
        "role" => "Role",
        "policy" => "Policy",
        "mfa" => "VirtualMFADevice",
        _ => "",
    }
}

/// IAM ARNs by account, kind and name.
type KnownArns = HashMap<(String, String, String), String>;

/// Every IAM ARN that any answer named, in the hub or the member account: the path each entity was
/// created with.
fn known_arns(exchanges: &[Exchange]) -> KnownArns {
    let prefix = "arn:aws:iam::";
    let mut known = HashMap::new();
    for exchange in exchanges {
        let mut rest = exchange.response.as_str();
        while let Some(at) = rest.find(prefix) {
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| c == '<' || c == '"' || c == '&' || c.is_whitespace())
                .unwrap_or(tail.len());
            let arn = &tail[..end];
            if let Some((account, resource)) = arn[prefix.len()..].split_once(':')
                && let Some((kind, path)) = resource.split_once('/')
            {
                let name = path.rsplit('/').next().unwrap_or(path);
                known.insert(
                    (account.to_string(), kind.to_string(), name.to_string()),
                    arn.to_string(),
                );
            }
            rest = &tail[end..];
        }
    }
    known
}

/// The resource type each IAM action is authorized against (IAM's Service Authorization Reference) and
/// the parameter naming it; `None` for the actions that have no resource type ("*").
fn iam_resource(action: &str) -> Option<(&'static str, &'static str)> {
    const USER: &[&str] = &[
        "GetUser",
        "CreateUser",
        "DeleteUser",
        "TagUser",
        "UntagUser",
        "ListGroupsForUser",
        "ListUserPolicies",
        "GetUserPolicy",
        "PutUserPolicy",
        "DeleteUserPolicy",
        "ListAttachedUserPolicies",
        "AttachUserPolicy",
        "DetachUserPolicy",
        "ListAccessKeys",
        "CreateAccessKey",
        "UpdateAccessKey",
        "DeleteAccessKey",
        "ListMFADevices",
        "EnableMFADevice",
        "DeactivateMFADevice",
        "GetLoginProfile",
        "DeleteLoginProfile",
        "ListSigningCertificates",
        "DeleteSigningCertificate",
        "ListSSHPublicKeys",
        "DeleteSSHPublicKey",
        "ListServiceSpecificCredentials",
        "DeleteServiceSpecificCredential",
        "PutUserPermissionsBoundary",
        "DeleteUserPermissionsBoundary",
    ];
    const GROUP: &[&str] = &[
        "GetGroup",
        "CreateGroup",
        "DeleteGroup",
        "AddUserToGroup",
        "RemoveUserFromGroup",
        "ListGroupPolicies",
        "GetGroupPolicy",
        "PutGroupPolicy",
        "DeleteGroupPolicy",
        "ListAttachedGroupPolicies",
        "AttachGroupPolicy",
        "DetachGroupPolicy",
    ];
    const ROLE_ACTIONS: &[&str] = &[
        "GetRole",
        "CreateRole",
        "UpdateAssumeRolePolicy",
        "UpdateRole",
        "AttachRolePolicy",
        "DetachRolePolicy",
        "PutRolePolicy",
        "DeleteRolePolicy",
        "ListAttachedRolePolicies",
        "ListRolePolicies",
        "GetRolePolicy",
        "TagRole",
        "PutRolePermissionsBoundary",
    ];
    if USER.contains(&action) {
        Some(("user", "UserName"))
    } else if GROUP.contains(&action) {
        Some(("group", "GroupName"))
    } else if ROLE_ACTIONS.contains(&action) {
        Some(("role", "RoleName"))
    } else if action == "CreateVirtualMFADevice" {
        Some(("mfa", "VirtualMFADeviceName"))
    } else if action == "CreatePolicy" {
        Some(("policy", "PolicyName"))
    } else {
        None
    }
}

/// The request IAM authorizes for one IAM call made in `account`: the resource as the Service
/// Authorization Reference defines it (the entity's ARN with its path when it exists, without one when it
/// does not) and the condition keys the call carries.
fn iam_request(
    principal: &str,
    account: &str,
    action: &str,
    exchange: &Exchange,
    known: &KnownArns,
) -> Result<Request, String> {
    let params = form(&exchange.request);
    let not_found = message(exchange, "NoSuchEntity").map(|m| m.to_lowercase());
    let arn_of = |kind: &str, name: &str| {
        // A Create call names the path the new entity gets; anything else acts on what exists, whose
        // path the answers showed, or on nothing: IAM then knows no path and authorizes the ARN without one.
        let creates = action == format!("Create{}", entity_kind_name(kind));
        let absent = not_found.as_deref().is_some_and(|message| {
            let (kind, name) = (kind.to_lowercase(), name.to_lowercase());
            message.contains(&format!("{kind} {name} "))
                || message.contains(&format!("{kind} with name {name} "))
        });
        if creates {
            let path = params.get("Path").map_or("/", String::as_str);
            format!("arn:aws:iam::{account}:{kind}{path}{name}")
        } else if absent {
            format!("arn:aws:iam::{account}:{kind}/{name}")
        } else {
            known
                .get(&(account.to_string(), kind.to_string(), name.to_string()))
                .cloned()
                .unwrap_or_else(|| format!("arn:aws:iam::{account}:{kind}/{name}"))
        }
    };
    let resource = match (action, iam_resource(action)) {
        ("GetAccessKeyLastUsed", _) => {
            // Authorized against the key's user, whom the answer names.
            let user = xml_element(&exchange.response, "UserName")
                .ok_or("GetAccessKeyLastUsed answered without the key's user")?;
            arn_of("user", user)
        }
        ("DeleteVirtualMFADevice", _) => params
            .get("SerialNumber")
            .cloned()
            .ok_or("DeleteVirtualMFADevice without a serial number")?,
        ("GetPolicy" | "DeletePolicy" | "GetPolicyVersion", _) => params
            .get("PolicyArn")
            .cloned()
            .ok_or("a policy call without PolicyArn")?,
        (_, Some((kind, parameter))) => {
            let name = params.get(parameter).ok_or_else(|| {
                format!("{action} without {parameter}: IAM would act on the caller itself")
            })?;
            arn_of(kind, name)
        }
        (_, None) => "*".to_string(),
    };
    let mut request = Request::new(principal, &format!("iam:{action}"), &resource);
    let mut tag_keys = Vec::new();
    for index in 1.. {
        let Some(key) = params.get(&format!("Tags.member.{index}.Key")) else {
            break;
        };
        let value = params
            .get(&format!("Tags.member.{index}.Value"))
            .cloned()
            .unwrap_or_default();
        request = request.with(&format!("aws:RequestTag/{key}"), value);
        tag_keys.push(Value::String(key.clone()));
    }
    if !tag_keys.is_empty() {
        request = request.with("aws:TagKeys", tag_keys);
    }
    if let Some(boundary) = params.get("PermissionsBoundary") {
        request = request.with("iam:PermissionsBoundary", boundary.clone());
    }
    if (action.starts_with("Attach") || action.starts_with("Detach"))
        && let Some(policy) = params.get("PolicyArn")
    {
        request = request.with("iam:PolicyARN", policy.clone());
    }
    Ok(request)
}

/// The requests IAM (and STS, EventBridge, SNS) authorize for one call on the wire, made by `principal`
/// in `account`.
fn requests_of(
    exchange: &Exchange,
    principal: &str,
    account: &str,
    known: &KnownArns,
) -> Vec<Result<Request, String>> {
    let Some((service, action)) = exchange.call.split_once(':') else {
        return vec![Err(format!("an unnamed call: {}", exchange.call))];
    };
    match service {
        "iam" => match iam_request(principal, account, action, exchange, known) {
            Ok(request) => {
                // Tags given to a Create call are authorized as a Tag call on the new entity too
                // (IAM: "Permissions required to tag IAM resources at creation").
                let tagged = request.context.contains_key("aws:TagKeys");
                let tag_action = match action {
                    "CreateUser" => Some("iam:TagUser"),
                    "CreateRole" => Some("iam:TagRole"),
                    "CreatePolicy" => Some("iam:TagPolicy"),
                    "CreateVirtualMFADevice" => Some("iam:TagMFADevice"),
                    _ => None,
                };
                let mut requests = vec![Ok(request.clone())];
                if let Some(tag_action) = tag_action.filter(|_| tagged) {
                    let mut tag = request;
                    tag.action = tag_action.to_string();
                    tag.context.remove("iam:PermissionsBoundary");
                    requests.push(Ok(tag));
                }
                requests
            }
            Err(why) => vec![Err(why)],
        },
        // GetCallerIdentity needs no permission (IAM: "No permissions are required").
        "sts" if action == "GetCallerIdentity" => Vec::new(),
        // Authorized against the role assumed, in its account (aws:ResourceAccount, which the functions'
        // AssumeSpokeRoles statements name); who may is also the role's trust policy's to say.
        "sts" if action == "AssumeRole" => {
            let params = form(&exchange.request);
            let Some(role) = params.get("RoleArn") else {
                return vec![Err("sts:AssumeRole without a role".to_string())];
            };
            let role_account = role.split(':').nth(4).unwrap_or_default();
            let mut request = Request::new(principal, "sts:AssumeRole", role)
                .with("aws:ResourceAccount", role_account);
            if let Some(session) = params.get("RoleSessionName") {
                request = request.with("sts:RoleSessionName", session.clone());
            }
            vec![Ok(request)]
        }
        "events" if action == "PutEvents" => {
            let body: Value = serde_json::from_str(&exchange.request).unwrap_or(Value::Null);
            body["Entries"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|entry| {
                    let bus = entry["EventBusName"].as_str().unwrap_or("default");
                    let bus = if bus.starts_with("arn:") {
                        bus.to_string()
                    } else {
                        format!("arn:aws:events:us-east-1:{account}:event-bus/{bus}")
                    };
                    Ok(Request::new(principal, "events:PutEvents", &bus)
                        // Multivalued keys (ArrayOfString in the Service Authorization Reference).
                        .with("events:source", json!([entry["Source"]]))
                        .with("events:detail-type", json!([entry["DetailType"]])))
                })
                .collect()
        }
        "sns" if action == "Publish" => {
            let params = form(&exchange.request);
            vec![
                params
                    .get("TopicArn")
                    .map(|topic| Request::new(principal, "sns:Publish", topic))
                    .ok_or_else(|| "sns:Publish without a topic".to_string()),
            ]
        }
        // Security Hub authorizes imports against the product a finding names, reads against the hub.
        "securityhub" if action == "BatchImportFindings" => {
            let body: Value = serde_json::from_str(&exchange.request).unwrap_or(Value::Null);
            let products: BTreeSet<&str> = body["Findings"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|finding| finding["ProductArn"].as_str())
                .collect();
            products
                .into_iter()
                .map(|product| {
                    Ok(Request::new(
                        principal,
                        "securityhub:BatchImportFindings",
                        product,
                    ))
                })
                .collect()
        }
        // S3 (path-style): the object's ARN, or for a listing the bucket's with the prefix asked for.
        "s3" => {
            let target = exchange
                .target
                .split_once(' ')
                .map_or("", |(_, target)| target);
            let (path, query) = target.split_once('?').unwrap_or((target, ""));
            let path = path.trim_start_matches('/');
            let bucket = path.split('/').next().unwrap_or_default();
            match action {
                "PutObject" | "GetObject" => vec![Ok(Request::new(
                    principal,
                    &format!("s3:{action}"),
                    &format!("arn:aws:s3:::{path}"),
                ))],
                "ListObjectsV2" => {
                    let prefix = form_urlencoded::parse(query.as_bytes())
                        .find(|(key, _)| key == "prefix")
                        .map(|(_, prefix)| prefix.into_owned())
                        .unwrap_or_default();
                    vec![Ok(Request::new(
                        principal,
                        "s3:ListBucket",
                        &format!("arn:aws:s3:::{bucket}"),
                    )
                    .with("s3:prefix", prefix))]
                }
                _ => vec![Err(format!("{}: an S3 call not mapped", exchange.call))],
            }
        }
        // Organizations' reads have no resource type: authorized on "*".
        "organizations" if ["ListAccounts", "DescribeOrganization"].contains(&action) => {
            vec![Ok(Request::new(
                principal,
                &format!("organizations:{action}"),
                "*",
            ))]
        }
        "securityhub" if action == "GetFindings" => vec![Ok(Request::new(
            principal,
            "securityhub:GetFindings",
            &format!("arn:aws:securityhub:us-east-1:{account}:hub/default"),
        ))],
        _ => vec![Err(format!(
            "{}: not mapped to the resource IAM authorizes it against",
            exchange.call
        ))],
    }
}

/// The key under which the spoke role's grants are counted as used (its logical id in spoke.yaml).
const SPOKE_ROLE_LOGICAL: &str = "SpokeRole";

/// One request IAM would authorize, with whom it is reported as and the policies that decide it.
struct Check<'a> {
    /// The function, and the role it acted as when that was not its own.
    who: String,
    /// Whose grants a use of the action counts for: a function's logical id, or the spoke role's; none
    /// for the trust policy's side of an AssumeRole.
    grantee: Option<String>,
    request: Request,
    policies: &'a Policies,
}

/// Every call on the wire, checked: each function's with its own credentials against its own deployed
/// role; each made in a session of the spoke role a function assumed against the spoke role's deployed
/// policies, as the spoke role, in the member account; and each such AssumeRole both against the
/// function's role and against the spoke role's trust policy. A call signed by any other key is itself
/// a failure. Returns the calls that would be refused (or could not be checked), and the actions each
/// function, and the spoke role, was allowed to make.
fn check_calls(stack: &Stack) -> (Vec<String>, BTreeMap<String, BTreeSet<String>>) {
    let exchanges = stack.proxy.exchanges();
    let known = known_arns(&exchanges);
    let spoke = &stack.spoke;
    let own_key = |key: &str| stack.functions.values().find(|f| f.access_key == key);
    // The spoke role's sessions, by the access key each AssumeRole answered with.
    let mut sessions: HashMap<&str, &Function> = HashMap::new();
    for exchange in exchanges.iter().filter(|e| e.call == "sts:AssumeRole") {
        let assumed_spoke_role = form(&exchange.request).get("RoleArn") == Some(&spoke.role_arn);
        if let (Some(function), true, Some(key)) = (
            own_key(&exchange.caller),
            assumed_spoke_role,
            xml_element(&exchange.response, "AccessKeyId"),
        ) {
            sessions.insert(key, function);
        }
    }
    // Cross-account, IAM allows an AssumeRole only when both the caller's policies and the role's
    // trust policy do. Each side is decided alone, the other granting exactly this request, so that a
    // refusal names the side that refused.
    let by_own_role: BTreeMap<&str, Policies> = stack
        .functions
        .values()
        .map(|function| {
            let trusts_the_function = json!({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"AWS": function.role_arn}, "Action": "sts:AssumeRole"}]});
            let policies = Policies {
                resource: Some(trusts_the_function),
                ..function.policies.clone()
            };
            (function.logical.as_str(), policies)
        })
        .collect();
    let by_trust_policy = Policies {
        identity: vec![(
            "AssumeTheSpokeRole".to_string(),
            json!({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": spoke.role_arn}]}),
        )],
        resource: Some(spoke.trust.clone()),
        ..Policies::default()
    };

    let mut checks: Vec<Check> = Vec::new();
    let mut refused = Vec::new();
    for exchange in &exchanges {
        if let Some(function) = own_key(&exchange.caller) {
            let logical = &function.logical;
            for request in requests_of(exchange, &function.role_arn, ACCOUNT, &known) {
                match request {
                    Ok(request) if request.action == "sts:AssumeRole" => {
                        if request.resource != spoke.role_arn {
                            refused.push(format!(
                                "{logical} ({}): sts:AssumeRole of {}, a role whose trust policy no stack of this test deployed",
                                stack.mode, request.resource
                            ));
                            continue;
                        }
                        checks.push(Check {
                            who: format!("{logical}, by its own role"),
                            grantee: Some(logical.clone()),
                            request: request.clone(),
                            policies: &by_own_role[logical.as_str()],
                        });
                        checks.push(Check {
                            who: format!("{logical}, by the trust policy of {}", spoke.role_arn),
                            grantee: None,
                            request,
                            policies: &by_trust_policy,
                        });
                    }
                    Ok(request) => checks.push(Check {
                        who: logical.clone(),
                        grantee: Some(logical.clone()),
                        request,
                        policies: &function.policies,
                    }),
                    Err(why) => refused.push(format!("{logical} ({}): {why}", stack.mode)),
                }
            }
        } else if let Some(function) = sessions.get(exchange.caller.as_str()) {
            let who = format!("{} as {}", function.logical, spoke.role_arn);
            for request in requests_of(exchange, &spoke.role_arn, &spoke.account, &known) {
                match request {
                    Ok(request) => checks.push(Check {
                        who: who.clone(),
                        grantee: Some(SPOKE_ROLE_LOGICAL.to_string()),
                        request,
                        policies: &spoke.policies,
                    }),
                    Err(why) => refused.push(format!("{who} ({}): {why}", stack.mode)),
                }
            }
        } else {
            // The test's own clients go to moto directly, not through the proxy.
            refused.push(format!(
                "{} ({}): signed with {}, no function's key nor a session of {SPOKE_ROLE} a function assumed: unchecked",
                exchange.call, stack.mode, exchange.caller
            ));
        }
    }
    let batch: Vec<(Request, &Policies)> = checks
        .iter()
        .map(|check| (check.request.clone(), check.policies))
        .collect();
    let mut used: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (check, decision) in checks.iter().zip(decide(&batch)) {
        let request = &check.request;
        if decision == Decision::Allowed {
            if let Some(grantee) = &check.grantee {
                used.entry(grantee.clone())
                    .or_default()
                    .insert(request.action.clone());
            }
        } else {
            refused.push(format!(
                "{} ({}): {} on {} {:?} -> {decision:?}",
                check.who, stack.mode, request.action, request.resource, request.context
            ));
        }
    }
    refused.sort();
    refused.dedup();
    (refused, used)
}

/// The template's resources, each as the text from its logical id to the next one.
fn resource_blocks(template: &str) -> Vec<(&str, &str)> {
    let resources = template
        .find("\nResources:\n")
        .map_or("", |at| &template[at + 1..]);
    let starts: Vec<usize> = resources
        .match_indices("\n  ")
        .map(|(at, _)| at + 1)
        .filter(|&at| resources[at + 2..].starts_with(|c: char| c.is_ascii_alphabetic()))
        .collect();
    starts
        .iter()
        .enumerate()
        .map(|(index, &start)| {
            let end = starts.get(index + 1).copied().unwrap_or(resources.len());
            let block = &resources[start..end];
            let name = block.trim_start().split(':').next().unwrap_or_default();
            (name, block)
        })
        .collect()
}

/// The permissions a function's role is granted that no call of the whole life used, and that the
/// template does not explain with a comment on the action's line naming the path that needs it (in the
/// function's own resource, or in a policy resource attached to its role); and the same for spoke.yaml's
/// role, whose explanations are in its own resource.
fn unexplained_unused_permissions(
    stack: &Stack,
    used: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<String> {
    let read = |name: &str| {
        std::fs::read_to_string(workspace_root().join(name))
            .unwrap_or_else(|e| panic!("{name} is readable: {e}"))
    };
    let (template, spoke_template) = (read("template.yaml"), read("spoke.yaml"));
    let blocks = resource_blocks(&template);
    let mut unexplained = Vec::new();
    for function in stack.functions.values() {
        let role = format!("{}Role", function.logical);
        let own_blocks: Vec<&str> = blocks
            .iter()
            .filter(|(name, block)| *name == function.logical || block.contains(&role))
            .map(|(_, block)| *block)
            .collect();
        unexplained.extend(unexplained_grants(
            &function.logical,
            &function.policies,
            &own_blocks,
            used,
        ));
    }
    let spoke_blocks: Vec<&str> = resource_blocks(&spoke_template)
        .into_iter()
        .filter(|(name, _)| *name == SPOKE_ROLE_LOGICAL)
        .map(|(_, block)| block)
        .collect();
    unexplained.extend(unexplained_grants(
        SPOKE_ROLE_LOGICAL,
        &stack.spoke.policies,
        &spoke_blocks,
        used,
    ));
    unexplained
}

/// What `grantee`'s identity policies allow that no call used and no comment in `blocks` explains.
fn unexplained_grants(
    grantee: &str,
    policies: &Policies,
    blocks: &[&str],
    used: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<String> {
    let granted: BTreeSet<String> = policies
        .identity
        .iter()
        .flat_map(|(_, document)| {
            document["Statement"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|statement| statement["Effect"] == "Allow")
        .flat_map(|statement| match &statement["Action"] {
            Value::String(action) => vec![action.clone()],
            Value::Array(actions) => actions
                .iter()
                .filter_map(|a| a.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        })
        // What SAM grants for the Lambda service's own use, not the code's: writing the function's
        // logs (AWSLambdaBasicExecutionRole) and a failed event to its DeadLetterQueue.
        .filter(|action| !action.starts_with("logs:") && action != "sqs:SendMessage")
        .collect();
    let used = used.get(grantee).cloned().unwrap_or_default();
    granted
        .difference(&used)
        .filter(|action| {
            !blocks.iter().flat_map(|block| block.lines()).any(|line| {
                line.split_once('#').is_some_and(|(code, _)| {
                    code.split(|c: char| !(c.is_ascii_alphanumeric() || c == ':' || c == '*'))
                        .any(|word| word == action.as_str())
                })
            })
        })
        .map(|action| format!("{grantee}: {action}"))
        .collect()
}

/// The default catalog's role in the hub, and one living in the member account: with an inline policy
/// as well as a managed one, so that every kind of repair has something to do there.
fn catalog(member: &str) -> String {
    json!([
        {"name": ROLE, "managed_policy_arns": [POWER_USER], "self_service": true},
        {"name": MEMBER_ROLE, "managed_policy_arns": [POWER_USER], "self_service": true, "account": member,
         "inline_policy": {"Version": "2012-10-17", "Statement": [
             {"Effect": "Allow", "Action": "cloudformation:*", "Resource": "*"}]}}
    ])
    .to_string()
}

fn parameters(mode: &'static str, member: &str) -> Vec<(&'static str, String)> {
    let mut parameters: Vec<(&'static str, String)> = [
        ("JwtIssuer", "https://idp.example.com"),
        ("JwtAudience", "onboarding"),
        ("TrustMode", mode),
        ("Remediate", "true"),
        ("RemediateKeys", "true"),
        ("OnboardingEventSources", "com.example.hr"),
        ("AlertEmail", "security@example.com"),
        ("CatalogManagedPolicyArns", POWER_USER),
        ("EligibleEmailDomains", r#"["example.com"]"#),
    ]
    .into_iter()
    .map(|(name, value)| (name, value.to_string()))
    .collect();
    parameters.extend([
        ("RoleCatalog", catalog(member)),
        ("CatalogRoleNames", format!("{ROLE},{MEMBER_ROLE}")),
        ("SpokeAccountIds", member.to_string()),
    ]);
    if mode == "users" {
        // A bus of the stack's own, so that the outcomes are published (and PutEvents checked).
        parameters.extend(
            [
                ("MfaMaxAgeSeconds", "3600"),
                ("GrantMode", "inline"),
                ("EventBusName", "onboarding"),
                ("CreateEventBus", "true"),
                ("SecurityHub", "true"),
                // The hub is the Organization's management account here: the drift run asks it.
                ("OrganizationAccounts", "true"),
            ]
            .map(|(name, value)| (name, value.to_string())),
        );
    }
    parameters
}

async fn run_life(mode: &'static str) -> (Stack, Vec<String>, BTreeMap<String, BTreeSet<String>>) {
    let mut stack = Stack::deploy(mode).await;
    only_the_hubs_own_roles_may_assume_the_spoke_role(&stack);
    live(&mut stack).await;
    let (refused, used) = check_calls(&stack);
    (stack, refused, used)
}

/// The spoke role trusts the roles the hub's output names, exactly: a second deployment in the hub whose
/// name extends the hub's (`iam-onboarding-dev`), whose functions this stack's boundary does not protect,
/// cannot assume it, whether its roles sit under its own path or are named as SAM names them without one.
fn only_the_hubs_own_roles_may_assume_the_spoke_role(stack: &Stack) {
    let trust = Policies {
        identity: vec![(
            "AssumeTheSpokeRole".to_string(),
            json!({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": stack.spoke.role_arn}]}),
        )],
        resource: Some(stack.spoke.trust.clone()),
        ..Policies::default()
    };
    let assume = |principal: &str| {
        Request::new(principal, "sts:AssumeRole", &stack.spoke.role_arn)
            .with("aws:ResourceAccount", stack.spoke.account.as_str())
    };
    let onboard = &stack.functions["onboard"].role_arn;
    let second_stack = [
        format!(
            "arn:aws:iam::{ACCOUNT}:role/onboarding/{STACK}-dev/{STACK}-dev-OnboardFunctionRole-AbCdEf123456"
        ),
        format!("arn:aws:iam::{ACCOUNT}:role/{STACK}-dev-OnboardFunctionRole-AbCdEf123456"),
        format!(
            "arn:aws:iam::{ACCOUNT}:role/onboarding/{STACK}/{STACK}-EnrollMfaFunctionRole-AbCdEf123456"
        ),
    ];
    let mut batch = vec![(assume(onboard), &trust)];
    batch.extend(
        second_stack
            .iter()
            .map(|principal| (assume(principal), &trust)),
    );
    let decisions = decide(&batch);
    assert_eq!(
        decisions[0],
        Decision::Allowed,
        "{onboard} ({})",
        stack.mode
    );
    for (principal, decision) in second_stack.iter().zip(&decisions[1..]) {
        assert_eq!(
            *decision,
            Decision::ImplicitlyDenied,
            "{principal} may assume the spoke role ({})",
            stack.mode
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_call_on_the_wire_is_allowed_by_the_deployed_role_it_is_made_as() {
    let ((account, mut refused, mut used), (users, refused_users, used_users)) =
        tokio::join!(run_life("account"), run_life("users"));
    refused.extend(refused_users);
    assert!(
        refused.is_empty(),
        "calls the deployed roles would refuse, or that nobody's policies could check:\n{}",
        refused.join("\n")
    );
    for (function, actions) in used_users {
        used.entry(function).or_default().extend(actions);
    }
    // Each deployment's own grants (users mode also has the inline-grant and bus statements), against
    // what either life used.
    let mut unexplained = unexplained_unused_permissions(&account, &used);
    unexplained.extend(unexplained_unused_permissions(&users, &used));
    unexplained.sort();
    unexplained.dedup();
    assert!(
        unexplained.is_empty(),
        "granted, used by no call of the whole life, and without a comment naming the path that needs it:\n{}",
        unexplained.join("\n")
    );
}

/// The evaluator's own table: IAM's policy evaluation rules as AWS documents them ("Policy evaluation
/// logic", "Determining whether a request is allowed or denied within an account", the condition
/// operator and IAM identifier pages), each case with the decision IAM documents.
#[test]
fn the_evaluator_follows_iams_documented_rules() {
    let user = |path: &str| format!("arn:aws:iam::{ACCOUNT}:user{path}alice");
    let role_arn = format!("arn:aws:iam::{ACCOUNT}:role/{ROLE}");
    let function = format!("arn:aws:iam::{ACCOUNT}:role/function");
    let allow = |action: Value, resource: Value| json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}]});
    let identity = |policy: Value| Policies {
        identity: vec![("policy".to_string(), policy)],
        ..Policies::default()
    };
    let managed_users = identity(allow(
        json!(["iam:GetUser", "iam:CreateUser"]),
        json!(format!("arn:aws:iam::{ACCOUNT}:user/onboarded/*")),
    ));
    let deny_wins = identity(json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "iam:DeleteUser", "Resource": "*"}]}));
    let not_action = identity(json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "NotAction": ["iam:*", "organizations:*"], "Resource": "*"}]}));
    let not_resource = identity(json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:GetRole", "NotResource": role_arn}]}));
    let bounded = Policies {
        boundaries: vec![(
            "boundary".to_string(),
            allow(json!("iam:GetUser"), json!("*")),
        )],
        ..identity(allow(json!("iam:*"), json!("*")))
    };
    let with_boundary_only = identity(json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "iam:CreateUser", "Resource": "*",
        "Condition": {"StringEquals": {"iam:PermissionsBoundary": "arn:aws:iam::123456789012:policy/b"}}}]}));
    let mfa_trust = |condition: Value| Policies {
        identity: vec![(
            "Assume".to_string(),
            allow(json!("sts:AssumeRole"), json!(role_arn)),
        )],
        resource: Some(json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
            "Action": "sts:AssumeRole", "Condition": condition}]})),
        ..Policies::default()
    };
    let bool_mfa = mfa_trust(json!({"Bool": {"aws:MultiFactorAuthPresent": "true"}}));
    let if_exists_mfa = mfa_trust(json!({"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}}));
    let aged_mfa = mfa_trust(json!({"Bool": {"aws:MultiFactorAuthPresent": "true"},
                                    "NumericLessThan": {"aws:MultiFactorAuthAge": "3600"},
                                    "ArnLike": {"aws:PrincipalArn": format!("arn:aws:iam::{ACCOUNT}:user/onboarded/*")}}));
    let root_trust_without_grant = Policies {
        identity: Vec::new(),
        ..mfa_trust(json!({"Bool": {"aws:MultiFactorAuthPresent": "true"}}))
    };
    // A function of the hub assuming a member account's role: cross-account, so the function's own
    // policy and the role's trust policy must both allow it.
    let member_role = "arn:aws:iam::111122223333:role/Spoke";
    let trusts_hub_functions = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
        "Action": "sts:AssumeRole",
        "Condition": {"ArnLike": {"aws:PrincipalArn": format!("arn:aws:iam::{ACCOUNT}:role/stack-*FunctionRole-*")}}}]});
    let assume_in_member = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::*:role/Spoke",
        "Condition": {"StringEquals": {"aws:ResourceAccount": ["111122223333"]}}}]});
    let cross_account = Policies {
        identity: vec![("Assume".to_string(), assume_in_member.clone())],
        resource: Some(trusts_hub_functions.clone()),
        ..Policies::default()
    };
    let trusted_without_grant = Policies {
        resource: Some(trusts_hub_functions),
        ..Policies::default()
    };
    let granted_without_trust = Policies {
        identity: vec![("Assume".to_string(), assume_in_member)],
        ..Policies::default()
    };
    let hub_function = format!("arn:aws:iam::{ACCOUNT}:role/stack-OnboardFunctionRole-ABC");
    let assume_member = |principal: &str| {
        Request::new(principal, "sts:AssumeRole", member_role)
            .with("aws:ResourceAccount", "111122223333")
    };
    let member_reader = identity(allow(
        json!("iam:GetAccountAuthorizationDetails"),
        json!("*"),
    ));
    let user_trust = Policies {
        resource: Some(json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": user("/onboarded/")},
            "Action": "sts:AssumeRole", "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}]})),
        ..Policies::default()
    };
    use Decision::*;
    let alice = user("/onboarded/");
    let mut cases: Vec<(&str, Request, &Policies, Decision)> = vec![
        (
            "a resource under the allowed path",
            Request::new(&function, "iam:GetUser", &user("/onboarded/")),
            &managed_users,
            Allowed,
        ),
        (
            "a user that does not exist has no path",
            Request::new(&function, "iam:GetUser", &user("/")),
            &managed_users,
            ImplicitlyDenied,
        ),
        (
            "an action nothing allows",
            Request::new(&function, "iam:DeleteUser", &user("/onboarded/")),
            &managed_users,
            ImplicitlyDenied,
        ),
        (
            "explicit deny overrides allow",
            Request::new(&function, "iam:DeleteUser", &user("/onboarded/")),
            &deny_wins,
            ExplicitlyDenied,
        ),
        (
            "deny is only for what it names",
            Request::new(&function, "iam:GetUser", &user("/onboarded/")),
            &deny_wins,
            Allowed,
        ),
        (
            "NotAction allows what it does not name",
            Request::new(
                &function,
                "ec2:RunInstances",
                "arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0",
            ),
            &not_action,
            Allowed,
        ),
        (
            "NotAction does not allow what it names",
            Request::new(&function, "iam:CreateUser", &user("/onboarded/")),
            &not_action,
            ImplicitlyDenied,
        ),
        (
            "NotResource excludes what it names",
            Request::new(&function, "iam:GetRole", &role_arn),
            &not_resource,
            ImplicitlyDenied,
        ),
        (
            "NotResource allows the rest",
            Request::new(
                &function,
                "iam:GetRole",
                &format!("arn:aws:iam::{ACCOUNT}:role/Other"),
            ),
            &not_resource,
            Allowed,
        ),
        (
            "a boundary limits what identity policies allow",
            Request::new(&function, "iam:DeleteUser", &user("/onboarded/")),
            &bounded,
            ImplicitlyDenied,
        ),
        (
            "within the boundary",
            Request::new(&function, "iam:GetUser", &user("/onboarded/")),
            &bounded,
            Allowed,
        ),
        (
            "StringEquals on the boundary a request sets",
            Request::new(&function, "iam:CreateUser", &user("/onboarded/")).with(
                "iam:PermissionsBoundary",
                "arn:aws:iam::123456789012:policy/b",
            ),
            &with_boundary_only,
            Allowed,
        ),
        (
            "StringEquals with the key missing",
            Request::new(&function, "iam:CreateUser", &user("/onboarded/")),
            &with_boundary_only,
            ImplicitlyDenied,
        ),
        (
            "Bool MFA true with MFA",
            Request::new(&alice, "sts:AssumeRole", &role_arn)
                .with("aws:MultiFactorAuthPresent", "true"),
            &bool_mfa,
            Allowed,
        ),
        (
            "Bool MFA true with a long-term key (no MFA key at all)",
            Request::new(&alice, "sts:AssumeRole", &role_arn),
            &bool_mfa,
            ImplicitlyDenied,
        ),
        (
            "Bool MFA true with a session made without MFA",
            Request::new(&alice, "sts:AssumeRole", &role_arn)
                .with("aws:MultiFactorAuthPresent", "false"),
            &bool_mfa,
            ImplicitlyDenied,
        ),
        (
            "BoolIfExists lets a long-term key through",
            Request::new(&alice, "sts:AssumeRole", &role_arn),
            &if_exists_mfa,
            Allowed,
        ),
        (
            "NumericLessThan MFA age within the limit",
            Request::new(&alice, "sts:AssumeRole", &role_arn)
                .with("aws:MultiFactorAuthPresent", "true")
                .with("aws:MultiFactorAuthAge", "100"),
            &aged_mfa,
            Allowed,
        ),
        (
            "NumericLessThan MFA age past the limit",
            Request::new(&alice, "sts:AssumeRole", &role_arn)
                .with("aws:MultiFactorAuthPresent", "true")
                .with("aws:MultiFactorAuthAge", "7200"),
            &aged_mfa,
            ImplicitlyDenied,
        ),
        (
            "ArnLike on the principal's path",
            Request::new(&user("/"), "sts:AssumeRole", &role_arn)
                .with("aws:MultiFactorAuthPresent", "true")
                .with("aws:MultiFactorAuthAge", "100"),
            &aged_mfa,
            ImplicitlyDenied,
        ),
        (
            "trusting the account root needs the principal's own grant",
            Request::new(&alice, "sts:AssumeRole", &role_arn)
                .with("aws:MultiFactorAuthPresent", "true"),
            &root_trust_without_grant,
            ImplicitlyDenied,
        ),
        (
            "trusting the user by ARN needs no grant of its own",
            Request::new(&alice, "sts:AssumeRole", &role_arn)
                .with("aws:MultiFactorAuthPresent", "true"),
            &user_trust,
            Allowed,
        ),
        (
            "another account's user is not the trusted user",
            Request::new(
                "arn:aws:iam::999999999999:user/onboarded/alice",
                "sts:AssumeRole",
                &role_arn,
            )
            .with("aws:MultiFactorAuthPresent", "true"),
            &user_trust,
            ImplicitlyDenied,
        ),
    ];
    cases.extend([
        (
            "another account's role: the caller's policy and the trust policy both allow",
            assume_member(&hub_function),
            &cross_account,
            Allowed,
        ),
        (
            "another account's role: trusted, but the caller's own policy does not allow it",
            assume_member(&hub_function),
            &trusted_without_grant,
            ImplicitlyDenied,
        ),
        (
            "another account's role: allowed by the caller, but its trust policy names nobody",
            assume_member(&hub_function),
            &granted_without_trust,
            ImplicitlyDenied,
        ),
        (
            "another account's role: a role of the trusted account the condition does not name",
            assume_member(&format!("arn:aws:iam::{ACCOUNT}:role/other")),
            &cross_account,
            ImplicitlyDenied,
        ),
        (
            "another account's role: aws:ResourceAccount names another account",
            Request::new(&hub_function, "sts:AssumeRole", member_role)
                .with("aws:ResourceAccount", "444455556666"),
            &cross_account,
            ImplicitlyDenied,
        ),
        (
            "an action without a resource type acts in the caller's own account",
            Request::new(member_role, "iam:GetAccountAuthorizationDetails", "*"),
            &member_reader,
            Allowed,
        ),
    ]);
    let batch: Vec<(Request, &Policies)> =
        cases.iter().map(|(_, r, p, _)| (r.clone(), *p)).collect();
    let decisions = decide(&batch);
    let wrong: Vec<String> = cases
        .iter()
        .zip(&decisions)
        .filter(|((_, _, _, expected), decided)| expected != *decided)
        .map(|((name, _, _, expected), decided)| {
            format!("{name}: expected {expected:?}, got {decided:?}")
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // A request IAM would never see is not quietly decided: a group action on a user's ARN.
    let invalid = decide(&[(
        Request::new(&function, "iam:AddUserToGroup", &user("/onboarded/")),
        &deny_wins,
    )]);
    assert!(matches!(invalid[0], Invalid(_)), "{invalid:?}");
}

/// What a person holding a catalog role could do to each kind of resource the stack deploys, to take it
/// over or blind it: change, invoke, delete, silence.
fn attacks(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "AWS::Lambda::Function" => &[
            "lambda:UpdateFunctionCode",
            "lambda:UpdateFunctionConfiguration",
            "lambda:InvokeFunction",
            "lambda:AddPermission",
            "lambda:DeleteFunction",
            "lambda:PutFunctionConcurrency",
            "lambda:PublishVersion",
            "lambda:CreateAlias",
        ],
        "AWS::Events::Rule" => &[
            "events:DisableRule",
            "events:DeleteRule",
            "events:PutRule",
            "events:PutTargets",
            "events:RemoveTargets",
        ],
        "AWS::Events::EventBus" => &[
            "events:PutEvents",
            "events:DeleteEventBus",
            "events:PutPermission",
            "events:RemovePermission",
        ],
        "AWS::Logs::LogGroup" => &[
            "logs:DeleteLogGroup",
            "logs:PutRetentionPolicy",
            "logs:DeleteRetentionPolicy",
            "logs:PutSubscriptionFilter",
            "logs:DisassociateKmsKey",
        ],
        "AWS::SNS::Topic" => &[
            "sns:DeleteTopic",
            "sns:SetTopicAttributes",
            "sns:Subscribe",
            "sns:RemovePermission",
        ],
        "AWS::KMS::Key" => &[
            "kms:ScheduleKeyDeletion",
            "kms:DisableKey",
            "kms:PutKeyPolicy",
        ],
        "AWS::SQS::Queue" => &[
            "sqs:PurgeQueue",
            "sqs:DeleteQueue",
            "sqs:SetQueueAttributes",
        ],
        "AWS::IAM::Role" => &[
            "iam:UpdateAssumeRolePolicy",
            "iam:PutRolePolicy",
            "iam:AttachRolePolicy",
            "iam:PassRole",
        ],
        "AWS::IAM::ManagedPolicy" => &["iam:CreatePolicyVersion", "iam:DeletePolicy"],
        "AWS::StepFunctions::StateMachine" => &[
            "states:StartExecution",
            "states:StartSyncExecution",
            "states:UpdateStateMachine",
            "states:DeleteStateMachine",
        ],
        "AWS::S3::Bucket" => &[
            "s3:PutBucketPolicy",
            "s3:DeleteBucketPolicy",
            "s3:PutLifecycleConfiguration",
            "s3:PutBucketVersioning",
            "s3:DeleteBucket",
        ],
        "AWS::CloudWatch::Dashboard" => &["cloudwatch:PutDashboard", "cloudwatch:DeleteDashboards"],
        // On "*": CloudWatch Logs has no resource type for its resource policies.
        "AWS::Logs::ResourcePolicy" => &["logs:PutResourcePolicy", "logs:DeleteResourcePolicy"],
        // Part of the resource they belong to (a role's inline policy), attacked there.
        "AWS::IAM::Policy" => &[],
        _ => return None,
    })
}

/// The catalog role as onboarding gives it (PowerUserAccess, under the stack's boundary) against every way
/// into the stack: all refused, while what PowerUserAccess is for stays allowed.
#[tokio::test]
async fn a_catalog_role_can_neither_change_nor_invoke_nor_feed_the_stack() {
    let moto = Moto::start();
    let described = deploy(
        &moto,
        &[
            (
                "JwtIssuer",
                &format!("https://cognito-idp.us-east-1.amazonaws.com/{POOL}"),
            ),
            ("JwtAudience", "onboarding"),
            ("OnboardingEventSources", "com.example.hr"),
            ("EventBusName", "onboarding"),
            ("CreateEventBus", "true"),
            ("AlertEmail", "security@example.com"),
            ("DeploymentBucketName", "acme-deployments"),
        ],
    );
    let iam = moto.iam().await;
    let power_user = iam
        .get_policy_version()
        .policy_arn("arn:aws:iam::aws:policy/PowerUserAccess")
        .version_id(
            iam.get_policy()
                .policy_arn("arn:aws:iam::aws:policy/PowerUserAccess")
                .send()
                .await
                .expect("moto holds the AWS managed policies")
                .policy()
                .and_then(|p| p.default_version_id())
                .expect("a default version"),
        )
        .send()
        .await
        .expect("its document");
    let power_user = decode_policy(
        power_user
            .policy_version()
            .and_then(|v| v.document())
            .expect("a document"),
    );
    let catalog_role = Policies {
        identity: vec![("PowerUserAccess".to_string(), power_user)],
        boundaries: vec![(
            "CatalogRoleBoundary".to_string(),
            described["managed_policies"]["CatalogRoleBoundary"].clone(),
        )],
        ..Policies::default()
    };
    let person = format!("arn:aws:iam::{ACCOUNT}:role/{ROLE}");
    let attempt = |action: &str, resource: &str| Request::new(&person, action, resource);

    let mut refused: Vec<(String, Request)> = Vec::new();
    let mut uncovered = Vec::new();
    let arns = described["arns"].as_object().expect("the resources' ARNs");
    for (logical, kind) in described["types"].as_object().expect("the resource types") {
        let kind = kind.as_str().unwrap_or_default();
        if logical.is_empty() {
            continue;
        }
        let Some(actions) = attacks(kind) else {
            uncovered.push(format!("{logical} ({kind})"));
            continue;
        };
        // The stack's roles and policies are IAM: PowerUserAccess alone refuses those; the boundary is
        // what refuses everything else.
        let Some(arn) = arns.get(logical).and_then(Value::as_str) else {
            assert!(actions.is_empty(), "no ARN for {logical} ({kind})");
            continue;
        };
        for action in actions {
            // IAM authorizes a bus's policy changes on "*" only: no resource type to name.
            let wildcard_only =
                ["events:PutPermission", "events:RemovePermission"].contains(action);
            let mut request = attempt(action, if wildcard_only { "*" } else { arn });
            if *action == "events:PutEvents" {
                request = request
                    .with("events:source", json!(["com.example.hr"]))
                    .with("events:detail-type", json!(["Onboarding Requested"]));
            }
            refused.push((format!("{logical}: {action}"), request));
        }
        if kind == "AWS::Lambda::Function" {
            refused.push((
                format!("{logical}: an alias of it"),
                attempt("lambda:InvokeFunction", &format!("{arn}:live")),
            ));
        }
        if kind == "AWS::Logs::LogGroup" {
            refused.push((
                format!("{logical}: forged log lines"),
                attempt("logs:PutLogEvents", &format!("{arn}:log-stream:forged")),
            ));
        }
        if kind == "AWS::S3::Bucket" {
            // A forged clean report, a deleted one, or an earlier version restored over the truth.
            for action in ["s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"] {
                refused.push((
                    format!("{logical}: {action} on a report"),
                    attempt(action, &format!("{arn}/runs/r/accounts/{ACCOUNT}.json")),
                ));
            }
        }
        if kind == "AWS::StepFunctions::StateMachine" {
            let execution = arn.replacen(":stateMachine:", ":execution:", 1);
            for (action, resource) in [
                ("states:StopExecution", format!("{execution}:run")),
                ("states:RedriveExecution", format!("{execution}:run")),
            ] {
                refused.push((format!("{logical}: {action}"), attempt(action, &resource)));
            }
        }
    }
    assert!(
        uncovered.is_empty(),
        "deployed resources with no attack listed: {uncovered:?}"
    );
    // The HTTP API (which moto's CloudFormation cannot create): its authorizer, routes, integrations,
    // stages, and the API itself.
    let api = "arn:aws:apigateway:us-east-1::/apis/apistandin";
    for (what, action, resource) in [
        (
            "point the JWT authorizer at another issuer",
            "apigateway:PATCH",
            format!("{api}/authorizers/jwt"),
        ),
        (
            "add a route without authorization",
            "apigateway:POST",
            format!("{api}/routes"),
        ),
        (
            "change a route",
            "apigateway:PATCH",
            format!("{api}/routes/r1"),
        ),
        (
            "change an integration",
            "apigateway:PATCH",
            format!("{api}/integrations/i1"),
        ),
        (
            "turn the access log off",
            "apigateway:PATCH",
            format!("{api}/stages/$default"),
        ),
        ("delete the API", "apigateway:DELETE", api.to_string()),
    ] {
        refused.push((
            format!("Api: {what}"),
            attempt(action, &resource).unvalidated(),
        ));
    }
    let stack = described["stack_id"].as_str().expect("the stack id");
    for action in [
        "cloudformation:UpdateStack",
        "cloudformation:DeleteStack",
        "cloudformation:CreateChangeSet",
        "cloudformation:ExecuteChangeSet",
        "cloudformation:SetStackPolicy",
    ] {
        refused.push((format!("the stack: {action}"), attempt(action, stack)));
    }
    let default_bus = format!("arn:aws:events:us-east-1:{ACCOUNT}:event-bus/default");
    for (detail_type, source) in [
        ("Onboarding Requested", "com.example.hr"),
        ("Offboarding Requested", "com.example.hr"),
        ("User Onboarded", "iam-onboarding"),
        ("Anything", "iam-onboarding"),
    ] {
        refused.push((
            format!("a forged \"{detail_type}\" from {source} on the default bus"),
            attempt("events:PutEvents", &default_bus)
                .with("events:source", json!([source]))
                .with("events:detail-type", json!([detail_type])),
        ));
    }
    refused.extend(ways_around_the_stack(
        &attempt,
        described["functions"].as_object(),
    ));
    let batch: Vec<(Request, &Policies)> = refused
        .iter()
        .map(|(_, request)| (request.clone(), &catalog_role))
        .collect();
    let got_through: Vec<String> = refused
        .iter()
        .zip(decide(&batch))
        .filter(|(_, decision)| *decision != Decision::ExplicitlyDenied)
        .map(|((what, request), decision)| {
            format!("{what} on {} -> {decision:?}", request.resource)
        })
        .collect();
    assert!(
        got_through.is_empty(),
        "ways into the stack a catalog role still has:\n{}",
        got_through.join("\n")
    );

    // What the role is for is untouched by the boundary.
    let allowed = [
        attempt(
            "ec2:RunInstances",
            &format!("arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-0123456789abcdef0"),
        ),
        attempt("s3:CreateBucket", "arn:aws:s3:::a-team-bucket"),
        attempt(
            "lambda:UpdateFunctionCode",
            &format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:the-teams-own"),
        ),
        attempt("events:PutEvents", &default_bus)
            .with("events:source", json!(["com.example.app"]))
            .with("events:detail-type", json!(["Order Placed"])),
        attempt(
            "events:PutRule",
            &format!("arn:aws:events:us-east-1:{ACCOUNT}:rule/the-teams-own-rule"),
        ),
        attempt(
            "cognito-idp:AdminAddUserToGroup",
            &format!("arn:aws:cognito-idp:us-east-1:{ACCOUNT}:userpool/us-east-1_TeamsOwn1"),
        ),
        attempt(
            "s3:PutObject",
            "arn:aws:s3:::the-teams-own-artifacts/app.zip",
        ),
        attempt(
            "sts:AssumeRole",
            &format!("arn:aws:iam::{ACCOUNT}:role/the-teams-deployer"),
        )
        .with("aws:ResourceAccount", ACCOUNT),
        attempt("lambda:CreateEventSourceMapping", "*").with(
            "lambda:FunctionArn",
            format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:the-teams-own"),
        ),
    ];
    let batch: Vec<(Request, &Policies)> =
        allowed.iter().map(|r| (r.clone(), &catalog_role)).collect();
    for (request, decision) in allowed.iter().zip(decide(&batch)) {
        assert_eq!(
            decision,
            Decision::Allowed,
            "{} on {}",
            request.action,
            request.resource
        );
    }
}

/// IAM refuses a managed policy above 6,144 characters (white space not counted) when CloudFormation
/// creates it; moto does not. The catalog roles' boundary names the stack's resources, so it grows with
/// the stack's name: deployed with the longest name the functions' names allow (52: `<stack>-drift-check`
/// is at most 64) and every optional resource it names, it must still fit, with room for the catalog's
/// role names (README, "Deploy").
#[tokio::test]
async fn every_managed_policy_fits_iams_size_quota_with_the_longest_stack_name() {
    const QUOTA: usize = 6_144;
    const ROOM_FOR_THE_CATALOG: usize = 500;
    let moto = Moto::start();
    let stack = "platform-iam-onboarding-production-eu-central-1-abcd";
    assert_eq!(stack.len(), 52);
    let options = ["--stack", stack];
    let described = deploy_template(
        &moto,
        "template.yaml",
        &options,
        &[
            (
                "JwtIssuer",
                &format!("https://cognito-idp.us-east-1.amazonaws.com/{POOL}"),
            ),
            ("JwtAudience", "onboarding"),
            ("EligibleEveryone", "true"),
            ("OnboardingEventSources", "com.example.hr"),
            ("EventBusName", "onboarding-requests-and-outcomes"),
            ("CreateEventBus", "true"),
            ("AlertEmail", "security@example.com"),
            (
                "DeploymentBucketName",
                "platform-team-sam-deployment-artifacts-eu-central-1",
            ),
            ("CatalogRolesMayAssumeInto", "111122223333,444455556666"),
        ],
    );
    let sizes: BTreeMap<&str, usize> = described["managed_policies"]
        .as_object()
        .expect("the stack's managed policies")
        .iter()
        .map(|(name, document)| {
            let text = document.to_string();
            (
                name.as_str(),
                text.chars().filter(|c| !c.is_whitespace()).count(),
            )
        })
        .collect();
    let boundary = sizes["CatalogRoleBoundary"];
    assert!(
        boundary + ROOM_FOR_THE_CATALOG <= QUOTA,
        "the catalog roles' boundary is {boundary} characters: {ROOM_FOR_THE_CATALOG} short of room for \
         the catalog under IAM's {QUOTA}"
    );
    for (name, size) in &sizes {
        assert!(
            *size <= QUOTA,
            "{name} is {size} characters, above IAM's {QUOTA}"
        );
    }
}

/// The user pool the adversary test's stack trusts as its identity provider.
const POOL: &str = "us-east-1_Ab12Cd34E";

/// Ways to the stack's authority that do not touch the stack's own resources (issue "no way around"):
/// the identity provider, the deployment artifacts, other accounts and StackSets, a new rule on the
/// stack's bus, its findings, an event source feeding its functions.
fn ways_around_the_stack(
    attempt: &dyn Fn(&str, &str) -> Request,
    functions: Option<&serde_json::Map<String, Value>>,
) -> Vec<(String, Request)> {
    const MEMBER: &str = "111122223333";
    let pool = format!("arn:aws:cognito-idp:us-east-1:{ACCOUNT}:userpool/{POOL}");
    let sam_bucket = "arn:aws:s3:::aws-sam-cli-managed-default-samclisourcebucket-1a2b3c4d5e6f";
    let named_bucket = "arn:aws:s3:::acme-deployments";
    let sam_stack = format!(
        "arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/aws-sam-cli-managed-default/0f2c4b70-0000-11ef-9a4b-0a1b2c3d4e5f"
    );
    let stack_set = format!(
        "arn:aws:cloudformation:us-east-1:{ACCOUNT}:stackset/iam-onboarding-spoke:0f2c4b70"
    );
    let mut ways: Vec<(String, Request)> = vec![
        (
            "the identity provider: make oneself an admin".into(),
            attempt("cognito-idp:AdminAddUserToGroup", &pool),
        ),
        (
            "the identity provider: another person's password".into(),
            attempt("cognito-idp:AdminSetUserPassword", &pool),
        ),
        (
            "the identity provider: a trigger or open sign-up".into(),
            attempt("cognito-idp:UpdateUserPool", &pool),
        ),
        (
            "the identity provider: a new app client".into(),
            attempt("cognito-idp:CreateUserPoolClient", &pool),
        ),
    ];
    for (bucket, object) in [
        (sam_bucket, format!("{sam_bucket}/iam-onboarding/0123abcd")),
        (
            named_bucket,
            format!("{named_bucket}/iam-onboarding/0123abcd"),
        ),
    ] {
        ways.extend([
            (
                format!("deployment artifacts: replace the code in {bucket}"),
                attempt("s3:PutObject", &object),
            ),
            (
                format!("deployment artifacts: delete the code in {bucket}"),
                attempt("s3:DeleteObject", &object),
            ),
            (
                format!("deployment artifacts: be told of each upload to {bucket}"),
                attempt("s3:PutBucketNotification", bucket),
            ),
            (
                format!("deployment artifacts: a bucket policy on {bucket}"),
                attempt("s3:PutBucketPolicy", bucket),
            ),
        ]);
    }
    for action in ["cloudformation:UpdateStack", "cloudformation:DeleteStack"] {
        ways.push((
            format!("SAM's managed stack: {action}"),
            attempt(action, &sam_stack),
        ));
    }
    for (action, resource) in [
        // IAM authorizes a new StackSet, like a new event source mapping, on "*" only.
        ("cloudformation:CreateStackSet", "*".to_string()),
        ("cloudformation:UpdateStackSet", stack_set.clone()),
        ("cloudformation:CreateStackInstances", stack_set.clone()),
        ("cloudformation:UpdateStackInstances", stack_set.clone()),
        ("cloudformation:DeleteStackInstances", stack_set),
    ] {
        ways.push((format!("StackSets: {action}"), attempt(action, &resource)));
    }
    ways.extend([
        (
            "another account: OrganizationAccountAccessRole in a member account".into(),
            attempt(
                "sts:AssumeRole",
                &format!("arn:aws:iam::{MEMBER}:role/OrganizationAccountAccessRole"),
            )
            .with("aws:ResourceAccount", MEMBER),
        ),
        (
            "another account: any role trusting this account's root".into(),
            attempt(
                "sts:AssumeRoleWithWebIdentity",
                &format!("arn:aws:iam::{MEMBER}:role/TrustsTheHub"),
            )
            .with("aws:ResourceAccount", MEMBER),
        ),
        (
            "the stack's bus: a new rule copying every request and outcome".into(),
            attempt(
                "events:PutRule",
                &format!("arn:aws:events:us-east-1:{ACCOUNT}:rule/onboarding/copy-everything"),
            ),
        ),
        (
            "the stack's bus: a target on that rule".into(),
            attempt(
                "events:PutTargets",
                &format!("arn:aws:events:us-east-1:{ACCOUNT}:rule/onboarding/copy-everything"),
            ),
        ),
        (
            "the drift check's findings: suppressed".into(),
            attempt(
                "securityhub:BatchUpdateFindings",
                &format!("arn:aws:securityhub:us-east-1:{ACCOUNT}:hub/default"),
            ),
        ),
        (
            "the drift check's findings: forged".into(),
            attempt(
                "securityhub:BatchImportFindings",
                &format!("arn:aws:securityhub:us-east-1:{ACCOUNT}:product/{ACCOUNT}/default"),
            ),
        ),
    ]);
    for function in functions.into_iter().flat_map(|f| f.values()) {
        let name = function["name"].as_str().unwrap_or_default();
        let arn = format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}");
        let mapping = format!(
            "arn:aws:lambda:us-east-1:{ACCOUNT}:event-source-mapping:0f2c4b70-aaaa-bbbb-cccc-0a1b2c3d4e5f"
        );
        for (action, resource) in [
            ("lambda:CreateEventSourceMapping", "*"),
            ("lambda:UpdateEventSourceMapping", mapping.as_str()),
            ("lambda:DeleteEventSourceMapping", mapping.as_str()),
        ] {
            ways.push((
                format!("an event source feeding {name}: {action}"),
                attempt(action, resource).with("lambda:FunctionArn", arn.clone()),
            ));
        }
    }
    ways
}

/// "Onboarding Requested" and "Offboarding Requested" carry an admin's authority, so only `EventSenders`
/// may put them on the stack's bus: the bus policy as moto gives it back (deploy_stack.py puts the
/// template's `Policy` there, which moto's CloudFormation drops), decided with IAM's rules. Anyone else
/// holding PowerUserAccess (events:* on "*": same account, so an identity policy would be enough) is
/// refused by the bus policy's explicit Deny, without the catalog role's boundary; and naming this
/// account's id as a sender does not let them back in.
#[tokio::test]
async fn only_the_named_senders_may_put_requests_on_the_stacks_bus() {
    const OTHER: &str = "111122223333";
    let sender = format!("arn:aws:iam::{ACCOUNT}:role/HrSender");
    let other_sender = format!("arn:aws:iam::{OTHER}:role/HrSender");
    let senders = format!("{sender},{other_sender}");
    let common = [
        ("JwtIssuer", "https://idp.example.com"),
        ("JwtAudience", "onboarding"),
        ("OnboardingEventSources", "com.example.hr"),
    ];
    let with = |extra: &[(&'static str, &str)]| -> Vec<(&'static str, String)> {
        common
            .iter()
            .chain(extra)
            .map(|(name, value)| (*name, value.to_string()))
            .collect()
    };
    // Senders named (a role of this account, a role of another account) and nobody named (the default):
    // two stacks, each in its own moto, deployed side by side. An account id is no sender: the template's
    // pattern refuses it (tests/it/template.rs).
    let scenarios = [
        with(&[("EventSenders", &senders), ("EventSenderAccounts", OTHER)]),
        with(&[]),
    ];
    let motos: Vec<Moto> = scenarios.iter().map(|_| Moto::start()).collect();
    let buses: Vec<Value> = std::thread::scope(|scope| {
        let deploys: Vec<_> = motos
            .iter()
            .zip(&scenarios)
            .map(|(moto, parameters)| {
                scope.spawn(move || {
                    let parameters: Vec<(&str, &str)> =
                        parameters.iter().map(|(n, v)| (*n, v.as_str())).collect();
                    deploy(moto, &parameters)["bus_policies"]["EventBus"].clone()
                })
            })
            .collect();
        deploys
            .into_iter()
            .map(|deploy| deploy.join().expect("the stack deploys"))
            .collect()
    });
    for bus in &buses {
        assert_eq!(
            bus["name"], "iam-onboarding-bus",
            "requests never on the default bus"
        );
        assert!(bus["policy"].is_object(), "the bus has its policy: {bus}");
    }

    let iam = motos[0].iam().await;
    let power_user_access = "arn:aws:iam::aws:policy/PowerUserAccess";
    let version = iam
        .get_policy()
        .policy_arn(power_user_access)
        .send()
        .await
        .expect("moto holds the AWS managed policies")
        .policy()
        .and_then(|p| p.default_version_id())
        .expect("a default version")
        .to_string();
    let power_user = iam
        .get_policy_version()
        .policy_arn(power_user_access)
        .version_id(version)
        .send()
        .await
        .expect("its document");
    let power_user = decode_policy(
        power_user
            .policy_version()
            .and_then(|v| v.document())
            .expect("a document"),
    );
    let on_bus = |bus: &Value, identity: Vec<(String, Value)>| Policies {
        identity,
        resource: Some(bus["policy"].clone()),
        ..Policies::default()
    };
    let put_events_anywhere = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "events:PutEvents", "Resource": "*"}]});
    let [named, nobody] = [&buses[0], &buses[1]];
    let power_user_on = |bus| on_bus(bus, vec![("PowerUserAccess".into(), power_user.clone())]);
    let (power_named, power_nobody) = (power_user_on(named), power_user_on(nobody));
    let sender_on_named = on_bus(named, Vec::new());
    let other_account = on_bus(
        named,
        vec![("PutEvents".into(), put_events_anywhere.clone())],
    );
    let stranger = on_bus(named, vec![("PutEvents".into(), put_events_anywhere)]);

    let person = format!("arn:aws:iam::{ACCOUNT}:role/{ROLE}");
    let other_role = format!("arn:aws:iam::{OTHER}:role/AnyoneElse");
    let stranger_role = "arn:aws:iam::999999999999:role/HrSender";
    let put = |principal: &str, bus: &Value, entries: &[(&str, &str)]| {
        let sources: Vec<&str> = entries.iter().map(|(_, source)| *source).collect();
        let types: Vec<&str> = entries.iter().map(|(kind, _)| *kind).collect();
        Request::new(
            principal,
            "events:PutEvents",
            bus["arn"].as_str().expect("the bus's ARN"),
        )
        .with("events:source", json!(sources))
        .with("events:detail-type", json!(types))
    };
    let onboarding = [("Onboarding Requested", "com.example.hr")];
    let offboarding = [("Offboarding Requested", "com.example.hr")];
    use Decision::*;
    let cases: Vec<(&str, Request, &Policies, Decision)> = vec![
        (
            "PowerUserAccess: Onboarding Requested",
            put(&person, named, &onboarding),
            &power_named,
            ExplicitlyDenied,
        ),
        (
            "PowerUserAccess: Offboarding Requested",
            put(&person, named, &offboarding),
            &power_named,
            ExplicitlyDenied,
        ),
        (
            "PowerUserAccess: a request hidden in a batch",
            put(
                &person,
                named,
                &[
                    ("Order Placed", "com.example.shop"),
                    ("Offboarding Requested", "com.example.hr"),
                ],
            ),
            &power_named,
            ExplicitlyDenied,
        ),
        (
            "PowerUserAccess: a request from another source (no rule, still refused)",
            put(
                &person,
                named,
                &[("Onboarding Requested", "com.example.other")],
            ),
            &power_named,
            ExplicitlyDenied,
        ),
        (
            "PowerUserAccess: any other event stays its own to send",
            put(&person, named, &[("Order Placed", "com.example.shop")]),
            &power_named,
            Allowed,
        ),
        (
            "the named role of this account, with no identity policy of its own",
            put(&sender, named, &onboarding),
            &sender_on_named,
            Allowed,
        ),
        (
            "the named role: Offboarding Requested",
            put(&sender, named, &offboarding),
            &sender_on_named,
            Allowed,
        ),
        (
            "the named role, but not from a request source",
            put(
                &sender,
                named,
                &[("Onboarding Requested", "com.example.other")],
            ),
            &sender_on_named,
            ImplicitlyDenied,
        ),
        (
            "a role of the named other account, allowed by its own account",
            put(&other_sender, named, &onboarding),
            &other_account,
            Allowed,
        ),
        (
            "another role of that account, allowed by its own account but not named",
            put(&other_role, named, &onboarding),
            &other_account,
            ExplicitlyDenied,
        ),
        (
            "a role of an account nobody named",
            put(stranger_role, named, &onboarding),
            &stranger,
            ExplicitlyDenied,
        ),
        (
            "EventSenders empty: PowerUserAccess",
            put(&person, nobody, &onboarding),
            &power_nobody,
            ExplicitlyDenied,
        ),
        (
            "EventSenders empty: a role that would have been named",
            put(&sender, nobody, &onboarding),
            &power_nobody,
            ExplicitlyDenied,
        ),
    ];
    let batch: Vec<(Request, &Policies)> =
        cases.iter().map(|(_, r, p, _)| (r.clone(), *p)).collect();
    let decisions = decide(&batch);
    let wrong: Vec<String> = cases
        .iter()
        .zip(&decisions)
        .filter(|((_, _, _, expected), decided)| expected != *decided)
        .map(|((name, _, _, expected), decided)| {
            format!("{name}: expected {expected:?}, got {decided:?}")
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

//! The whole life of a person, for real: the OpenID provider (tests/oidc/provider.mjs), the local API
//! (crates/local-api: the real handlers behind JWT validation) and moto. `onboarding setup` runs in a
//! pseudo-terminal where the test reads the QR code's URI and types the codes; the written
//! `~/.aws/config` is then used the way the AWS CLI uses it, by running its `credential_process`.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use common::{cache, local_api, moto, onboarding, provider, sign_in_in_browser, state};
use serde_json::Value;

const OTHER_PROFILES: &str =
    "[default]\nregion = eu-west-1\n\n[profile work]\nregion = us-west-2\n";

fn codes(uri: &str) -> [String; 3] {
    let totp = totp_rs::Totp::from_url_unchecked(uri).unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // Consecutive time steps, as a person types them: two to enable, a third (unused) one to assume.
    [0, 30, 60].map(|step| totp.generate(now + step).to_string())
}

fn cli(home: &Path, moto: &common::Moto) -> Command {
    let mut command = onboarding(home);
    command
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_REGION", "us-east-1");
    command
}

/// Runs without a terminal (a new session), as an SDK started by another program would.
fn without_terminal(command: &Command) -> Output {
    Command::new("setsid")
        .arg(command.get_program())
        .args(command.get_args())
        .envs(command.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}: {}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn sign_in_set_up_and_use_the_role_through_credential_process() {
    let issuer = provider();
    let moto = moto();
    let api = local_api(&issuer.url, &moto);
    let home = tempfile::tempdir().unwrap();
    let aws_config = home.path().join(".aws/config");
    std::fs::create_dir_all(aws_config.parent().unwrap()).unwrap();
    std::fs::write(&aws_config, OTHER_PROFILES).unwrap();

    // setup, in a terminal: the sign-in address, the QR code and its URI, two codes, the proof.
    let mut setup = cli(home.path(), &moto);
    setup.args(["setup", &api.url, "--no-browser"]);
    let mut term = rexpect::session::spawn_command(setup, Some(60_000)).unwrap();
    let (_, url) = term
        .exp_regex(r"http://127\.0\.0\.1:\d+/\S*code_challenge\S*")
        .unwrap();
    sign_in_in_browser(&url, "developer@example.com");
    term.exp_string("Scan this with your authenticator app")
        .unwrap();
    let (qr, uri) = term.exp_regex(r"otpauth://\S+").unwrap();
    // rexpect reads bytes one by one, so the half blocks arrive mangled: count the QR code's rows.
    let rows = qr.lines().filter(|l| l.trim().len() > 40).count();
    assert!(rows > 20, "a QR code drawn in the terminal: {qr}");
    let [code1, code2, code3] = codes(&uri);
    term.exp_string("First code from your app: ").unwrap();
    term.send_line(&code1).unwrap();
    term.exp_string("Wait for the next code, and type it: ")
        .unwrap();
    term.send_line(&code2).unwrap();
    term.exp_string("MFA enabled.").unwrap();
    term.exp_string("Prove it works").unwrap();
    term.send_line(&code3).unwrap();
    let (_, assumed) = term
        .exp_regex(
            r"assumed arn:aws:sts::\d+:assumed-role/ResourceCreatorRole/developer@example\.com",
        )
        .unwrap();
    term.exp_eof().unwrap();
    assert!(assumed.starts_with("assumed "));

    // ~/.aws/config: the other profiles as they were, ours added, the old file kept.
    let written = std::fs::read_to_string(&aws_config).unwrap();
    assert!(written.starts_with(OTHER_PROFILES), "{written}");
    // Every profile through this binary: a role_arn profile cannot send the source identity.
    // … with the stack's region, from the API's discovery document.
    assert!(
        written.contains(" credential-process --role ResourceCreatorRole\nregion = us-east-1\n"),
        "{written}"
    );
    assert!(!written.contains("role_arn"), "{written}");
    let backups: Vec<_> = std::fs::read_dir(aws_config.parent().unwrap())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("config.onboarding-backup-")
        })
        .collect();
    assert_eq!(backups.len(), 1);
    assert_eq!(
        std::fs::read_to_string(backups[0].path()).unwrap(),
        OTHER_PROFILES
    );

    // The base profile's credential_process, run as the AWS CLI runs it.
    let line = written
        .lines()
        .find_map(|l| l.strip_prefix("credential_process = "))
        .unwrap();
    let mut words = line.split_whitespace();
    let mut process = cli(home.path(), &moto);
    let program = words.next().unwrap();
    assert_eq!(Path::new(program), process.get_program());
    process.args(words);
    let key = json(&without_terminal(&process));
    assert_eq!(key["Version"], 1);
    assert!(key["AccessKeyId"].as_str().unwrap().starts_with("AKIA"));
    assert!(key["SecretAccessKey"].is_string());
    assert!(key.get("SessionToken").is_none() && key.get("Expiration").is_none());
    // No keyring on this machine: the secret is in a 0600 file in the state directory, encrypted.
    let key_file = state(home.path()).join("keys/onboarding");
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let secret = key["SecretAccessKey"].as_str().unwrap();
    for dir in [
        state(home.path()),
        cache(home.path()),
        home.path().join(".config"),
    ] {
        for file in files_under(&dir) {
            let bytes = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
            assert!(
                !bytes.contains(secret),
                "{} holds the secret in the clear",
                file.display()
            );
        }
    }

    // The role: setup's proof left a session, so no code is asked, not even without a terminal.
    let mut role = cli(home.path(), &moto);
    role.args([
        "credential-process",
        "--profile",
        "onboarding",
        "--role",
        "ResourceCreatorRole",
    ]);
    let session = json(&without_terminal(&role));
    assert_eq!(session["Version"], 1);
    assert!(session["SessionToken"].is_string() && session["Expiration"].is_string());

    // The same session for tools that read the environment: `env` prints it (json: the credential_process
    // shape; sh: evaluated by a real sh), `exec` gives it to one command only and passes its exit code on.
    let with_role = |command: &str, extra: &[&str]| {
        let mut run = cli(home.path(), &moto);
        run.args([command, "--role", "ResourceCreatorRole"])
            .args(extra);
        run
    };
    assert_eq!(
        json(&without_terminal(&with_role("env", &["--format", "json"]))),
        session
    );
    let exports = without_terminal(&with_role("env", &[]));
    assert!(exports.status.success());
    let evaluated = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{}\nprintf '%s %s' \"$AWS_SESSION_TOKEN\" \"${{AWS_PROFILE-unset}}\"",
            String::from_utf8_lossy(&exports.stdout)
        ))
        .env("AWS_PROFILE", "work")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&evaluated.stdout),
        format!("{} unset", session["SessionToken"].as_str().unwrap())
    );
    let mut exec = with_role(
        "exec",
        &[
            "--",
            "sh",
            "-c",
            "printf '%s %s' \"$AWS_ACCESS_KEY_ID\" \"${AWS_PROFILE-unset}\"; exit 7",
        ],
    );
    exec.env("AWS_PROFILE", "work");
    let ran = without_terminal(&exec);
    assert_eq!(ran.status.code(), Some(7), "the child's exit code");
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout),
        format!("{} unset", session["AccessKeyId"].as_str().unwrap())
    );

    // One code a work session: setup's proof started the day's MFA session, so a role session that is
    // gone (expired, or another role's) is made from it with no prompt, even without a terminal.
    let sessions = cache(home.path()).join("sessions");
    assert!(sessions.join("onboarding.mfa-session").exists());
    std::fs::remove_file(sessions.join("onboarding/ResourceCreatorRole")).unwrap();
    let remade = json(&without_terminal(&role));
    assert!(remade["SessionToken"].is_string());
    assert_ne!(remade["SessionToken"], session["SessionToken"]);

    // status, through a refreshed token (the provider's ID tokens live 30 s, less than the CLI's margin).
    let mut status = cli(home.path(), &moto);
    status.args(["--json", "status"]);
    let status = json(&without_terminal(&status));
    assert_eq!(status["user"]["name"], "developer@example.com");
    assert_eq!(status["mfa"]["status"], "enabled");

    // rotate, with no terminal and roles that require MFA: a new key, stored and proven with STS, the
    // old one deleted; one key left, and credential_process serves the new one.
    let old_key = key["AccessKeyId"].as_str().unwrap().to_string();
    let mut rotate = cli(home.path(), &moto);
    rotate.args(["--json", "rotate"]);
    let rotated = json(&without_terminal(&rotate));
    let new_key = rotated["access_key_id"].as_str().unwrap().to_string();
    assert_ne!(new_key, old_key);
    assert_eq!(
        rotated["deleted_access_key_ids"],
        serde_json::json!([old_key])
    );
    assert_eq!(
        rotated["verified_as"], status["user"]["arn"],
        "STS knows the new key as the user"
    );
    let served = json(&without_terminal(&process));
    assert_eq!(served["AccessKeyId"], new_key.as_str());
    let mut status = cli(home.path(), &moto);
    status.args(["--json", "status"]);
    let status = json(&without_terminal(&status));
    let keys = status["access_keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "exactly one key: {status}");
    assert_eq!(keys[0]["access_key_id"], new_key.as_str());
    assert_eq!(keys[0]["status"], "active");
    let kept = common::key_store(home.path(), "onboarding")
        .load()
        .unwrap()
        .unwrap();
    assert_eq!(
        kept.access_key_id, new_key,
        "the old secret is gone from this machine"
    );

    // The AWS CLI itself, through the written config: the role profile's credential_process serves setup's
    // session, named after the person (the source identity they carry is the trust policy's to check:
    // tests/it/deployed_stack.rs).
    let aws = common::workspace().join(".venv/bin/aws");
    assert!(
        aws.exists(),
        "the AWS CLI is pinned in requirements-dev.txt: run scripts/setup"
    );
    let aws_cli = || {
        let ours = cli(home.path(), &moto);
        let mut command = Command::new(&aws);
        command
            .envs(
                ours.get_envs()
                    .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))),
            )
            // AWS CLI v1 reads its region from AWS_DEFAULT_REGION; none of the shell's keys may count.
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_SHARED_CREDENTIALS_FILE")
            .args([
                "sts",
                "get-caller-identity",
                "--profile",
                "onboarding-ResourceCreatorRole",
                "--output",
                "json",
            ]);
        command
    };
    let through_aws = json(&without_terminal(&aws_cli()));
    assert!(
        through_aws["Arn"].as_str().is_some_and(
            |arn| arn.ends_with(":assumed-role/ResourceCreatorRole/developer@example.com")
        ),
        "{through_aws}"
    );
    // A client that `mfa_serial` profiles fail (it cannot prompt): the AWS SDK for JavaScript, through the
    // same written profile and the same cached session.
    let sdk_node = common::workspace().join("tests/sdk-node");
    assert!(
        sdk_node.join("node_modules").exists(),
        "tests/sdk-node is installed from its lockfile: run scripts/setup"
    );
    let ours = cli(home.path(), &moto);
    let through_js = Command::new("node")
        .arg(sdk_node.join("caller.mjs"))
        .envs(
            ours.get_envs()
                .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))),
        )
        .env("AWS_PROFILE", "onboarding-ResourceCreatorRole")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(json(&through_js)["Arn"], through_aws["Arn"]);
    assert!(
        std::fs::read_to_string(&aws_config)
            .unwrap()
            .starts_with(OTHER_PROFILES),
        "the other profiles, byte for byte"
    );

    // logout: the sign-in and the sessions go, the key stays.
    let mut logout = cli(home.path(), &moto);
    logout.args(["--json", "logout"]);
    let out = json(&without_terminal(&logout));
    assert_eq!(out["tokens_removed"], true);
    assert!(!state(home.path()).join("tokens").exists());
    assert!(!cache(home.path()).join("sessions").exists());
    assert!(
        without_terminal(&process).status.success(),
        "the key is kept"
    );

    // With no session: no terminal is an error naming the command; in a terminal, one code, then cached.
    let out = without_terminal(&role);
    assert_eq!(out.status.code(), Some(6));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("onboarding assume --role ResourceCreatorRole")
    );
    // Or a command that prints the code, for callers that never have a terminal.
    let mut from_process = cli(home.path(), &moto);
    from_process
        .args(["credential-process", "--role", "ResourceCreatorRole"])
        .env(
            "ONBOARDING_MFA_PROCESS",
            format!("printf '%s\\n' {}", codes(&uri)[2]),
        );
    assert!(json(&without_terminal(&from_process))["SessionToken"].is_string());
    let mut logout = cli(home.path(), &moto);
    logout.arg("logout");
    assert!(without_terminal(&logout).status.success());
    // The AWS CLI runs it, and the code is asked on the person's terminal.
    let mut term = rexpect::session::spawn_command(aws_cli(), Some(60_000)).unwrap();
    term.exp_string("MFA code for ResourceCreatorRole: ")
        .unwrap();
    term.send_line(&codes(&uri)[0]).unwrap();
    let (_, prompted) = term
        .exp_regex(r"arn:aws:sts::\d+:assumed-role/ResourceCreatorRole/[^\x22]+")
        .unwrap();
    term.exp_eof().unwrap();
    assert_eq!(
        json(&without_terminal(&aws_cli()))["Arn"],
        prompted.as_str(),
        "the cached session, no prompt"
    );
    assert!(
        without_terminal(&role).status.success(),
        "credential-process serves the same cache"
    );

    // Eight callers at once with nothing cached (Terraform with several providers): one prompt, one code,
    // and all eight answer with the one session it made.
    let mut logout = cli(home.path(), &moto);
    logout.arg("logout");
    assert!(without_terminal(&logout).status.success());
    let outputs = home.path().join("parallel");
    std::fs::create_dir(&outputs).unwrap();
    let program = cli(home.path(), &moto).get_program().to_owned();
    let mut eight = Command::new("sh");
    eight
        .envs(
            cli(home.path(), &moto)
                .get_envs()
                .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))),
        )
        .current_dir(&outputs)
        .arg("-c")
        .arg(format!(
            "for i in 1 2 3 4 5 6 7 8; do {} credential-process --profile onboarding --role ResourceCreatorRole > out.$i 2>err.$i & done; wait",
            program.to_string_lossy()
        ));
    let mut term = rexpect::session::spawn_command(eight, Some(60_000)).unwrap();
    term.exp_string("MFA code for ResourceCreatorRole: ")
        .unwrap();
    term.send_line(&codes(&uri)[1]).unwrap();
    let rest = term.exp_eof().unwrap();
    assert!(!rest.contains("MFA code"), "a second prompt: {rest}");
    let tokens: std::collections::BTreeSet<String> = (1..=8)
        .map(|i| {
            let out = std::fs::read(outputs.join(format!("out.{i}"))).unwrap();
            let answer: Value = serde_json::from_slice(&out).unwrap_or_else(|_| {
                panic!(
                    "caller {i}: {}",
                    std::fs::read_to_string(outputs.join(format!("err.{i}"))).unwrap_or_default()
                )
            });
            answer["SessionToken"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(tokens.len(), 1, "one session for all eight: {tokens:?}");
}

/// Every file under `dir`, at any depth.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .map_while(Result::ok)
        .flat_map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                files_under(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

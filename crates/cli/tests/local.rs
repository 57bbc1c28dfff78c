//! The CLI's own files, without any server: `~/.aws/config` merging, where secrets go, what
//! `credential-process` prints, and the no-terminal error.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{key_store, onboarding, state};
use onboarding_cli::awsconfig::{self, Section};
use onboarding_cli::error::Error;
use onboarding_cli::secrets::{AccessKey, KeyStore, Stored};
use onboarding_cli::vault::Vault;
use serde_json::Value;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0)
}

fn key() -> AccessKey {
    AccessKey {
        access_key_id: "AKIAEXAMPLE".into(),
        secret_access_key: "secret/example".into(),
    }
}

fn ours() -> Vec<Section> {
    vec![
        Section::profile(
            "onboarding",
            vec![(
                "credential_process".into(),
                "/bin/onboarding credential-process --profile onboarding".into(),
            )],
        ),
        Section::profile(
            "onboarding-ResourceCreatorRole",
            vec![
                (
                    "role_arn".into(),
                    "arn:aws:iam::123456789012:role/ResourceCreatorRole".into(),
                ),
                ("source_profile".into(), "onboarding".into()),
                (
                    "mfa_serial".into(),
                    "arn:aws:iam::123456789012:mfa/dev".into(),
                ),
            ],
        ),
    ]
}

const EXISTING: &str = "\
# my settings
[default]
region = eu-west-1

[profile work]
sso_session = corp   ; keep me
[ profile  onboarding ]
credential_process = /old/path credential-process
region = us-east-2

[sso-session corp]
sso_start_url = https://corp.example/start
";

#[test]
fn merge_replaces_only_our_profiles_and_keeps_a_backup() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    std::fs::write(&path, EXISTING).unwrap();

    let backup = awsconfig::write(&path, &ours()).unwrap().expect("a backup");
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), EXISTING);

    let merged = std::fs::read_to_string(&path).unwrap();
    for kept in [
        "# my settings\n[default]\nregion = eu-west-1\n",
        "[profile work]\nsso_session = corp   ; keep me\n",
        "[sso-session corp]\nsso_start_url = https://corp.example/start\n",
    ] {
        assert!(merged.contains(kept), "lost {kept:?} in\n{merged}");
    }
    assert!(!merged.contains("/old/path"), "{merged}");
    assert!(
        !merged.contains("us-east-2"),
        "our old section is replaced whole: {merged}"
    );
    assert_eq!(
        merged.matches("[profile onboarding]").count(),
        1,
        "{merged}"
    );
    assert!(merged.contains(
        "[profile onboarding-ResourceCreatorRole]\nrole_arn = arn:aws:iam::123456789012:role/ResourceCreatorRole\n\
         source_profile = onboarding\nmfa_serial = arn:aws:iam::123456789012:mfa/dev\n"
    ));

    // Running setup again changes nothing and makes no second backup.
    assert_eq!(awsconfig::write(&path, &ours()).unwrap(), None);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), merged);
}

#[test]
fn a_symlinked_config_is_written_through_to_its_target() {
    let dir = tempfile::tempdir().unwrap();
    let dotfiles = dir.path().join("dotfiles/aws-config");
    std::fs::create_dir_all(dotfiles.parent().unwrap()).unwrap();
    std::fs::write(&dotfiles, EXISTING).unwrap();
    let link = dir.path().join("config");
    std::os::unix::fs::symlink(&dotfiles, &link).unwrap();

    let backup = awsconfig::write(&link, &ours()).unwrap().expect("a backup");
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "still a link"
    );
    assert_eq!(backup.parent(), dotfiles.canonicalize().unwrap().parent());
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), EXISTING);
    let through_link = std::fs::read_to_string(&link).unwrap();
    assert!(
        through_link.contains("[profile onboarding]"),
        "{through_link}"
    );
    assert_eq!(std::fs::read_to_string(&dotfiles).unwrap(), through_link);
}

#[test]
fn a_new_config_file_needs_no_backup() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".aws/config");
    assert_eq!(awsconfig::write(&path, &ours()).unwrap(), None);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("[profile onboarding]\n"), "{text}");
}

#[test]
fn without_a_keyring_the_secret_goes_to_an_encrypted_0600_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys/onboarding");
    let key_file = dir.path().join("file-key.age");
    let store = KeyStore::with_entry(
        None,
        file.clone(),
        Vault::with_passphrase(key_file.clone(), "pw one"),
    );
    assert_eq!(store.save(&key()).unwrap(), Stored::File(file.clone()));
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(file.parent().unwrap()), 0o700);
    assert_eq!(mode(&key_file), 0o600);
    let on_disk = std::fs::read(&file).unwrap();
    assert!(on_disk.starts_with(b"age-encryption.org/v1\n"));
    assert!(
        !String::from_utf8_lossy(&on_disk).contains("secret/example"),
        "the secret is not on disk as text"
    );
    assert_eq!(store.load().unwrap(), Some(key()));

    let wrong = KeyStore::with_entry(
        None,
        file.clone(),
        Vault::with_passphrase(key_file, "pw two"),
    );
    assert!(matches!(wrong.load(), Err(Error::WrongPassphrase(_))));

    assert!(store.delete().unwrap());
    assert_eq!(store.load().unwrap(), None);
}

#[test]
fn the_keyring_holds_the_secret_and_a_failing_one_falls_back() {
    keyring::set_default_credential_builder(keyring::mock::default_credential_builder());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys/onboarding");
    let vault = Vault::with_passphrase(dir.path().join("file-key.age"), "pw");

    let entry = keyring::Entry::new("onboarding", "onboarding").unwrap();
    let store = KeyStore::with_entry(Some(entry), file.clone(), vault.clone());
    assert_eq!(store.save(&key()).unwrap(), Stored::Keyring);
    assert!(!file.exists(), "the keyring took it: no file");
    assert_eq!(store.load().unwrap(), Some(key()));

    // A keyring that cannot be reached (no Secret Service on a headless box) sends it to the file.
    let entry = keyring::Entry::new("onboarding", "other").unwrap();
    let mock: &keyring::mock::MockCredential = entry.get_credential().downcast_ref().unwrap();
    mock.set_error(keyring::Error::NoStorageAccess("no D-Bus session".into()));
    let store = KeyStore::with_entry(Some(entry), file.clone(), vault);
    assert_eq!(store.save(&key()).unwrap(), Stored::File(file.clone()));
    assert_eq!(mode(&file), 0o600);
}

#[test]
fn a_wrong_or_missing_passphrase_is_refused_with_the_way_out() {
    let home = tempfile::tempdir().unwrap();
    key_store(home.path(), "onboarding").save(&key()).unwrap();

    let out = onboarding(home.path())
        .args(["--json", "credential-process", "--profile", "onboarding"])
        .env("ONBOARDING_FILE_PASSPHRASE", "not the one")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["error"]["code"], "wrong_passphrase");

    // No passphrase in the environment and no terminal (an SDK started by a daemon): exit 6, named.
    let command = onboarding(home.path());
    let out = Command::new("setsid")
        .arg(command.get_program())
        .args(["credential-process", "--profile", "onboarding"])
        .envs(command.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .env_remove("ONBOARDING_FILE_PASSPHRASE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ONBOARDING_FILE_PASSPHRASE"), "{stderr}");
}

#[test]
fn a_plaintext_key_from_an_older_cli_is_moved_out_of_the_config_directory_and_encrypted() {
    let home = tempfile::tempdir().unwrap();
    let legacy = home.path().join(".config/onboarding/keys/onboarding.json");
    std::fs::create_dir_all(legacy.parent().unwrap()).unwrap();
    std::fs::write(&legacy, serde_json::to_vec(&key()).unwrap()).unwrap();

    let out = onboarding(home.path())
        .args(["credential-process", "--profile", "onboarding"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["SecretAccessKey"], "secret/example");
    assert!(
        !legacy.exists(),
        "no plaintext secret is left in the config directory"
    );
    let moved = std::fs::read(state(home.path()).join("keys/onboarding")).unwrap();
    assert!(moved.starts_with(b"age-encryption.org/v1\n"));
}

#[test]
fn the_insecure_plaintext_store_is_warned_about_on_every_use() {
    let home = tempfile::tempdir().unwrap();
    key_store(home.path(), "onboarding").save(&key()).unwrap();
    let out = onboarding(home.path())
        .args([
            "--insecure-plaintext-store",
            "credential-process",
            "--profile",
            "onboarding",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--insecure-plaintext-store") && stderr.contains("unencrypted"),
        "{stderr}"
    );
}

#[test]
fn credential_process_prints_version_1_json_for_the_key() {
    let home = tempfile::tempdir().unwrap();
    key_store(home.path(), "onboarding").save(&key()).unwrap();

    let out = onboarding(home.path())
        .args(["credential-process", "--profile", "onboarding"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"Version": 1, "AccessKeyId": "AKIAEXAMPLE", "SecretAccessKey": "secret/example"})
    );
}

#[test]
fn errors_name_the_next_step_and_their_exit_code() {
    let home = tempfile::tempdir().unwrap();
    let out = onboarding(home.path())
        .args(["credential-process", "--profile", "nobody"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stdout.is_empty(), "stdout is for credentials only");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("onboarding setup"), "{stderr}");

    let out = onboarding(home.path())
        .args(["--json", "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["error"]["code"], "not_configured");
    assert!(
        json["error"]["next"]
            .as_str()
            .unwrap()
            .contains("onboarding setup <api-url>")
    );
}

#[test]
fn a_role_without_a_cached_session_and_no_terminal_names_the_command_that_caches_one() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join(".config/onboarding");
    key_store(home.path(), "onboarding").save(&key()).unwrap();
    std::fs::create_dir_all(config.join("profiles")).unwrap();
    std::fs::write(
        config.join("profiles/onboarding.json"),
        r#"{"username":"dev","user_arn":"arn:aws:iam::123456789012:user/dev",
            "roles":[{"name":"ResourceCreatorRole","arn":"arn:aws:iam::123456789012:role/ResourceCreatorRole"}],
            "mfa_serial":"arn:aws:iam::123456789012:mfa/dev"}"#,
    )
    .unwrap();

    // setsid: a new session has no controlling terminal, as under an SDK started by a daemon.
    let command = onboarding(home.path());
    let out = Command::new("setsid")
        .arg(command.get_program())
        .args([
            "credential-process",
            "--profile",
            "onboarding",
            "--role",
            "ResourceCreatorRole",
        ])
        .envs(command.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("onboarding assume --role ResourceCreatorRole"),
        "{stderr}"
    );
}

#[test]
fn completion_scripts_parse_in_their_shells() {
    let home = tempfile::tempdir().unwrap();
    for (shell, checker) in [("bash", "bash"), ("zsh", "zsh"), ("fish", "fish")] {
        let script = onboarding(home.path())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(script.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&script.stdout);
        assert!(text.contains("credential-process"), "{shell}: {text}");
        // Checked by the shell itself where it is installed (bash always is here).
        let Ok(mut check) = Command::new(checker)
            .arg("-n")
            .stdin(Stdio::piped())
            .spawn()
        else {
            assert_ne!(shell, "bash", "bash is on every machine the tests run on");
            continue;
        };
        std::io::Write::write_all(&mut check.stdin.take().unwrap(), &script.stdout).unwrap();
        assert!(check.wait().unwrap().success(), "{shell} -n refuses it");
    }
}

#[test]
fn exec_without_a_set_up_profile_runs_nothing() {
    let home = tempfile::tempdir().unwrap();
    let marker = home.path().join("ran");
    let out = onboarding(home.path())
        .args(["exec", "--role", "ResourceCreatorRole", "--", "touch"])
        .arg(&marker)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!marker.exists());
}

#[test]
fn a_member_accounts_role_profile_names_its_account() {
    use onboarding_cli::commands::role_profile;
    use onboarding_cli::profile::Role;
    let role = |arn: &str| Role {
        name: "Deployer".into(),
        arn: arn.into(),
    };
    let hub = "123456789012";
    assert_eq!(
        role_profile(
            "onboarding",
            &role("arn:aws:iam::123456789012:role/Deployer"),
            hub
        ),
        "onboarding-Deployer"
    );
    assert_eq!(
        role_profile(
            "onboarding",
            &role("arn:aws:iam::111122223333:role/Deployer"),
            hub
        ),
        "onboarding-111122223333-Deployer"
    );
}

#[test]
fn aws_profile_picks_the_profile_when_it_names_one_of_ours() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join(".config/onboarding");
    key_store(home.path(), "team").save(&key()).unwrap();
    std::fs::create_dir_all(config.join("profiles")).unwrap();
    std::fs::write(
        config.join("profiles/team.json"),
        r#"{"username":"dev","user_arn":"arn:aws:iam::123456789012:user/dev","roles":[]}"#,
    )
    .unwrap();
    let credential_process = |aws_profile: &str| {
        onboarding(home.path())
            .arg("credential-process")
            .env("AWS_PROFILE", aws_profile)
            .output()
            .unwrap()
    };
    let ours = credential_process("team");
    assert!(
        ours.status.success(),
        "{}",
        String::from_utf8_lossy(&ours.stderr)
    );
    let json: Value = serde_json::from_slice(&ours.stdout).unwrap();
    assert_eq!(json["AccessKeyId"], "AKIAEXAMPLE");
    // Someone else's profile (SSO, another tool's) is not ours: the default stays, which has no key here.
    assert_eq!(credential_process("work").status.code(), Some(3));
}

#[test]
fn the_manual_page_renders_with_man() {
    let home = tempfile::tempdir().unwrap();
    let page = onboarding(home.path()).arg("man").output().unwrap();
    assert!(page.status.success());
    let roff = String::from_utf8_lossy(&page.stdout);
    assert!(roff.contains(".TH onboarding 1"), "{roff}");
    // Rendered by groff as `man` would, where it is installed (it is on the machines the tests run on).
    let file = home.path().join("onboarding.1");
    std::fs::write(&file, &page.stdout).unwrap();
    let Ok(rendered) = Command::new("groff")
        .args(["-man", "-Tutf8"])
        .arg(&file)
        .output()
    else {
        return;
    };
    let text = String::from_utf8_lossy(&rendered.stdout);
    assert!(
        rendered.status.success() && text.contains("credential-process"),
        "{text}"
    );
}
